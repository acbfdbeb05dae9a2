"""The valid values of every numeric setting, in one table (DOMAINS), checked once when a config is validated
(config.settings_of) so that a bad number stops the run in one line that names the key, what it must be and
the value, before anything is built.

A value outside its domain is never clamped or reinterpreted (eval.every=-1 does not mean "every step",
dataset.subset=-1 does not drop the last file). NaN and inf are outside every domain. A domain without an upper
bound documents that any larger value is valid (train.steps=10**12 runs that long); sizes (widths, channels,
dimensions, resolutions) stop at MAX_SIZE, beyond which the networks could not be allocated. tests/test_faults.py
feeds zero, negative, NaN, inf, huge and wrongly typed values to every numeric key of every config option and
fails on a key missing from this table.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ganlab.errors import ConfigError

MAX_SIZE = 2 ** 16


@dataclass(frozen=True)
class Domain:
    kind: type                      # int or float (a float setting takes an integer too)
    low: float | None = None
    high: float | None = None
    low_open: bool = False          # low itself is outside
    high_open: bool = False
    optional: bool = False          # null is valid (the setting's "off" or "automatic")
    choices: tuple = ()

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if self.choices:
            return value in self.choices
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or self.low_open and value == self.low):
            return False
        return self.high is None or not (value > self.high or self.high_open and value == self.high)

    def describe(self) -> str:
        if self.choices:
            text = " or ".join(map(str, self.choices))
        elif self.kind is int and self.high is None:
            text = "a positive integer" if self.low == 1 else "a non-negative integer" if self.low == 0 else \
                f"an integer >= {self.low:g}"
        elif self.kind is int:
            text = f"an integer from {self.low:g} to {self.high:g}"
        elif self.low is None:
            text = "a finite number"
        elif self.high is not None:
            text = f"a number in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        else:
            text = f"a finite number {'>' if self.low_open else '>='} {self.low:g}"
        return text + (" (or null)" if self.optional else "")


FINITE = Domain(float)
COUNT = Domain(int, 1)                          # how many (steps, samples, splits) or every how many steps
NONNEG = Domain(int, 0)                         # 0 means none, never, off or from the start
SEED = Domain(int, 0)
SIZE = Domain(int, 1, MAX_SIZE)                 # widths, channels, dimensions
SIZE_OR_OFF = Domain(int, 0, MAX_SIZE)          # 0: none (attention at no resolution, no minibatch features)
WEIGHT = Domain(float, 0)                       # a loss term's weight, a penalty's strength: 0 turns it off
POSITIVE = Domain(float, 0, low_open=True)
PROBABILITY = Domain(float, 0, 1)
FRACTION = Domain(float, 0, 1, low_open=True)   # a share of something that must not be empty
DECAY = Domain(float, 0, 1, high_open=True)     # an average's decay: 1 would never move

DOMAINS: dict[str, Domain] = {
    # train.yaml
    "seed": SEED,
    **{f"train.{k}": COUNT for k in ("steps", "batch_size", "n_critic", "accum_d", "accum_g", "log_every",
                                     "sample_every", "ckpt_every", "samples_per_class")},
    "train.epochs": Domain(float, 0, low_open=True, optional=True),
    "train.ema.decay": DECAY,
    "train.ema.start": NONNEG,
    "train.freeze_d": NONNEG,
    # hardware, eval
    "hardware.devices": COUNT,
    "eval.every": NONNEG,                       # 0: no evaluation during training
    "eval.num_samples": Domain(int, 2),
    "eval.batch_size": COUNT, "eval.g_batch_size": COUNT, "eval.g_standing_passes": COUNT,
    "eval.seed": SEED,
    "eval.fid_ci": DECAY,                       # 0: no bootstrap interval
    "eval.fid_ci_resamples": COUNT, "eval.kid_subset_size": COUNT, "eval.isc_splits": COUNT, "eval.dc_k": COUNT,
    "eval.mem_percentile": Domain(float, 0, 100),
    "eval.truncation": Domain(float, 0, low_open=True, optional=True),
    # dataset
    "dataset.image_size": SIZE,
    "dataset.channels": Domain(int, choices=(1, 3)),
    "dataset.num_classes": Domain(int, 0, MAX_SIZE),   # 0: unlabelled
    "dataset.n": COUNT,
    "dataset.seed": SEED, "dataset.fraction_seed": SEED,
    "dataset.fraction": FRACTION,
    "dataset.subset": NONNEG,                   # 0: every file
    "dataset.workers": NONNEG,                  # 0: read in the training process
    "dataset.memory_limit_gb": Domain(float, 0, low_open=True, optional=True),
    # model (each model takes some of these)
    **{f"model.{k}": SIZE for k in ("z_dim", "g_width", "d_width", "ch", "embed_dim", "shared_dim", "depth",
                                    "d_depth")},
    "model.d_ch": Domain(int, 1, MAX_SIZE, optional=True),   # null: model.ch
    "model.g_attn": SIZE_OR_OFF, "model.d_attn": SIZE_OR_OFF, "model.minibatch_kernels": SIZE_OR_OFF,
    "model.bn_eps": POSITIVE,
    # loss, optimizer, scheduler
    "loss.real_label": FRACTION,
    **{f"optimizer.{side}.{k}": d for side in ("g", "d") for k, d in (("lr", POSITIVE), ("weight_decay", WEIGHT),
                                                                      ("eps", POSITIVE))},
    "scheduler.start": NONNEG, "scheduler.final_factor": PROBABILITY,                       # linear
    "scheduler.factor": Domain(float, 0, 1, low_open=True, high_open=True),                 # plateau
    "scheduler.patience": NONNEG, "scheduler.cooldown": NONNEG, "scheduler.window": COUNT,
    "scheduler.threshold": WEIGHT, "scheduler.min_lr": WEIGHT,
    # regularizers
    # the target of E[sign D(real)]: outside [-1, 1] it moves p one way only (the tests use -1.5 to make p rise)
    **{f"regularizer.{r}.{k}": d for r in ("ada", "apa") for k, d in (("target", FINITE), ("p_init", PROBABILITY),
                                                                      ("kimg", POSITIVE), ("interval", COUNT))},
    "regularizer.augself.d_weight": WEIGHT, "regularizer.augself.g_weight": WEIGHT,
    "regularizer.cond_transition.start": NONNEG, "regularizer.cond_transition.end": COUNT,
    **{f"regularizer.consistency.{k}": WEIGHT for k in ("real_weight", "fake_weight", "z_d_weight", "z_g_weight",
                                                        "radius")},
    "regularizer.cutmix.prob": PROBABILITY, "regularizer.cutmix.weight": WEIGHT,
    "regularizer.cutmix.consistency": WEIGHT, "regularizer.cutmix.warmup_epochs": Domain(float, 0),
    "regularizer.diffaugment.color_strength": WEIGHT, "regularizer.diffaugment.cutout_ratio": PROBABILITY,
    "regularizer.diffaugment.translation_ratio": PROBABILITY,
    "regularizer.feature_diversity.weight": WEIGHT, "regularizer.feature_diversity.tau": Domain(float, -1, 1),
    "regularizer.feature_diversity.power": POSITIVE, "regularizer.feature_diversity.center_decay": DECAY,
    "regularizer.feature_diversity.resolution": SIZE,
    "regularizer.feature_matching.weight": WEIGHT,
    "regularizer.gradient_penalty.weight": WEIGHT, "regularizer.gradient_penalty.target": WEIGHT,
    "regularizer.historical_averaging.weight": WEIGHT,
    "regularizer.lecam.weight": WEIGHT, "regularizer.lecam.decay": DECAY, "regularizer.lecam.start": NONNEG,
    "regularizer.mode_seeking.weight": WEIGHT, "regularizer.mode_seeking.eps": POSITIVE,
    "regularizer.drift.weight": WEIGHT,
    "regularizer.r1.gamma": WEIGHT, "regularizer.r1.every": COUNT,
    # loggers
    "logger.tensorboard.flush_secs": POSITIVE,
}

OPTIMIZER_KEYS = ("name", "g", "d")   # the optimizer group's top level: its settings are per network


def leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> {"a.b.c": leaf}."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(leaves(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def check(resolved: dict) -> None:
    """Refuse (ConfigError, one line) the first value of a resolved config outside its domain, and settings the
    optimizer group would silently ignore (optimizer.lr: the learning rates are optimizer.g.lr and .d.lr)."""
    stray = sorted(set(resolved.get("optimizer") or {}) - set(OPTIMIZER_KEYS))
    if stray:
        raise ConfigError(f"optimizer.{stray[0]} is not a setting: the optimizer takes its settings per network, "
                          f"optimizer.g.{stray[0]} and optimizer.d.{stray[0]}")
    for key, value in leaves(resolved).items():
        domain = DOMAINS.get(key) or DOMAINS.get(re.sub(r"^model\.[gd]\.", "model.", key))   # model=pair's halves
        if domain is not None and not domain.accepts(value):
            raise ConfigError(f"{key} must be {domain.describe()}, got {value!r}")
