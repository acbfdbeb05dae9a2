"""Trainer settings: a plain dataclass (the `train:` section of the config validates against it).

Types live here, values in conf/train.yaml (and the presets): no field has a default, so there is
one place for each value and a key missing from the YAML fails rather than silently taking a second
default."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class EMASettings:
    enabled: bool
    decay: float
    start: int              # iterations before which the EMA is a plain copy


@dataclass
class TrainSettings:
    steps: int                      # G iterations
    epochs: float | None            # if set, steps = ceil(epochs * N / (batch_size * n_critic * accum_d))
    batch_size: int
    n_critic: int                   # D steps per G step
    accum_d: int                    # micro-batches per D step (gradient accumulation)
    accum_g: int                    # micro-batches per G step
    ema: EMASettings
    log_every: int
    sample_every: int
    ckpt_every: int
    samples_per_class: int          # fixed-noise grid: rows = classes (or 8x8 unconditional)
    freeze_d: int                   # FreezeD: D's first K blocks keep their (init_from) weights
    label_prior: str                # the fake labels' prior: uniform | data (data/base.py label_prior)

    def validate(self) -> None:
        for key in ("steps", "batch_size", "n_critic", "accum_d", "accum_g", "log_every",
                    "sample_every", "ckpt_every", "samples_per_class"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"train.{key} must be a positive integer, got {value!r}")
        if not isinstance(self.freeze_d, int) or self.freeze_d < 0:
            raise ValueError(f"train.freeze_d must be a non-negative integer, got {self.freeze_d!r}")
        if self.epochs is not None and self.epochs <= 0:
            raise ValueError(f"train.epochs must be positive (or null to use train.steps), got {self.epochs}")
        if not 0.0 <= self.ema.decay < 1.0:
            raise ValueError(f"train.ema.decay must be in [0, 1), got {self.ema.decay}")


def steps_for_epochs(epochs: float, dataset_size: int, batch_size: int, n_critic: int, accum_d: int) -> int:
    """G iterations for `epochs` passes over the real images, as the BigGAN-PyTorch family counts them
    (epochs x N / (batch x D steps)): each iteration's D steps consume batch x n_critic x accum_d reals."""
    return max(1, math.ceil(epochs * dataset_size / (batch_size * n_critic * accum_d)))
