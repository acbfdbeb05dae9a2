"""ganlab-train: the Hydra entry point. `train(cfg, run_dir)` is importable and Hydra-free to call."""
from __future__ import annotations

import time

STARTED = time.time()   # before torch and Hydra are imported: the first run's start-up counts from here
_clock = {"since": STARTED}   # where the next run's start-up counts from (a sweep runs several jobs in one process)

import contextlib
import json
import math
import os
import shutil
import sys
import traceback
from pathlib import Path
from typing import Callable

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ganlab import CONF_DIR
from ganlab.cli import sweeps
from ganlab.cli.build import build
from ganlab.cli.choices import compose_config, help_text, prefer_command_line_groups
from ganlab.cli.errors import command, exit_on_user_error
from ganlab.errors import user_input
from ganlab.track import provenance
from ganlab.track.lock import run_lock
from ganlab.train import state
from ganlab.train.debug import profiled
from ganlab.train.launch import launch, rank_overrides, ranks_from_env
from ganlab.train.outputs import tell_end, tell_start
from ganlab.train.preemption import forward

EXIT_CTRL_C = 130   # the shell's status for a process ended by SIGINT
PENDING = ".hydra-pending-"   # Hydra writes a command's .hydra/ files here first (hydra_files)


def pending_hydra_files(argv: list[str]) -> list[str]:
    """The override that has Hydra write this command's .hydra/ files aside, unless the user chose a subdir."""
    if any(a.lstrip("+~").startswith("hydra.output_subdir=") for a in argv):
        return []
    return [f"hydra.output_subdir={PENDING}{os.getpid()}"]


def check_regularizer_settings(cfg: DictConfig) -> None:
    """A preset's `regularizer.apa.kimg` left behind after the command line chose `regularizer=[]`
    would silently switch APA back on. A selected option carries every key of its YAML; an entry
    missing some of them was never selected, so refuse it."""
    for key, entry in (cfg.get("regularizer") or {}).items():
        option = CONF_DIR / "regularizer" / f"{key}.yaml"
        if not option.is_file():
            continue  # registered outside conf/ (e.g. by a plugin or a test): nothing to compare with
        missing = set(OmegaConf.load(option)) - set(entry or {})
        if missing:
            raise ValueError(
                f"regularizer.{key} has settings but '{key}' is not selected in the regularizer list; "
                f"add it (regularizer=[...,{key}]) or drop its settings. When sweeping presets, sweep "
                f"+experiment=A,B rather than regularizer=...")


def train(cfg: DictConfig, run_dir: str | Path, accepted: Callable[[], None] = lambda: None) -> dict:
    """Build everything from the config and train; returns the run's summary. Errors raised while
    building (bad values, missing files) are user-input errors; errors while training are not.
    `accepted` runs once the run is built and a resume's config checked, before the run directory is
    rewritten (ganlab-train keeps Hydra's new .hydra/ files then). hardware.devices=N outside torchrun/SLURM
    starts N ranks here (each runs this function) and returns rank 0's summary."""
    with user_input():
        check_regularizer_settings(cfg)
    devices = (cfg.get("hardware") or {}).get("devices", 1)
    if isinstance(devices, int) and devices > 1 and ranks_from_env() is None:
        accepted()
        launch(devices, train, (cfg, str(run_dir)))
        return json.loads((Path(run_dir) / "summary.json").read_text())
    with user_input():
        trainer = build(cfg, run_dir)
    trainer.timer.add("startup", time.time() - _clock["since"])
    finished = fitting = False
    try:
        # a resume is loaded and its config compared before the run directory is rewritten (provenance, .hydra/):
        # a refused resume leaves the directory as it was; fit() then goes on from the resumed step
        state.resume(trainer)
        trainer.run.resume_from = None
        accepted()
        if trainer.dist.main:
            with trainer.timer("provenance"):
                provenance.write(trainer.run_dir, trainer.hw.device)
        tell_start(trainer)
        fitting = True
        if cfg.debug.profile:
            with profiled(trainer.run_dir):
                summary = trainer.fit()
        else:
            summary = trainer.fit()
        finished = True
        tell_end(trainer, summary)
        return summary
    finally:
        trainer.dist.close(finished)
        _clock["since"] = time.time()
        if fitting:
            trainer.console.say(trainer.timer.line())


def objective(summary: dict) -> float:
    """What a sweeper minimises: the final FID when evaluated, else the final G loss."""
    ev = summary.get("final_eval") or {}
    if isinstance(ev.get("fid"), (int, float)):
        return float(ev["fid"])
    return float(summary.get("final", {}).get("loss/g/total", math.nan))


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def hydra_main(cfg: DictConfig) -> float:
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    lead = (ranks_from_env() or (0,))[0] == 0   # rank 0 (or the only process) holds the run directory's lock
    try:
        with hydra_files(run_dir, hc.output_subdir) as keep, \
                run_lock(run_dir) if lead else contextlib.nullcontext():
            return run_job(cfg, hc, run_dir, keep)
    except Exception as e:   # a directory in use: one line, before Hydra prints "Error executing job ..."
        if hc.mode != RunMode.MULTIRUN:
            exit_on_user_error("ganlab-train", e)
        raise


