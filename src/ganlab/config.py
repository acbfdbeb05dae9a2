"""Config schemas and conversions: the only place besides cli/ that knows OmegaConf.

Component groups (model, dataset, loss, regularizer, optimizer, scheduler) are validated by the
registry against their builders' typed signatures; the trainer-level sections are validated
against the dataclasses below, so a misspelt key or a wrong type fails before training.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ganlab.train.settings import TrainSettings

# Keys whose change makes a checkpoint unusable for resuming (others, e.g. train.steps, may change).
RESUME_KEYS = ("seed", "model", "dataset", "loss", "regularizer", "optimizer", "scheduler",
               "train.batch_size", "train.n_critic", "train.accum_d", "train.accum_g", "train.ema")


@dataclass
class HardwareSchema:
    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False


@dataclass
class EvalSchema:
    every: int = 1000
    metrics: list = field(default_factory=lambda: ["fid", "is", "kid", "pr", "dc", "d_acc"])
    num_samples: int = 10000
    reference: str = "train"
    extractor: str = "auto"
    inception_weights: Any = None
    reference_stats: Any = None
    batch_size: int = 250
    kid_subset_size: int = 1000
    isc_splits: int = 10
    seed: int = 0                  # the noise of every evaluation (in training and in ganlab-evaluate)
    g_mode: str = "batch"          # batch | running | standing (metrics/sampling.py)
    g_batch_size: int = 50
    g_standing_passes: int = 100
    truncation: Any = None         # psi: resample |z| > psi
    pr_extractor: str = "auto"     # auto: vgg16 when the FID extractor is inception, else the same one
    vgg16_weights: Any = None
    extractor_weights: Any = None  # dinov2 / clip weights file
    fid_ci: float = 0.95           # bootstrap interval level (0 = none)
    fid_ci_resamples: int = 200
    dc_k: int = 5
    mem_percentile: float = 5.0


@dataclass
class WandbSchema:
    mode: str = "offline"          # online | offline | disabled
    project: str = "ganlab"
    entity: Any = None
    group: Any = None
    tags: list = field(default_factory=list)


@dataclass
class LoggerSchema:
    name: str = "jsonl"
    wandb: WandbSchema = field(default_factory=WandbSchema)


def validated(schema: type, node: DictConfig | dict | None, section: str):
    """Merge a config section into its dataclass schema; unknown keys and bad types raise ValueError."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), node or {})
    except OmegaConfBaseException as e:
        raise ValueError(f"bad config in '{section}': {e.msg if hasattr(e, 'msg') else e}") from None
    return OmegaConf.to_object(merged)


def train_settings(cfg: DictConfig) -> TrainSettings:
    settings = validated(TrainSettings, cfg.get("train"), "train")
    settings.validate()
    return settings


def plain(node) -> Any:
    """A config node as plain Python containers (resolved)."""
    if isinstance(node, DictConfig) or OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True)
    return node


def split_name(node, group: str) -> tuple[str, dict]:
    """{'name': X, **kwargs} -> (X, kwargs), with a clear error when `name` is missing."""
    d = dict(plain(node) or {})
    if "name" not in d:
        raise ValueError(f"config group '{group}' has no 'name:' key: {d}")
    return d.pop("name"), d
