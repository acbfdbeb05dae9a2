"""Learning-rate schedules behind one small interface.

on_step(step) runs after every iteration. attach(stats, metric) runs once before training with the
stats channel and the name of this network's total loss, so a schedule that watches the loss
(ReduceLROnPlateau) reads its own window means on its own clock, independent of train.log_every;
its reader's partial sums are checkpointed with the channel, so resume is exact at any step.
"""
from __future__ import annotations

import torch

from ganlab.registry import SCHEDULERS
from ganlab.track.stats import Stats


class Schedule:
    def __init__(self, scheduler=None):
        self.scheduler = scheduler

    def attach(self, stats: Stats, metric: str) -> None:
        pass

    def on_step(self, step: int) -> None:
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
    def __init__(self, scheduler, window: int):
        super().__init__(scheduler)
        self.window = window

    def attach(self, stats: Stats, metric: str) -> None:
        self.stats, self.metric, self.reader = stats, metric, f"schedule/{metric}"
        stats.open(self.reader, names=(metric,))

    def on_step(self, step: int) -> None:
        if step % self.window == 0:
            mean = self.stats.read(self.reader).get(self.metric)   # over the last `window` steps
            if mean is not None:
                self.scheduler.step(mean)


@SCHEDULERS.register("plateau")
def plateau(optimizer: torch.optim.Optimizer, total_steps: int, factor: float = 0.5, patience: int = 5,
            threshold: float = 1e-3, min_lr: float = 1e-6, cooldown: int = 0, window: int = 50) -> Schedule:
    """ReduceLROnPlateau on the network's loss averaged over windows of `window` steps (patience in windows)."""
    if window < 1:
        raise ValueError(f"scheduler.window must be at least 1, got {window}")
    return _Plateau(torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=factor, patience=patience, threshold=threshold,
        min_lr=min_lr, cooldown=cooldown), window)
