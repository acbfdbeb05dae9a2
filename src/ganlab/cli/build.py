"""build(cfg): turn a composed config into a ready Trainer. The one bridge from config to objects: the config
is validated once (config.settings_of), and every part is built from those typed settings. build_data,
build_models and build_evaluator serve the other commands, which hold a run's composed config."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

import ganlab.data  # noqa: F401  (registers datasets)
import ganlab.losses  # noqa: F401
import ganlab.metrics  # noqa: F401  (registers feature extractors)
import ganlab.models  # noqa: F401
import ganlab.optimizers  # noqa: F401
import ganlab.regularizers  # noqa: F401
import ganlab.track.tensorboard  # noqa: F401  (registers loggers)
import ganlab.track.wandb  # noqa: F401
from ganlab import CONF_DIR
from ganlab.config import RESUME_KEYS, EvalSchema, settings_of, split_name
from ganlab.data.base import label_prior
from ganlab.data.stream import batches_for
from ganlab.data.subsets import FRACTION_KEYS, take_fraction
from ganlab.errors import ConfigError
from ganlab.registry import DATASETS, EXTRACTORS, LOGGERS, LOSSES, MODELS, OPTIMIZERS, REGULARIZERS, SCHEDULERS
from ganlab.regularizers.base import setup_all
from ganlab.track.jsonl import JsonlLogger
from ganlab.track.stats import Stats
from ganlab.train import checkpoint as ckpt
from ganlab.train import tune
from ganlab.train.debug import OneBatch
from ganlab.train.distributed import Dist, convert_sync_bn
from ganlab.train.finetune import frozen_parameters, init_from
from ganlab.train.hardware import Hardware
from ganlab.train.outputs import RunOptions
from ganlab.train.settings import steps_for_epochs
from ganlab.train.trainer import Parts, Trainer

LOADER_KEYS = ("mirror",)   # dataset-group keys that configure the batch sampler, not the dataset


def dataset_section(dataset: tuple[str, dict]) -> tuple[str, dict, dict, dict]:
    """The dataset group's keys sorted by who reads them: (name, the dataset's own, the batch sampler's, the
    fraction's)."""
    name, kwargs = dataset[0], dict(dataset[1])
    loader = {k: kwargs.pop(k) for k in LOADER_KEYS if k in kwargs}
    fraction = {k: kwargs.pop(k) for k in FRACTION_KEYS if k in kwargs}
    return name, kwargs, loader, fraction


def build_data(cfg: DictConfig, whole: bool = False):
    """The training set (a seeded `fraction` of it unless `whole`) and the batch sampler's settings, from a
    composed config (the other commands; build() passes its validated section to data_from)."""
    return data_from(split_name(cfg.dataset, "dataset"), whole)


def data_from(dataset: tuple[str, dict], whole: bool = False):
    name, kwargs, loader, fraction = dataset_section(dataset)
    data = DATASETS.build(name, **kwargs)
    return (data if whole else take_fraction(data, **fraction)), loader


def build_models(cfg: DictConfig, data):
    """G and D from a run's saved config. A run saved before a model key existed takes that key from
    conf/model/NAME.yaml, where every new key's default is the behaviour the model had before it."""
    return models_from(split_name(cfg.model, "model"), data)


def models_from(model: tuple[str, dict], data):
    """G and D for a model section, composed or saved: what it lacks (a pair's halves included) from its yaml."""
    name, kwargs = model
    return model_pair(name, data.image_size, data.channels, data.num_classes, **kwargs)


def model_pair(name: str, image_size: int, channels: int, num_classes: int = 0, **overrides):
    """(G, D) from conf/model/NAME.yaml with these keys changed: a model outside a composed config
    (benchmarks, tests) still takes its defaults from the one place they live."""
    return MODELS.build(name, image_size=image_size, channels=channels, num_classes=num_classes,
                        **model_keys(name, overrides))


def model_keys(name: str, overrides: dict) -> dict:
    """Every key of model NAME: conf/model/NAME.yaml with these changed (a model registered with its yaml elsewhere,
    on a plugin's search path, has only these)."""
    path = CONF_DIR / "model" / f"{name}.yaml"
    if not path.is_file():
        MODELS.get(name)   # the registry's error: the unknown name and the models there are
    base = OmegaConf.load(path) if path.is_file() else {"name": name}
    _, kwargs = split_name(OmegaConf.merge(base, overrides), "model")
    return halves_completed(kwargs, own=set(base))


