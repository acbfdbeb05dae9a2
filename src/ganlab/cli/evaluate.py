"""ganlab-evaluate RUN_DIR|CHECKPOINT: the metrics of a checkpoint, printed and appended to eval.jsonl."""
from __future__ import annotations

import argparse
import json

import torch

from ganlab.cli.build import build_evaluator
from ganlab.cli.errors import command
from ganlab.cli.runs import load_run
from ganlab.errors import user_input


@command("ganlab-evaluate")
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ganlab-evaluate", description=__doc__)
    p.add_argument("path", help="a run directory or a checkpoint file")
    p.add_argument("--checkpoint", choices=["best.pt", "last.pt"], default=None)
    p.add_argument("--num-samples", type=int, default=None, help="override eval.num_samples")
    p.add_argument("--reference", choices=["train", "test"], default=None)
    p.add_argument("--extractor", default=None, help="digits | inception (default: the run's eval.extractor)")
    p.add_argument("--inception-weights", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-append", action="store_true", help="print only; do not append to eval.jsonl")
    a = p.parse_args(argv)
    with user_input():
        cfg, data, g, d, state, run_dir, ckpt_path, hw = load_run(a.path, a.device, a.checkpoint)
    for key, value in (("num_samples", a.num_samples), ("reference", a.reference), ("extractor", a.extractor),
                       ("inception_weights", a.inception_weights)):
        if value is not None:
            cfg.eval[key] = value
    torch.manual_seed(a.seed)
    with user_input():
        evaluator, _ = build_evaluator(cfg, data, hw.device, force=True)
    result = {"step": state["step"], "kimg": state["images_seen"] / 1000, "checkpoint": str(ckpt_path),
              **evaluator.evaluate(g, d, state["step"])}
    print(json.dumps(result, indent=2))
    if not a.no_append:
        with open(run_dir / "eval.jsonl", "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
