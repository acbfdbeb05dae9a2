"""build(cfg): turn a composed config into a ready Trainer. The one bridge from config to objects."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from omegaconf import DictConfig

import ganlab.data  # noqa: F401  (registers datasets)
import ganlab.losses  # noqa: F401
import ganlab.models  # noqa: F401
import ganlab.optimizers  # noqa: F401
import ganlab.regularizers  # noqa: F401
import ganlab.metrics.extractors  # noqa: F401
from ganlab.config import RESUME_KEYS, EvalSchema, HardwareSchema, LoggerSchema, plain, split_name, train_settings, validated
from ganlab.data.stream import batches_for
from ganlab.data.subsets import FRACTION_KEYS, take_fraction
from ganlab.registry import DATASETS, EXTRACTORS, LOSSES, MODELS, OPTIMIZERS, REGULARIZERS, SCHEDULERS
from ganlab.regularizers.base import setup_all
from ganlab.track.jsonl import JsonlLogger
from ganlab.track.stats import Stats
from ganlab.train.hardware import Hardware
from ganlab.train.settings import steps_for_epochs
from ganlab.train.trainer import Trainer

LOADER_KEYS = ("mirror",)   # dataset-group keys that configure the batch sampler, not the dataset


def build_data(cfg: DictConfig, whole: bool = False):
    """The training set (a seeded `fraction` of it unless `whole`) and the batch sampler's settings."""
    name, kwargs = split_name(cfg.dataset, "dataset")
    loader = {k: kwargs.pop(k) for k in LOADER_KEYS if k in kwargs}
    fraction = {k: kwargs.pop(k) for k in FRACTION_KEYS if k in kwargs}
    data = DATASETS.build(name, **kwargs)
    return (data if whole else take_fraction(data, **fraction)), loader


def build_models(cfg: DictConfig, data):
    name, kwargs = split_name(cfg.model, "model")
    return MODELS.build(name, image_size=data.image_size, channels=data.channels,
                        num_classes=data.num_classes, **kwargs)


def build_regularizers(cfg: DictConfig, d, stats: Stats) -> list:
    """One regularizer per entry of the list group, in order, each set up against D, the stats
    channel and the augmentations they declare (heads sized from D, checks that fail at build time)."""
    regs = [REGULARIZERS.build(key, **dict(kwargs or {}))
            for key, kwargs in (plain(cfg.get("regularizer")) or {}).items()]
    setup_all(regs, d, stats)
    return regs


def resume_path(cfg: DictConfig, run_dir: Path) -> Path | None:
    resume = cfg.get("resume")
    if resume in (None, "", "none", "null"):
        return None
    if resume == "auto":
        last = run_dir / "checkpoints" / "last.pt"
        return last if last.is_file() else None
    path = Path(resume)
    if path.is_dir():
        path = path / "checkpoints" / "last.pt"
    if not path.is_file():
        raise FileNotFoundError(f"resume={resume}: no checkpoint at {path}")
    return path


def sweep_name() -> str | None:
    """The multirun directory's last two parts (date/time) when this job is part of a sweep."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return "/".join(Path(HydraConfig.get().sweep.dir).parts[-2:])


def build_loggers(cfg: DictConfig, run_dir: Path) -> list:
    loggers = [JsonlLogger(run_dir)]
    logger_cfg = validated(LoggerSchema, cfg.get("logger"), "logger")
    if logger_cfg.name == "wandb":
        from ganlab.track.wandb import WandbLogger
        options = vars(logger_cfg.wandb)
        options["group"] = options["group"] or sweep_name()
        loggers.append(WandbLogger(run_dir, plain(cfg), **options))
    elif logger_cfg.name != "jsonl":
        raise ValueError(f"unknown logger '{logger_cfg.name}'; available: jsonl, wandb")
    return loggers


def resolve_extractors(ev, dataset_name: str) -> tuple[str, str]:
    """eval.extractor / eval.pr_extractor with `auto` resolved: the FID extractor is what the dataset's
    registry entry declares (`fid_extractor`), else inception; P/R use vgg16 (fc2, torch-fidelity's
    default) next to inception, else the FID extractor."""
    fid = ev.extractor if ev.extractor != "auto" else DATASETS.info(dataset_name).get("fid_extractor", "inception")
    pr = ev.pr_extractor if ev.pr_extractor != "auto" else ("vgg16" if fid == "inception" else fid)
    return fid, pr


def build_sampler(cfg: DictConfig, device):
    """How G is sampled for evaluation, grids and ganlab-sample: the run's eval.g_mode and batch."""
    from ganlab.metrics.sampling import GSampler
    ev = validated(EvalSchema, cfg.get("eval"), "eval")
    return GSampler(ev.g_mode, ev.g_batch_size, ev.g_standing_passes, ev.truncation, device)


