"""Trainer settings: a plain dataclass (the `train:` section of the config validates against it)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class EMASettings:
    enabled: bool = True
    decay: float = 0.999
    start: int = 0          # iterations before which the EMA is a plain copy


@dataclass
class TrainSettings:
    steps: int = 1500               # G iterations
    epochs: float | None = None     # if set, steps = ceil(epochs * N / (batch_size * n_critic * accum_d))
    batch_size: int = 64
    n_critic: int = 1               # D steps per G step
    accum_d: int = 1                # micro-batches per D step (gradient accumulation)
    accum_g: int = 1                # micro-batches per G step
    ema: EMASettings = field(default_factory=EMASettings)
    log_every: int = 50
    sample_every: int = 500
    ckpt_every: int = 500
    samples_per_class: int = 8      # fixed-noise grid: rows = classes (or 8x8 unconditional)

    def validate(self) -> None:
        for key in ("steps", "batch_size", "n_critic", "accum_d", "accum_g", "log_every",
                    "sample_every", "ckpt_every", "samples_per_class"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"train.{key} must be a positive integer, got {value!r}")
        if self.epochs is not None and self.epochs <= 0:
            raise ValueError(f"train.epochs must be positive (or null to use train.steps), got {self.epochs}")
        if not 0.0 <= self.ema.decay < 1.0:
            raise ValueError(f"train.ema.decay must be in [0, 1), got {self.ema.decay}")


def steps_for_epochs(epochs: float, dataset_size: int, batch_size: int, n_critic: int, accum_d: int) -> int:
    """G iterations for `epochs` passes over the real images, as the BigGAN-PyTorch family counts them
    (epochs x N / (batch x D steps)): each iteration's D steps consume batch x n_critic x accum_d reals."""
    return max(1, math.ceil(epochs * dataset_size / (batch_size * n_critic * accum_d)))
