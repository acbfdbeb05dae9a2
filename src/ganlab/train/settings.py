"""Trainer settings: a plain dataclass (the `train:` section of the config validates against it)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EMASettings:
    enabled: bool = True
    decay: float = 0.999
    start: int = 0          # iterations before which the EMA is a plain copy


@dataclass
class TrainSettings:
    steps: int = 1500               # G iterations
    batch_size: int = 64
    n_critic: int = 1               # D steps per G step
    accum_d: int = 1                # micro-batches per D step (gradient accumulation)
    accum_g: int = 1                # micro-batches per G step
    ema: EMASettings = field(default_factory=EMASettings)
    log_every: int = 50
    sample_every: int = 500
    ckpt_every: int = 500
    samples_per_class: int = 8      # fixed-noise grid: rows = classes (or 8x8 unconditional)
    freeze_d: int = 0               # FreezeD: D's first K blocks keep their (init_from) weights

    def validate(self) -> None:
        for key in ("steps", "batch_size", "n_critic", "accum_d", "accum_g", "log_every",
                    "sample_every", "ckpt_every", "samples_per_class"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"train.{key} must be a positive integer, got {value!r}")
        if not isinstance(self.freeze_d, int) or self.freeze_d < 0:
            raise ValueError(f"train.freeze_d must be a non-negative integer, got {self.freeze_d!r}")
        if not 0.0 <= self.ema.decay < 1.0:
            raise ValueError(f"train.ema.decay must be in [0, 1), got {self.ema.decay}")
