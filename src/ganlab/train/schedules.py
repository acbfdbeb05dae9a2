"""Learning-rate schedules behind one small interface.

on_step(step) runs after every iteration; on_log(row) runs at every log step with the means of
the window, so ReduceLROnPlateau watches a smoothed loss rather than one noisy batch.
"""
from __future__ import annotations

import torch

from ganlab.registry import SCHEDULERS


class Schedule:
    def __init__(self, scheduler=None):
        self.scheduler = scheduler

    def on_step(self, step: int) -> None:
        pass

    def on_log(self, row: dict) -> None:
        pass

    def state_dict(self) -> dict:
        return self.scheduler.state_dict() if self.scheduler else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scheduler:
            self.scheduler.load_state_dict(state)


@SCHEDULERS.register("none")
def constant(optimizer: torch.optim.Optimizer, total_steps: int) -> Schedule:
    return Schedule()


class _Linear(Schedule):
    def on_step(self, step: int) -> None:
        self.scheduler.step()


@SCHEDULERS.register("linear")
def linear(optimizer: torch.optim.Optimizer, total_steps: int, start: int = 0,
           final_factor: float = 0.0) -> Schedule:
    """Constant until `start`, then linear decay to final_factor * lr at the last step."""
    def factor(step: int) -> float:
        if step < start:
            return 1.0
        frac = (step - start) / max(1, total_steps - start)
        return 1.0 - (1.0 - final_factor) * min(1.0, frac)
    return _Linear(torch.optim.lr_scheduler.LambdaLR(optimizer, factor))


class _Plateau(Schedule):
    def on_log(self, row: dict) -> None:
        if row.get("metric") is not None:   # the trainer passes this network's total loss as "metric"
            self.scheduler.step(row["metric"])


@SCHEDULERS.register("plateau")
def plateau(optimizer: torch.optim.Optimizer, total_steps: int, factor: float = 0.5,
            patience: int = 5, threshold: float = 1e-3, min_lr: float = 1e-6, cooldown: int = 0) -> Schedule:
    """ReduceLROnPlateau on the network's loss averaged over each log window (patience in log windows)."""
    return _Plateau(torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=factor, patience=patience, threshold=threshold,
        min_lr=min_lr, cooldown=cooldown))
