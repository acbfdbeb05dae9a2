"""Config schemas and conversions: the only place besides cli/ that knows OmegaConf.

Component groups (model, dataset, loss, regularizer, optimizer, scheduler) are validated by the
registry against their builders' typed signatures; the trainer-level sections are validated
against the dataclasses below, so a misspelt key or a wrong type fails before training.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from ganlab import domains
from ganlab.errors import ConfigError
from ganlab.train.settings import TrainSettings

# Keys whose change makes a checkpoint unusable for resuming (others, e.g. train.steps, may change).
RESUME_KEYS = ("seed", "model", "dataset", "loss", "regularizer", "optimizer", "scheduler",
               "train.batch_size", "train.n_critic", "train.accum_d", "train.accum_g", "train.ema", "train.label_prior")


@dataclass
class HardwareSchema:
    """Types only: the values live in conf/hardware/auto.yaml (cpu.yaml and gpu.yaml are deltas over it)."""
    device: str = MISSING
    precision: str = MISSING
    channels_last: bool = MISSING
    compile: bool = MISSING
    compile_backend: str = MISSING
    devices: int = MISSING            # ganlab-train starts this many ranks itself (DDP); torchrun/SLURM set their own
    sync_bn: bool = MISSING
    find_unused_parameters: bool = MISSING
    tune: str = MISSING               # auto | off: channels_last and compile chosen by timing (train/tune.py)


@dataclass
class EvalSchema:
    """Types only: the values live in conf/eval/default.yaml (the other eval options extend it)."""
    every: int = MISSING
    metrics: list = MISSING
    num_samples: int = MISSING
    reference: str = MISSING
    extractor: str = MISSING
    pr_extractor: str = MISSING          # auto: vgg16 when the FID extractor is inception, else the same one
    inception_weights: Optional[str] = MISSING
    vgg16_weights: Optional[str] = MISSING
    extractor_weights: Optional[str] = MISSING   # dinov2 / clip weights file
    reference_stats: Optional[str] = MISSING
    batch_size: int = MISSING
    seed: int = MISSING                  # the noise of every evaluation (in training and in ganlab-evaluate)
    g_mode: str = MISSING                # batch | running | standing (metrics/sampling.py)
    g_batch_size: int = MISSING
    g_standing_passes: int = MISSING
    truncation: Optional[float] = MISSING   # psi: resample |z| > psi
    label_prior: str = MISSING           # uniform | data: a conditional G's labels (data/base.py label_prior)
    fid_ci: float = MISSING              # bootstrap interval level (0 = none)
    fid_ci_resamples: int = MISSING
    kid_subset_size: int = MISSING
    isc_splits: int = MISSING
    dc_k: int = MISSING
    mem_percentile: float = MISSING


@dataclass
class DebugSchema:
    overfit: bool = MISSING        # one fixed real batch (+debug=overfit)
    profile: bool = MISSING        # torch.profiler trace of the run (+debug=profile)


@dataclass
class RunSchema:
    """The top-level keys of train.yaml (values there, types here)."""
    seed: int = MISSING
    resume: Optional[str] = MISSING      # auto | null | PATH (a run directory or a .pt file)
    init_from: Optional[str] = MISSING   # null | PATH: G, D and EMA weights to start from
    progress: bool = MISSING
    debug: DebugSchema = MISSING


@dataclass
class Settings:
    """A composed config validated once (settings_of), so that build() makes a run from typed values and
    never goes back to the config: the trainer-level sections typed by their schemas, each component group
    split into (registry name, keyword arguments), every value plain Python."""
    run: RunSchema
    train: TrainSettings
    hardware: HardwareSchema
    eval: EvalSchema
    dataset: tuple[str, dict]
    model: tuple[str, dict]
    loss: tuple[str, dict]
    optimizer: tuple[str, dict]
    scheduler: tuple[str, dict]
    regularizers: dict[str, dict]   # the regularizer list group, in order: name -> its settings
    loggers: dict[str, Any]         # the logger list group: name -> its settings
    resolved: dict                  # the whole config, resolved: loggers record it


def settings_of(cfg: DictConfig) -> Settings:
    """Every section of a composed config, validated once; unknown keys, bad types and missing values fail here,
    before anything is built, with the key named."""
    resolved = plain(cfg)
    domains.check(resolved)   # every numeric value within its domain (domains.py), in one line when not
    components = {group: split_name(resolved.get(group), group)
                  for group in ("dataset", "model", "loss", "optimizer", "scheduler")}
    return Settings(run=run_settings(resolved), train=train_settings(resolved),
                    hardware=validated(HardwareSchema, resolved.get("hardware"), "hardware"),
                    eval=eval_settings(resolved), **components,
                    regularizers=dict(resolved.get("regularizer") or {}), loggers=dict(resolved.get("logger") or {}),
                    resolved=resolved)


def run_settings(cfg: DictConfig | dict) -> RunSchema:
    keys = [f.name for f in dataclasses.fields(RunSchema)]
    return validated(RunSchema, {k: cfg.get(k) for k in keys if k in cfg}, "config")


def validated(schema: type, node: DictConfig | dict | None, section: str):
    """Merge a config section into its dataclass schema; unknown keys, bad types and missing values
    raise ConfigError naming the key (section "config" is the top level)."""
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), node or {}))
    except OmegaConfBaseException as e:
        key = str(getattr(e, "full_key", "") or "")
        key = (key if section == "config" else f"{section}.{key}") if key else section
        message = str(getattr(e, "msg", e)).splitlines()[0]
        if "missing mandatory value" in message.lower():
            message = "Missing mandatory value"
        raise ConfigError(f"bad config in '{key}': {message}") from None


def eval_settings(cfg: DictConfig | dict) -> EvalSchema:
    return validated(EvalSchema, cfg.get("eval"), "eval")


def train_settings(cfg: DictConfig | dict) -> TrainSettings:
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


def edited(cfg: DictConfig, values: dict[str, Any]) -> DictConfig:
    """`cfg` with these dotted keys set, new keys allowed (for tools that adjust a composed config: the benchmarks)."""
    with open_dict(cfg):
        for key, value in values.items():
            OmegaConf.update(cfg, key, value, merge=False)
    return cfg


def is_missing(node: DictConfig, key: str) -> bool:
    """Whether `key` is left as ??? (MISSING) in `node`."""
    return OmegaConf.is_missing(node, key)
