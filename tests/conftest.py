"""Shared helpers: compose the real configs and run the real trainer on tiny settings."""
from __future__ import annotations

import copy
import functools
import os
import shutil
import sys
import tempfile
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):   # `pytest -n 2`: one torch thread per worker (and its subprocesses),
    os.environ["OMP_NUM_THREADS"] = "1"      # as two torch jobs on 2 cores must run, or they slow each other 10x

# One cache (digits classifier, reference features) per test session, never the user's. Made by the session's
# main process and inherited by its xdist workers, so that the digits classifier is trained once, not once per worker.
if not os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["GANLAB_CACHE"] = tempfile.mkdtemp(prefix="ganlab-test-cache-")

import pytest

from ganlab import CONF_DIR
from ganlab.cli.choices import compose_config
from ganlab.cli.train import train
from ganlab.registry import MODELS
from ganlab.track import provenance

# Every run writes provenance.json with `pip freeze`, read from the metadata of every installed distribution: 0.15 s
# of a tiny run's ~1 s. The installed packages do not change during a test session: each process reads them once.
_pip_freeze = functools.cache(provenance.pip_freeze)
provenance.pip_freeze = lambda: list(_pip_freeze())

# Small enough that one training step takes well under a second on 2 CPU cores.
TINY = ["progress=false", "train.steps=2", "train.batch_size=8", "train.log_every=1",
        "train.sample_every=1", "train.ckpt_every=1", "train.samples_per_class=2",
        "dataset.image_size=16", "hardware=cpu", "eval=none"]
TINY_DCGAN = [f"model.{k}={v}" for k, v in MODELS.info("dcgan")["tiny"].items()]


def scoring(**overrides):
    """The evaluation settings of conf/eval/default.yaml (where their values live), with `overrides`."""
    from omegaconf import OmegaConf

    from ganlab.metrics.evaluator import Scoring
    return Scoring.of(OmegaConf.load(CONF_DIR / "eval" / "default.yaml"), **overrides)


def tiny_model_settings(model: str, overrides: list[str]) -> dict:
    """The smallest settings `model` declares where it registers (models/base.py), except keys the
    overrides set themselves (model=pair's halves: a half any override reaches into)."""
    return {k: v for k, v in MODELS.info(model)["tiny"].items()
            if not any(o.lstrip("+").startswith((f"model.{k}=", f"model.{k}.")) for o in overrides)}


def pytest_sessionfinish(session, exitstatus):
    """The session's cache leaves nothing behind in /tmp (removed by the main process, after its workers)."""
    if not hasattr(session.config, "workerinput"):
        shutil.rmtree(os.environ["GANLAB_CACHE"], ignore_errors=True)


@functools.cache
def _composed(overrides: tuple[str, ...]):
    return compose_config(overrides)


def compose_cfg(overrides=()):
    """What ganlab-train composes for these command-line overrides: composed once per worker (a Hydra composition
    takes about 0.2 s; the presets are composed by several tests), a fresh copy each call."""
    return copy.deepcopy(_composed(tuple(overrides)))


def run(tmp_path: Path, overrides: list[str] = (), tiny_model: bool = True) -> tuple[dict, Path]:
    """Train with the real trainer on tiny settings (the model's too, unless tiny_model=False); no
    regularizer unless the test picks some."""
    chosen = any(o.startswith("regularizer=") or o.startswith("+experiment=") for o in overrides)
    overrides = TINY + ([] if chosen else ["regularizer=[]"]) + list(overrides)
    cfg = compose_cfg(overrides)
    if tiny_model:   # set on the composed config: one composition per run
        cfg.model.update(tiny_model_settings(cfg.model.name, overrides))
    run_dir = Path(tmp_path)
    return train(cfg, run_dir), run_dir


def ganlab_train_here(monkeypatch, *args: str) -> int:
    """ganlab-train's main() run in this process with `args` -> its exit status (0 when it returns); stderr is
    read with capsys. About 0.3 s where a subprocess pays ~5 s of Python and torch start-up, for the tests of many
    one-line refusals; test_errors.py runs the console script itself as a subprocess (its exit status, end to end).
    Hydra clears its global state after each call (and ganlab's own compositions clear theirs)."""
    import faulthandler
    import logging

    from ganlab.cli import sweeps
    from ganlab.cli import train as cli
    monkeypatch.setattr(sys, "argv", ["ganlab-train", *args])
    monkeypatch.setattr(sweeps, "FAILED", [])   # a sweep's failed jobs (the exit status) stay with its own call
    # torch's record() points the fault handler at sys.stderr, which has no file descriptor under capsys (a warning);
    # the fault handler pytest set up stays
    monkeypatch.setattr(faulthandler, "enable", lambda *a, **k: None)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        cli.main()
    except SystemExit as e:
        return 0 if e.code is None else e.code
    finally:   # Hydra's logging setup would keep writing to this test's captured stderr after the test
        root.handlers[:] = handlers
        root.setLevel(level)
    return 0


def preset_on_digits(option: str, steps: int = 2) -> list[str]:
    """Overrides that train preset `option` for a few steps: real-data presets run on digits-shaped data at
    their own resolution, narrowed (model.ch=4, and model.depth=1 where the model has them); the recipe (model, loss, regularizers, optimizer) is the preset's."""
    preset = compose_cfg([f"+experiment={option}"])
    over = [f"+experiment={option}", f"train.steps={steps}", "train.epochs=null", "train.n_critic=1"]
    if preset.dataset.name != "digits":
        over += ["dataset=digits", f"dataset.image_size={preset.dataset.image_size}"]
        over += ["model.ch=4"] if "ch" in preset.model else []
        over += ["model.depth=1"] if "depth" in preset.model else []   # BigGAN-deep: one block per stage
        if preset.model.name == "attention_wgan":
            over += ["model.d_ch=4", "regularizer.feature_diversity.embedding=discriminator"]
    return over


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))  # _x: shared bases


@functools.cache
def distinct_recipes() -> tuple[str, ...]:
    """One preset per distinct recipe (model, loss, regularizers). Presets that share a recipe (e.g.
    biggan_diffaug_cifar10, _digits and _sprites) run the same code and differ only in sizes, data and whether
    self-attention runs (test_hardware compiles self-attention on its own); the cheapest (a digits one) stands for
    them. Mode seeking does not make a recipe of its own: the BigGAN digits presets add it to their paper's
    regularizers."""
    chosen: dict[tuple, str] = {}
    for option in sorted(options("experiment"), key=lambda o: (not o.endswith("_digits"), o)):
        cfg = compose_cfg([f"+experiment={option}"])
        model, regs = cfg.model.name, frozenset(cfg.get("regularizer") or {}) - {"mode_seeking"}
        chosen.setdefault((model, cfg.loss.name, regs), option)
    return tuple(sorted(set(chosen.values())))


@pytest.fixture
def run_tiny(tmp_path):
    def _run(overrides=(), sub="run", tiny_model=True):
        return run(tmp_path / sub, overrides, tiny_model)
    return _run


def d_context(d, real, fake, aug, y=None):
    """A D-step context as the trainer builds it, with D's outputs on `real` and `fake` and the augmentation
    parameters `aug` ({"real": ..., "fake": ...})."""
    from ganlab.regularizers.base import StepContext
    from ganlab.track.stats import Stats
    stats = Stats()
    ctx = StepContext(step=0, phase="d", d=d, stats=stats, run_d=lambda x, y, side, ctx, augment=True: d(x, y),
                      real=real, y_real=y, fake=fake, y_fake=y)
    ctx.aug = aug
    ctx.out_real, ctx.out_fake = d(real, y), d(fake, y)
    return ctx
