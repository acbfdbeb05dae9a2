"""ganlab-bench step: training speed per recipe at its real resolution, on synthetic in-memory data of
that shape (no download), in one run:

  img/s of Trainer.fit for fp32, bf16 autocast, channels_last and torch.compile;
  the trainer's overhead: Trainer.fit img/s / the img/s of a bare loop driving the same modules with
  the same step (no statistics channel, logging, finiteness checks, buffer sync or progress bar);
  scaling efficiency: img/s with 2 ranks / (2 x img/s with 1 rank): gloo on the CPU, nccl on GPUs
  when there are several.

img/s counts real images through D (batch x n_critic x accumulation x ranks per iteration), the
figure the trainer logs. Each measurement first runs warm-up iterations (compilation, allocator).
"""
from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ganlab.bench.recipes import digits_presets
from ganlab.bench.yardstick import plain_loop_rate
from ganlab.cli.build import build
from ganlab.cli.choices import compose_config
from ganlab.config import edited
from ganlab.registry import DATASETS
from ganlab.track.stats import Stats
from ganlab.train.tune import iteration

SETTINGS = {"fp32": [], "bf16": ["hardware.precision=bf16"], "channels_last": ["hardware.channels_last=true"],
            "compile": ["hardware.compile=true"]}


def recipe_cfg(recipe: str, overrides: list[str]):
    """The preset's config with its dataset swapped for the synthetic set of the same shape (channels and
    classes as the data set declares where it registers; a folder's labels, which only its files know, are
    stood in for by 10 classes)."""
    cfg = compose_config([f"+experiment={recipe}", "progress=false", "eval=none", "logger=jsonl", *overrides])
    data = cfg.dataset
    info = DATASETS.info(data.get("name", "imagefolder"))
    channels = data.get("channels") or info.get("channels") or 3
    classes = info.get("num_classes")
    if classes is None:   # a folder: labelled or not
        classes = 10 if data.get("labels") == "folders" else 0
    return edited(cfg, {"dataset": compose_config(["dataset=synthetic"]).dataset, "dataset.image_size": data.image_size,
                        "dataset.channels": channels, "dataset.num_classes": classes})


def fit_rate(cfg, steps: int, warmup: int, run_dir: Path) -> tuple[float, object]:
    """Trainer.fit's own img/s over `steps` iterations after `warmup` ones; -> (img/s, trainer)."""
    edited(cfg, {"train.steps": warmup, "train.epochs": None, "resume": None,   # steps, not the preset's epochs
                 "train.log_every": 10 ** 9, "train.sample_every": 10 ** 9, "train.ckpt_every": 10 ** 9})
    trainer = build(cfg, run_dir)
    trainer.fit()
    trainer.s.steps = warmup + steps
    trainer.fit()                      # resume_from is None: it continues from the warm-up's step
    return trainer.last_row["img_s"], trainer


def bare_rate(t, steps: int, warmup: int, start: int = 0) -> float:
    """The trainer's own iteration (Trainer.iteration: D and G steps, EMA, schedules, regularizer updates: the same
    math from the same modules) in a plain loop from step `start`, with a statistics channel nobody reads and none
    of what fit() adds around it (logging, finiteness checks, samples, progress)."""
    stats, t.stats = t.stats, Stats()   # no reader opened: reports cost nothing

    try:
        t.step = start
        for _ in range(warmup):
            iteration(t)
        sync(t.hw.device)
        t0 = time.perf_counter()
        for _ in range(steps):
            iteration(t)
        sync(t.hw.device)
    finally:
        t.stats = stats
    s = t.s
    return s.batch_size * s.n_critic * s.accum_d * steps / (time.perf_counter() - t0)


def overhead(trainer, steps: int, repeats: int) -> list[float]:
    """Trainer.fit img/s over the bare loop's, `repeats` times, the two alternating on the same modules (so a
    machine's drift hits both alike): one ratio per pair. The trainer has run its warm-up."""
    ratios = []
    for _ in range(repeats):
        trainer.s.steps = trainer.step + steps
        trainer.fit()
        fit = trainer.last_row["img_s"]
        ratios.append(fit / bare_rate(trainer, steps, 0, trainer.step))
    return ratios


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, repeats: int) -> float:
    """FLOP/s of an n x n matmul in `dtype`, best of `repeats` timed batches."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    a @ b
    best = math.inf
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        for _ in range(5):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - t) / 5)
    return 2 * n ** 3 / best


def flops_per_image(trainer) -> float | None:
    """FLOPs of one training iteration (D steps and G step, forward and backward) / real images it uses;
    None where torch's FLOP counter cannot follow the step: it refuses the double backward of an input-gradient
    penalty (GP, R1: autograd.grad inside the step). Run it after the timings: a refused step stops halfway."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    try:
        with counter:
            trainer.s.steps = trainer.step + 1
            trainer.fit()
    except RuntimeError as e:
        if "autograd.grad" not in str(e):
            raise
        return None
    s = trainer.s
    return counter.get_total_flops() / (s.batch_size * s.n_critic * s.accum_d)


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rank_fit(cfg, steps, warmup, run_dir, out, threads) -> None:
    if threads:
        torch.set_num_threads(threads)
    rate, trainer = fit_rate(cfg, steps, warmup, Path(run_dir))
    if trainer.dist.main:
        Path(out).write_text(json.dumps({"img_s": rate}))


