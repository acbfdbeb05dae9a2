"""ganlab-bench: the benchmarks of ganlab.bench from the command line. recipes: the digits preset suite, trained
and scored (bench/recipes.py). step: training img/s per recipe (bench/step.py). gpu: every GPU figure from one
call (bench/gpu.py). data: images/second of torchvision's ImageFolder + DataLoader against ganlab's image-folder
paths, and the rate one DCGAN 64x64 training step consumes (bench/data.py)."""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from ganlab.cli.errors import command


@command("ganlab-bench")
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ganlab-bench", description=__doc__)
    p.add_argument("what", choices=["data", "step", "recipes", "gpu"])
    p.add_argument("--n", type=int, default=10000, help="PNG files to make")
    p.add_argument("--dir", type=Path, default=Path("bench_data"), help="where the PNG folder is made (kept)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3, help="cached epochs to time")
    p.add_argument("--recipes", default="", help="step, recipes: comma-separated presets (default: every digits preset)")
    p.add_argument("--settings", default="fp32,bf16,channels_last,compile", help="step: which columns to time")
    p.add_argument("--steps", type=int, default=10, help="step: timed iterations per measurement")
    p.add_argument("--warmup", type=int, default=3, help="step: untimed iterations first")
    p.add_argument("--repeats", type=int, default=5, help="step: alternating Trainer.fit / bare-loop pairs for fit/bare")
    p.add_argument("--yardstick-seconds", type=float, default=10.0, help="step: how long the plain-loop yardstick is timed on a CPU")
    p.add_argument("--override", action="append", default=[], help="step, recipes: a Hydra override for every recipe")
    p.add_argument("--out", default="outputs/bench_recipes", help="recipes: where the runs go (one folder per preset)")
    p.add_argument("--grids", default="", help="recipes: copy each preset's final sample grid here as PRESET.png")
    p.add_argument("--scaling", action="store_true", help="step: also time 1 rank against 2 (two more processes per recipe)")
    p.add_argument("--tiny", action="store_true", help="gpu: the same code on the CPU with tiny shapes (a test runs it)")
    p.add_argument("--long", type=int, default=300, help="gpu: iterations of the bf16 + channels_last finiteness run")
    a = p.parse_args(argv)
    if a.what == "gpu" and a.out == "outputs/bench_recipes":
        a.out = "outputs/bench_gpu"
    # each benchmark is imported only when asked for: `data` needs no Hydra, `gpu` no torchvision
    return importlib.import_module(f"ganlab.bench.{a.what}").main(a)


if __name__ == "__main__":
    main()