@contextlib.contextmanager
def hydra_files(run_dir: Path, subdir: str | None):
    """Hydra wrote this command's .hydra/ files to `subdir` (PENDING, main() asks for it): yield a function that
    moves them to .hydra/ (once the run is accepted); otherwise they are removed, and a refused command leaves
    the run's own .hydra/ as it was."""
    pending = run_dir / subdir if subdir and subdir.startswith(PENDING) else None

    def keep() -> None:
        if pending is not None and pending.is_dir():
            (run_dir / ".hydra").mkdir(exist_ok=True)
            for f in pending.iterdir():
                os.replace(f, run_dir / ".hydra" / f.name)
            pending.rmdir()
    try:
        yield keep
    finally:
        if pending is not None:
            shutil.rmtree(pending, ignore_errors=True)


def run_job(cfg: DictConfig, hc, run_dir: Path, keep: Callable[[], None]) -> float:
    writer = hc.output_subdir is not None   # None on ranks > 0 under torchrun/srun: rank 0 writes .hydra/ and speaks
    if prefer_command_line_groups(cfg, hc.overrides.task, CONF_DIR,
                                  lambda overrides: hydra.compose(config_name="train", overrides=overrides), writer) \
            and writer:
        OmegaConf.save(cfg, run_dir / hc.output_subdir / "config.yaml")   # the run dir describes what runs
    try:
        summary = train(cfg, run_dir, keep)
        if summary.get("status") == "preempted":   # checkpointed: now let the signal do what it did before
            print(f"[ganlab] {summary['signal']} at step {summary['step']}: checkpoints/last.pt written; the same "
                  f"command continues the run (resume=auto)", file=sys.stderr)
            forward(summary["signal"])
        if summary.get("status") == "interrupted":   # Ctrl-C, checkpointed like a SIGTERM
            print(f"[ganlab] Ctrl-C at step {summary['step']}: checkpoints/last.pt written; the same command "
                  f"continues the run (resume=auto)", file=sys.stderr)
            sys.exit(EXIT_CTRL_C)
        return objective(summary)
    except KeyboardInterrupt:   # a second Ctrl-C, or one before training started: no traceback
        print("[ganlab] stopped at once by Ctrl-C; checkpoints written before are kept (the same command "
              "continues from checkpoints/last.pt)", file=sys.stderr)
        sys.exit(EXIT_CTRL_C)
    except Exception as e:
        if hc.mode != RunMode.MULTIRUN:
            exit_on_user_error("ganlab-train", e)   # before Hydra prints "Error executing job ..."
            raise
        keep()   # in a sweep the failed job's directory keeps what was asked of it
        # In a sweep one failed job must not stop the others: record it and move on.
        (run_dir / "error.txt").write_text(traceback.format_exc())
        summary = run_dir / "summary.json"
        if not summary.is_file():   # it failed before training started
            summary.write_text(json.dumps({"status": "crashed", "error": f"{type(e).__name__}: {e}"}, indent=2))
        print(f"[ganlab] job {hc.job.num} failed ({type(e).__name__}: {e}); see {run_dir / 'error.txt'}", file=sys.stderr)
        return math.nan


def job_config_request(argv: list[str]) -> list[str] | None:
    """The overrides of `ganlab-train OVERRIDES --cfg job` (None for any other command). ganlab prints that
    config itself: Hydra's own print would show a preset's settings of a group the command line chose,
    which the run replaces (choices.prefer_command_line_groups)."""
    rest = list(argv)
    for flag in (["--cfg", "job"], ["-c", "job"], ["--cfg=job"]):
        for i in range(len(rest) - len(flag) + 1):
            if rest[i:i + len(flag)] == flag:
                del rest[i:i + len(flag)]
                return None if any(a.startswith("-") for a in rest) else rest   # other flags: Hydra's own print
    return None


def after_overrides(argv: list[str]) -> int:
    """Where added overrides join the user's: right after their last (`KEY=VALUE`, `~KEY`), so that they win over
    the user's (the rank overrides rely on that) and argparse sees one run of positionals whether flags come
    before them (`-m a=1,2`) or after (`a=1 --cfg job`)."""
    return next((i + 1 for i in range(len(argv) - 1, 0, -1)
                 if ("=" in argv[i] or argv[i].startswith("~")) and not argv[i].startswith("-")), len(argv))


def main() -> None:
    """The console script: user errors as one line (cli/errors.py). Under torchrun or srun, ranks > 0
    make no Hydra output directory of their own (the Hydra + DDP dated-directory pitfall): rank 0's run
    directory is broadcast to them."""
    if {"--help", "-h"} & set(sys.argv[1:]):   # Hydra's own help lists the shared `_` bases as options
        print(help_text())
        return
    overrides = job_config_request(sys.argv[1:])
    if overrides is not None:
        command("ganlab-train", hydra=True)(lambda: print(OmegaConf.to_yaml(compose_config(overrides, notify=True)), end=""))()
        return
    from torch.distributed.elastic.multiprocessing.errors import record  # torchrun names the failed rank
    extra = rank_overrides(sys.argv[1:]) or pending_hydra_files(sys.argv[1:])
    at = after_overrides(sys.argv)
    sys.argv[at:at] = extra
    record(command("ganlab-train", hydra=True)(hydra_main))()
    if sweeps.FAILED:   # a sweep with a failed job: listed by cli/sweeps.py, and the exit status says so
        sys.exit(1)

if __name__ == "__main__":
    main()