def scaling(cfg, steps: int, warmup: int, root: Path) -> tuple[float, float]:
    """(img/s with 1 rank, with 2 ranks), each a fresh process. On the CPU both give each rank half the
    cores, so the ratio measures what the ranks' communication costs, not how threads share cores."""
    from ganlab.train.launch import launch
    threads = max(1, (torch.get_num_threads()) // 2) if cfg.hardware.device == "cpu" else 0
    rates = []
    for n in (1, 2):
        out = root / f"ranks{n}.json"
        launch(n, _rank_fit, (cfg, steps, warmup, str(root / f"ranks{n}"), str(out), threads))
        rates.append(json.loads(out.read_text())["img_s"])
    return rates[0], rates[1]


def main(a) -> None:
    recipes = a.recipes.split(",") if a.recipes else digits_presets()   # quick by default; CIFAR/anime sizes need a GPU
    settings = a.settings.split(",")
    unknown = [x for x in settings if x not in SETTINGS]
    if unknown:
        raise ValueError(f"unknown --settings {unknown}; available: {', '.join(SETTINGS)}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    several = device == "cpu" or torch.cuda.device_count() >= 2
    peak = matmul_peak(torch.device(device), torch.float32, 4096 if device == "cuda" else 1024, 5)
    yardstick = plain_loop_rate(a.yardstick_seconds) if device == "cpu" else None   # machines differ 2x: say which this is
    cols = [*settings, "GFLOP/img", "of peak", "fit/bare median (min-max)", "1 rank", "2 ranks", "scaling"]
    print(f"ganlab-bench step: {a.steps} timed iterations after {a.warmup} warm-up ones, {device}"
          f"{' ' + torch.cuda.get_device_name() if device == 'cuda' else f' ({torch.get_num_threads()} threads)'};"
          f" img/s (real images through D); fp32 matmul peak {peak / 1e9:.1f} GFLOP/s"
          + (f"; plain PyTorch DCGAN loop (bench/yardstick.py) {yardstick:.0f} img/s" if yardstick else ""))
    print("| recipe | px | batch | " + " | ".join(cols) + " |")
    print("|---" * (3 + len(cols)) + "|")
    errors: list[str] = []
    for recipe in recipes:
        with tempfile.TemporaryDirectory(prefix="ganlab-bench-step-") as tmp:
            root, cells, base = Path(tmp), [], {}
            for name in settings:
                torch._dynamo.reset()   # each recipe compiles afresh: another's cached graphs count to the recompile limit
                cfg = recipe_cfg(recipe, [f"hardware.device={device}", *SETTINGS[name], *a.override])
                try:
                    rate, trainer = fit_rate(cfg, a.steps, a.warmup, root / name)
                    base[name] = (rate, trainer)
                    cells.append(f"{rate:.1f}")
                except Exception as e:   # e.g. torch.compile without a C++ compiler: say so, go on
                    cells.append(f"failed ({type(e).__name__})")
                    errors.append(f"{recipe} {name}: {type(e).__name__}: {str(e).strip().splitlines()[0][:200]}")
            if "fp32" in base:
                rate, trainer = base["fp32"]
                ratios = overhead(trainer, a.steps, a.repeats)
                flops = flops_per_image(trainer)
                cells += [f"{flops / 1e9:.3g}" if flops else "n/a (GP)", f"{rate * flops / peak:.1%}" if flops else "-",
                          f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})"]
                if several and a.scaling:
                    cfg = recipe_cfg(recipe, [f"hardware.device={device}", *a.override])
                    one, two = scaling(cfg, a.steps, a.warmup, root)
                    cells += [f"{one:.1f}", f"{two:.1f}", f"{two / (2 * one):.2f}"]
                else:
                    cells += ["-"] * 3
            else:
                cells += ["-"] * 6
            cfg = recipe_cfg(recipe, list(a.override))
            print(f"| {recipe} | {cfg.dataset.image_size} | {cfg.train.batch_size} | " + " | ".join(cells) + " |",
                  flush=True)
    for line in errors:
        print("  failed:", line)
    print(f"GFLOP/img: FLOPs of one fp32 iteration (D steps and G step, forward and backward; torch.utils.flop_counter) "
          f"per real image; of peak: the fp32 column's FLOP/s over the matmul peak above. fit/bare: Trainer.fit img/s "
          f"over a bare loop of the same step (1.0 = no overhead), {a.repeats} alternating pairs of {a.steps} iterations. "
          f"scaling: 2-rank img/s / (2 x 1-rank img/s), both in fresh processes (on the CPU each rank gets half the threads)")
