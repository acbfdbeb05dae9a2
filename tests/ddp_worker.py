"""Run by test_distributed.py as `python tests/ddp_worker.py MODE OUT`: ganlab's own launch() (what
`ganlab-train hardware.devices=2` uses) starts 2 ranks (gloo on the CPU) that train with the real
trainer on tiny settings, then dump what each rank holds, which only rank 0 would otherwise write.

  main   a straight 4-step run evaluated at the end (OUT/straight), a 2-step run resumed to 4 steps (OUT/resumed)
  crash  rank 1 raises in the second iteration; rank 0 must be stopped, not left waiting
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import torch

from ganlab.registry import EXTRACTORS, REGULARIZERS
from ganlab.regularizers.base import Regularizer

# Every regularizer that touches D's graph: DiffAugment in run_d, AugSelf's heads (DDP-wrapped with D),
# APA's controller (all-reduced sign), LeCam's EMAs (all-reduced means), R1 and the gradient penalty
# (double backward through D's DDP), and the mode-seeking loss (a second G pass outside G's DDP wrapper, whose
# gradient DDP must still average with the first's). APA's target below -1 makes p rise by count / (kimg * 1000) each
# iteration, so its value shows whether `count` is global (16 images) or per rank (8).
OVERRIDES = ["train.log_every=2", "train.ckpt_every=2", "train.sample_every=2", "train.ema.start=0",
             "regularizer=[diffaugment,augself,apa,lecam,r1,gradient_penalty,mode_seeking]", "regularizer.apa.kimg=0.1",
             "regularizer.apa.interval=1", "regularizer.apa.target=-1.5", "regularizer.lecam.start=0",
             "regularizer.r1.every=2", "regularizer.gradient_penalty.weight=1.0"]
# Evaluation at the last step, sharded over the ranks, with a tiny extractor (no classifier to train).
EVAL = ["eval.every=4", "eval.extractor=test_tiny", "eval.num_samples=30", "eval.metrics=[fid,d_acc]"]


@EXTRACTORS.register("test_tiny")
class TinyExtractor:
    """16 pixel values as features: enough for FID's arithmetic, nothing to train or download."""
    name, weights, resize, classes, accuracy = "test_tiny", "none", "none", 0, None   # classes 0: not a classifier of the data's classes
    fidelity = SimpleNamespace(features_list=["features", "logits"])   # what the evaluator asks of an extractor

    def __init__(self, device="cpu", **weights):
        self.device = device

    def __call__(self, images, batch_size: int = 250) -> dict:
        chunks = images.split(batch_size) if torch.is_tensor(images) else images
        f = torch.cat([c.float().flatten(1)[:, :16] for c in chunks]).double()
        return {"features": f, "logits": f[:, :10]}


@REGULARIZERS.register("test_crash")
class Crash(Regularizer):
    """Raises on rank 1 in the second iteration (rank 0 is then inside a collective)."""

    def update(self, ctx):
        if ctx.step == 1 and os.environ.get("RANK") == "1":
            raise RuntimeError("injected crash on rank 1 at step 2")


def dump(trainer, path: Path) -> None:
    torch.save({"g": trainer.g.state_dict(), "d": trainer.d.state_dict(), "ema": trainer.ema.state_dict(),
                "regs": [r.state_dict() for r in trainer.regs], "opt_d": trainer.opt_d.state_dict()}, path)


def rank_main(mode: str, out: str) -> None:
    from conftest import TINY, TINY_DCGAN, compose_cfg
    from ganlab.cli.build import build
    rank, out = int(os.environ["RANK"]), Path(out)

    def fit(sub: str, steps: int, extra=()):
        cfg = compose_cfg(TINY + TINY_DCGAN + OVERRIDES + [f"train.steps={steps}", *extra])
        trainer = build(cfg, out / sub)
        trainer.fit()
        return trainer

    if mode == "crash":
        fit("crash", 4, ["+regularizer.test_crash={}"])
        return
    dump(fit("straight", 4, EVAL), out / f"straight_rank{rank}.pt")
    fit("resumed", 2)
    dump(fit("resumed", 4, ["resume=auto"]), out / f"resumed_rank{rank}.pt")


if __name__ == "__main__":
    from ganlab.train.launch import launch
    launch(2, rank_main, (sys.argv[1], sys.argv[2]))