def halves_completed(kwargs: dict, own: set[str] = frozenset()) -> dict:
    """model=pair's g and d (a key whose value names a model) with every key of that model: the keys a half
    leaves out take its model's defaults, as the top level's keys do. A top-level key that is not the pair's own
    (not in its yaml: a preset's model keys, composed onto model=pair) goes to each half whose model has it, unless
    the half sets it itself; a key no half's model has is refused."""
    halves = {k: v for k, v in kwargs.items() if isinstance(v, dict) and "name" in v}
    if not halves:
        return kwargs
    completed = {k: model_keys(v["name"], {x: y for x, y in v.items() if x != "name"}) for k, v in halves.items()}
    shared = {k: v for k, v in kwargs.items() if k not in halves and k not in own}
    for key in shared:
        if not any(key in keys for keys in completed.values()):
            models = " or ".join(v["name"] for v in halves.values())
            raise ConfigError(f"model.{key}: not a key of {models}, the models model=pair's halves name")
    return {k: v for k, v in kwargs.items() if k not in shared} | {
        k: {"name": halves[k]["name"], **keys, **{x: y for x, y in shared.items() if x in keys and x not in halves[k]}}
        for k, keys in completed.items()}


def build_regularizers(entries: dict[str, dict | None], g, d, stats: Stats) -> list:
    """One regularizer per entry of the list group, in order, each set up against D, the stats
    channel and the augmentations they declare (heads sized from D, checks that fail at build time),
    then attached to G."""
    regs = [REGULARIZERS.build(key, **dict(kwargs or {}))
            for key, kwargs in entries.items()]
    setup_all(regs, d, stats, g)
    return regs


def resume_path(resume: str | None, run_dir: Path) -> Path | None:
    if resume is None:
        return None
    if resume == "auto":
        last = run_dir / "checkpoints" / "last.pt"
        return last if last.is_file() else None
    return ckpt.resolve(Path(resume), what=f"resume={resume} (resume=null starts afresh): ")