def build_evaluator(cfg: DictConfig, data, device, force: bool = False, run_dir: Path | None = None):
    """The Evaluator for this config (None when eval.every is 0, unless forced), and eval.every."""
    ev = validated(EvalSchema, cfg.get("eval"), "eval")
    if not ev.every and not force:
        return None, 0
    from ganlab.metrics.evaluator import Evaluator
    name, kwargs = split_name(cfg.dataset, "dataset")
    if ev.reference not in ("train", "test"):
        raise ValueError(f"unknown eval.reference '{ev.reference}'; available: train, test")
    reference = data if kwargs.get("fraction", 1.0) == 1.0 else build_data(cfg, whole=True)[0]
    if ev.reference == "test":   # the whole split; a training fraction never shrinks the reference
        kwargs = {k: v for k, v in kwargs.items() if k not in LOADER_KEYS + FRACTION_KEYS}
        reference = DATASETS.build(name, **{**kwargs, "split": "test"})
    fid_name, pr_name = resolve_extractors(ev, name)
    weights = dict(inception_weights=ev.inception_weights, vgg16_weights=ev.vgg16_weights,
                   extractor_weights=ev.extractor_weights)
    ext = EXTRACTORS.build(fid_name, device=device, **weights)
    pr_ext = ext
    if pr_name != fid_name and {"pr", "dc"} & set(ev.metrics):
        pr_ext = EXTRACTORS.build(pr_name, device=device, **weights)
    ema = train_settings(cfg).ema.enabled
    protocol = {"reference": f"{name}:{ev.reference}", "ema": ema}
    data_key = json.dumps(plain(cfg.dataset), sort_keys=True)
    evaluator = Evaluator(ext, reference, list(ev.metrics), ev.num_samples, ev.batch_size, device, protocol,
                          cache_key=data_key + ev.reference, reference_stats=ev.reference_stats,
                          kid_subset_size=ev.kid_subset_size, isc_splits=ev.isc_splits,
                          sampler=build_sampler(cfg, device), pr_extractor=pr_ext,
                          train_set=data if reference is not data else None, train_cache_key=data_key + "train",
                          seed=ev.seed, fid_ci=ev.fid_ci, fid_ci_resamples=ev.fid_ci_resamples, dc_k=ev.dc_k,
                          mem_percentile=ev.mem_percentile, out_dir=Path(run_dir) / "eval" if run_dir else None)
    return evaluator, ev.every


def build(cfg: DictConfig, run_dir: str | Path) -> Trainer:
    run_dir = Path(run_dir)
    settings = train_settings(cfg)
    hw = Hardware.resolve(**vars(validated(HardwareSchema, cfg.get("hardware"), "hardware")))
    torch.manual_seed(int(cfg.seed))
    data, loader = build_data(cfg)
    config = plain(cfg)
    if settings.epochs is not None:
        settings.steps = steps_for_epochs(settings.epochs, len(data), settings.batch_size, settings.n_critic,
                                          settings.accum_d)
        config["train"]["steps"] = settings.steps   # the checkpoint and summary record what ran
        print(f"[ganlab] train.epochs={settings.epochs:g} over {len(data)} images -> train.steps={settings.steps}")
    g, d = build_models(cfg, data)
    loss_name, loss_kwargs = split_name(cfg.loss, "loss")
    loss = LOSSES.build(loss_name, **loss_kwargs)
    stats = Stats()
    regs = [hw.place(r) for r in build_regularizers(cfg, d, stats)]
    g, d = hw.place(g), hw.place(d)
    opt_name, opt_kwargs = split_name(cfg.optimizer, "optimizer")
    opt_g = OPTIMIZERS.build(opt_name, params=g.parameters(), **(opt_kwargs.get("g") or {}))
    d_params = list(d.parameters()) + [p for r in regs for p in r.parameters()]   # heads join D's optimizer
    opt_d = OPTIMIZERS.build(opt_name, params=d_params, **(opt_kwargs.get("d") or {}))
    sched_name, sched_kwargs = split_name(cfg.scheduler, "scheduler")
    sched_g = SCHEDULERS.build(sched_name, optimizer=opt_g, total_steps=settings.steps, **sched_kwargs)
    sched_d = SCHEDULERS.build(sched_name, optimizer=opt_d, total_steps=settings.steps, **sched_kwargs)
    batches = batches_for(data, settings.batch_size, hw.device, seed=int(cfg.seed), **loader)
    evaluator, eval_every = build_evaluator(cfg, data, hw.device, run_dir=run_dir)
    return Trainer(g, d, loss, regs, opt_g, opt_d, sched_g, sched_d, batches, settings, run_dir, hw,
                   loggers=build_loggers(cfg, run_dir), evaluator=evaluator, eval_every=eval_every,
                   config=config, resume_keys=RESUME_KEYS, resume_from=resume_path(cfg, run_dir),
                   progress=bool(cfg.get("progress", True)), stats=stats, sampler=build_sampler(cfg, hw.device))
