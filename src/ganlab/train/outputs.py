"""What a run writes of itself besides checkpoints, and the options that say where: the fixed-noise sample
grid, the evaluations (when they are due, and which is the best so far), summary.json with the run's plots.
None of it changes training (DESIGN.md, Contracts): the grid's noise comes from its own RNG, and an
evaluation forks the RNG and leaves every buffer as it found it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import torch
import torch.nn as nn

from ganlab.errors import NoSpace
from ganlab.metrics.sampling import GSampler
from ganlab.track.console import Console, end_lines, eval_line, start_lines
from ganlab.track.doctor import diagnose, verdict_lines
from ganlab.track.images import save_grid
from ganlab.track.plots import plot_run
from ganlab.track.summary import summarize, write
from ganlab.track.timing import Timer
from ganlab.train.diagnostics import frozen_buffers

GRID_SEED = 12345   # the grid's noise is the same in every run of a config, and drawing it moves no training RNG


class Evaluator(Protocol):
    def evaluate(self, g: nn.Module, d: nn.Module, step: int) -> dict: ...


class Logger(Protocol):
    def log(self, row: dict) -> None: ...
    def log_images(self, name: str, path: Path, step: int) -> None: ...
    def log_eval(self, result: dict) -> None: ...
    def close(self) -> None: ...


@dataclass
class RunOptions:
    """Run-level options: where the run writes and whom it reports to, how often it evaluates, and what it
    resumes from (a resume whose config differs in one of `resume_keys` is refused)."""
    run_dir: Path
    loggers: list[Logger] = field(default_factory=list)
    evaluator: Evaluator | None = None
    eval_every: int = 0
    config: dict = field(default_factory=dict)   # the resolved config, saved in every checkpoint
    resume_keys: tuple[str, ...] = ()
    resume_from: Path | None = None
    progress: bool = True


class SampleGrid:
    """The fixed-noise grid, rows = classes when G is conditional, sampled as evaluation samples G
    (eval.g_mode: batch, running or standing statistics)."""

    def __init__(self, sampler: GSampler, g: nn.Module, per_class: int):
        self.sampler, self.per_class = sampler, per_class
        self.z, self.y = sampler.grid_noise(g, per_class, seed=GRID_SEED)

    @torch.no_grad()
    def draw(self, g: nn.Module, autocast: Callable, path: Path | None) -> Path | None:
        """Every rank generates (SyncBatchNorm calls are collective); the one given a `path` writes it."""
        with self.sampler.prepared(g):
            imgs = self.sampler.images(g, self.z, self.y, autocast)
        return save_grid(imgs, path, self.per_class) if path is not None else None


class Evaluations:
    """When the run evaluates (every `every` steps and at the last one), and the best FID so far (the
    trainer writes best.pt when it improves)."""

    def __init__(self, evaluator: Evaluator | None, every: int, device: torch.device, console: Console | None = None):
        self.evaluator, self.every, self.device = evaluator, every, device
        self.console = console or Console(enabled=False)   # one line per evaluation, above the progress bar
        self.best_fid = float("inf")

    def due(self, step: int, last: bool) -> bool:
        return bool(self.evaluator and self.every and (step % self.every == 0 or last))

    def run(self, g: nn.Module, d: nn.Module, step: int, images_seen: int) -> tuple[dict, bool]:
        """-> (the result, whether its FID is the best so far); rank 0's result, on every rank."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), frozen_buffers(g), frozen_buffers(d):
            result = {"step": step, "kimg": images_seen / 1000, **self.evaluator.evaluate(g, d, step)}
        self.console.say(eval_line(result))
        fid = result.get("fid")
        best = isinstance(fid, (int, float)) and fid < self.best_fid
        if best:
            self.best_fid = fid
        return result, best


def write_summary(run_dir: Path, main: bool, timer: Timer, status: str, error: BaseException | None = None,
                  **facts) -> dict:
    """The run's plots and summary.json (rank 0 writes; every rank gets the summary back). `facts` are
    summarize's: step, steps, images_seen, wall_time_s, final, signal. A run that stopped on `error` records it;
    a full disk skips the plots and still writes a `crashed` summary if it fits."""
    full = None
    if main:
        try:
            with timer("plots"):
                plot_run(run_dir)
        except NoSpace as e:
            full, status, error = e, "crashed", error or e
    summary = summarize(run_dir, status, time_s=timer.rounded(),
                        error=f"{type(error).__name__}: {error}" if error else None, **facts)
    if main:
        try:
            write(run_dir, summary)
        except NoSpace as e:
            full = full or e
    if full is not None and (error is None or error is full):   # the disk filled up here: the error to report
        raise full
    return summary


def tell_start(t) -> None:
    """The trainer `t`'s first console lines: where it writes, what it trains on which hardware, for how long."""
    hw, cfg = t.hw, t.run.config
    threads = torch.get_num_threads()
    device = torch.cuda.get_device_name(hw.device) if hw.device.type == "cuda" else \
        f"cpu, {threads} thread{'s' if threads > 1 else ''}"
    settings = ", ".join([hw.precision] + [name for name, on in (("channels_last", hw.channels_last),
                                                                  ("compiled", hw.compile)) if on])
    data = cfg.get("dataset", {})
    source = f"{data.get('name', 'data')}{' ' + str(data['root']) if data.get('name') == 'imagefolder' else ''}"
    classes = f", {t.num_classes} classes" if t.num_classes else ""
    what = f"{cfg.get('model', {}).get('name', type(t.g).__name__)} on {source} ({len(t.data.data):,} images{classes})"
    per_step = t.s.batch_size * t.s.n_critic * t.s.accum_d * t.dist.world
    t.console.say(*start_lines(t.run_dir, device, settings, t.s.steps, t.step, per_step, what))


def tell_end(t, summary: dict) -> None:
    """The trainer `t`'s last console lines: the results, the doctor's verdict, the files, what to run next."""
    try:
        verdict = verdict_lines(diagnose(t.run_dir))
    except Exception as e:   # the doctor reads files only; a reading error must not fail a finished run
        verdict = [f"doctor: could not read the run ({type(e).__name__}: {e})"]
    grids = sorted((t.run_dir / "samples").glob("step_*.png"))
    t.console.say(*end_lines(t.run_dir, summary, verdict, grids[-1] if grids else None))