def sweep_name() -> str | None:
    """The multirun directory's last two parts (date/time) when this job is part of a sweep."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return "/".join(Path(HydraConfig.get().sweep.dir).parts[-2:])


def build_loggers(entries: dict, config: dict, run_dir: Path) -> list:
    """metrics.jsonl and eval.jsonl, then each entry of the `logger` list group (logger=[jsonl,tensorboard]),
    from the LOGGERS registry, with its settings from logger.<name>."""
    loggers = [JsonlLogger(run_dir)]
    for name, settings in entries.items():
        if not isinstance(settings, dict):
            raise ConfigError(f"logger.{name}={settings!r} is not a logger's settings; loggers are a list group "
                              f"(logger=[jsonl,tensorboard]) with settings under logger.NAME.KEY; available: "
                              f"{', '.join(LOGGERS.names())}")
        loggers += LOGGERS.build(name, run_dir=run_dir, config=config, sweep=sweep_name(), **settings)
    return loggers


def resolve_extractors(ev, dataset_name: str) -> tuple[str, str]:
    """eval.extractor / eval.pr_extractor with `auto` resolved: the FID extractor is what the dataset's
    registry entry declares (`fid_extractor`), else inception; P/R use vgg16 (fc2, torch-fidelity's
    default) next to inception, else the FID extractor."""
    fid = ev.extractor if ev.extractor != "auto" else DATASETS.info(dataset_name).get("fid_extractor", "inception")
    pr = ev.pr_extractor if ev.pr_extractor != "auto" else ("vgg16" if fid == "inception" else fid)
    return fid, pr


def build_sampler(ev: EvalSchema, device, data=None):
    """How G is sampled for evaluation, grids and ganlab-sample: the run's eval.g_mode and batch, and its labels'
    prior (eval.label_prior=data: `data`'s class frequencies)."""
    from ganlab.metrics.sampling import GSampler
    return GSampler(ev.g_mode, ev.g_batch_size, ev.g_standing_passes, ev.truncation, device,
                    label_prior(data, ev.label_prior))


def build_evaluator(cfg: DictConfig, ev: EvalSchema, data, device, **kw):
    """The Evaluator for a composed config (the other commands): see evaluator_from."""
    return evaluator_from(split_name(cfg.dataset, "dataset"), ev, data, device, **kw)


def evaluator_from(dataset: tuple[str, dict], ev: EvalSchema, data, device, *, ema: bool, sampler=None,
                   force: bool = False, run_dir: Path | None = None, ranks=None):
    """The Evaluator for this dataset section (None when eval.every is 0, unless forced), and eval.every. `ev`
    is the validated eval section, `ema` whether G's weights are an EMA (recorded in the protocol)."""
    if not ev.every and not force:
        return None, 0
    from ganlab.metrics.evaluator import Evaluator, Scoring
    name, kwargs, _, fraction = dataset_section(dataset)
    if ev.reference not in ("train", "test"):
        raise ValueError(f"unknown eval.reference '{ev.reference}'; available: train, test")
    whole = data if fraction.get("fraction", 1.0) == 1.0 else data_from(dataset, whole=True)[0]
    reference = whole   # a training fraction never shrinks the reference
    if ev.reference == "test":   # the whole split
        reference = DATASETS.build(name, **{**kwargs, "split": "test"})
    fid_name, pr_name = resolve_extractors(ev, name)
    weights = dict(inception_weights=ev.inception_weights, vgg16_weights=ev.vgg16_weights,
                   extractor_weights=ev.extractor_weights, dataset=whole)   # domain trains on the whole training set
    ext = EXTRACTORS.build(fid_name, device=device, **weights)
    pr_ext = ext
    if pr_name != fid_name and {"pr", "dc"} & set(ev.metrics):
        pr_ext = EXTRACTORS.build(pr_name, device=device, **weights)
    protocol = {"reference": f"{name}:{ev.reference}", "ema": ema}
    data_key = json.dumps({"name": dataset[0], **dataset[1]}, sort_keys=True)
    evaluator = Evaluator(ext, reference, Scoring.of(ev, metrics=list(ev.metrics)),
                          sampler=sampler or build_sampler(ev, device, data), pr_extractor=pr_ext, device=device,
                          protocol=protocol, cache_key=data_key + ev.reference,
                          train_set=data if reference is not data else None, train_cache_key=data_key + "train",
                          score_train_set=whole is not data,
                          out_dir=Path(run_dir) / "eval" if run_dir else None, ranks=ranks)
    return evaluator, ev.every


def build(cfg: DictConfig, run_dir: str | Path) -> Trainer:
    s = settings_of(cfg)   # the config is validated here, once; everything below is built from typed settings
    top, settings = s.run, s.train
    hw = Hardware.resolve(**vars(s.hardware))
    dist, hw.device = Dist.init(hw.device, hw.devices, hw.sync_bn, hw.find_unused_parameters)
    run_dir = Path(dist.broadcast(str(run_dir)))   # rank 0's directory: other ranks never make their own
    torch.manual_seed(top.seed)
    data, loader = data_from(s.dataset)
    config = copy.deepcopy(s.resolved)   # what checkpoints record (the loggers get the config as composed)
    if settings.epochs is not None:
        settings.steps = steps_for_epochs(settings.epochs, len(data), settings.batch_size * dist.world,
                                          settings.n_critic, settings.accum_d)   # the global batch
        config["train"]["steps"] = settings.steps   # the checkpoint and summary record what ran
        if dist.main:
            print(f"[ganlab] train.epochs={settings.epochs:g} over {len(data)} images -> train.steps={settings.steps}")
    g, d = models_from(s.model, data)
    if hw.sync_bn and dist.active:
        g, d = convert_sync_bn(g), convert_sync_bn(d)
    loss_name, loss_kwargs = s.loss
    loss = LOSSES.build(loss_name, **loss_kwargs)
    stats = Stats(dist)   # its reads are over all ranks
    regs = [hw.place(r) for r in build_regularizers(s.regularizers, g, d, stats)]
    g, d = hw.place(g), hw.place(d)
    opt_name, opt_kwargs = s.optimizer
    opt_g = OPTIMIZERS.build(opt_name, params=g.parameters(), **(opt_kwargs.get("g") or {}))
    frozen = frozen_parameters(d, settings.freeze_d)                              # FreezeD
    d_params = [p for p in d.parameters() if p not in frozen] + [p for r in regs for p in r.parameters()]   # heads join D's optimizer
    opt_d = OPTIMIZERS.build(opt_name, params=d_params, **(opt_kwargs.get("d") or {}))
    sched_name, sched_kwargs = s.scheduler
    sched_g = SCHEDULERS.build(sched_name, optimizer=opt_g, total_steps=settings.steps, **sched_kwargs)
    sched_d = SCHEDULERS.build(sched_name, optimizer=opt_d, total_steps=settings.steps, **sched_kwargs)
    dist.seed(top.seed)
    batches = batches_for(data, settings.batch_size, hw.device, seed=top.seed, rank=dist.rank, world=dist.world,
                          **loader)
    if top.debug.overfit:
        batches = OneBatch(batches)
    sampler = build_sampler(s.eval, hw.device, data)
    evaluator, eval_every = evaluator_from(s.dataset, s.eval, data, hw.device, ema=settings.ema.enabled,
                                           sampler=sampler, run_dir=run_dir, ranks=dist)
    run = RunOptions(run_dir, loggers=build_loggers(s.loggers, s.resolved, run_dir) if dist.main else [],
                     evaluator=evaluator, eval_every=eval_every, config=config, resume_keys=RESUME_KEYS,
                     resume_from=resume_path(top.resume, run_dir), progress=top.progress and dist.main)
    parts = Parts(g, d, loss, regs, opt_g, opt_d, sched_g, sched_d, batches)
    hw = tune.choose(parts, stats, settings, hw, run_dir, resumed=run.resume_from is not None,   # hardware.tune
                     distributed=dist.active, main=dist.main)
    trainer = Trainer(parts, settings, hw, run, stats=stats, dist=dist, sampler=sampler)
    if top.init_from:   # a resume of this run (resume=auto) later replaces these weights
        fresh = init_from(top.init_from, g, d, trainer.ema.model if trainer.ema else None, hw.device)
        for part, names in fresh.items():
            if names and dist.main:
                print(f"init_from: {part} keeps fresh values for {', '.join(names)} (not in the checkpoint or another shape)")
    return trainer
