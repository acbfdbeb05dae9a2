"""One generic GAN trainer. It receives constructed objects and runs the step in DESIGN.md:

    D step(s): fake = G(z, y).detach(); real' = mix_real(real); D sees augment(real'), augment(fake)
               loss = loss.d(out_r, out_f) + sum(reg.d_terms(ctx))
    G step:    out_f = D(augment(G(z, y))); loss = loss.g(out_f) + sum(reg.g_terms(ctx))
    then EMA(G), schedules, regularizer updates; every k steps log, sample, evaluate, checkpoint.

What a run writes besides checkpoints: train/outputs.py; what a checkpoint holds and how it resumes: train/state.py."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
from tqdm import tqdm

from ganlab.data.base import DeviceBatches, label_prior
from ganlab.data.stream import LoaderBatches
from ganlab.errors import Fault
from ganlab.losses import AdversarialLoss
from ganlab.metrics.sampling import GSampler
from ganlab.models.base import DOut, sample_prior
from ganlab.regularizers.base import Regularizer, StepContext
from ganlab.track.console import Console
from ganlab.track.images import save_grid
from ganlab.track.stats import Stats
from ganlab.track.timing import Timer
from ganlab.train import state
from ganlab.train.diagnostics import side_effect_free
from ganlab.train.distributed import Dist
from ganlab.train.ema import EMA
from ganlab.train.hardware import Hardware
from ganlab.train.outputs import Evaluations, RunOptions, SampleGrid, write_summary
from ganlab.train.preemption import StopRequest
from ganlab.train.schedules import Schedule
from ganlab.train.settings import TrainSettings


class NonFiniteLoss(Fault):
    """A loss term turned NaN or inf: the run stops before it writes a checkpoint from those weights."""


@dataclass
class Parts:
    """What the step runs: networks, loss, regularizers (with heads), optimizers with schedules, batches."""
    g: nn.Module
    d: nn.Module
    loss: AdversarialLoss
    regs: list[Regularizer]
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sched_g: Schedule
    sched_d: Schedule
    data: DeviceBatches | LoaderBatches


class Trainer:
    def __init__(self, parts: Parts, settings: TrainSettings, hardware: Hardware, run: RunOptions, *,
                 stats: Stats | None = None, dist: Dist | None = None, sampler: GSampler | None = None):
        """`stats` is the channel setup() opened the regularizers' readers on; `dist` what this rank knows of
        the others; `sampler` how grids sample G (eval.g_mode), the evaluator's own."""
        settings.validate()
        g, d, self.regs = parts.g, parts.d, list(parts.regs)
        self.g, self.d, self.loss, self.data = g, d, parts.loss, parts.data
        self.g_fn, self.d_fn = hardware.compiled(g), hardware.compiled(d)
        # DDP only where gradients are averaged: G in the G step, D (+ heads) in run_d's D step (distributed.py)
        self.dist = dist or Dist()
        self.g_ddp, self.d_ddp = self.dist.wrap_models(g, d, self.regs, hardware) or (self.g_fn, self.d_fn)
        self.d_for = {"d": self.d_ddp, "g": self.d_fn}
        self.opt_g, self.opt_d, self.sched_g, self.sched_d = parts.opt_g, parts.opt_d, parts.sched_g, parts.sched_d
        self.scaler_g, self.scaler_d = hardware.scaler(), hardware.scaler()
        self.s, self.hw, self.run = settings, hardware, run
        self.run_dir, self.loggers, self.progress = Path(run.run_dir), list(run.loggers), run.progress
        self.ema = EMA(g, settings.ema.decay, settings.ema.start) if settings.ema.enabled else None
        self.stats = stats if stats is not None else Stats(self.dist)
        self.stats.open("log")
        self.sched_g.attach(self.stats, "loss/g/total")
        self.sched_d.attach(self.stats, "loss/d/total")
        self.step, self.images_seen, self.elapsed, self.last_row = 0, 0, 0.0, {}   # last_row: the last logged row
        self.timer = Timer()   # this process's seconds per part (summary.json time_s); diagnostics only
        self._watch: list[tuple[int, str, torch.Tensor]] = []   # loss terms awaiting a finiteness check
        self.num_classes = getattr(g, "num_classes", 0)
        self.class_weights = label_prior(self.data.data, settings.label_prior, hardware.device) if self.num_classes else None
        self.grid = SampleGrid(sampler or GSampler(device=hardware.device), g, settings.samples_per_class)
        self.console = Console(self.run_dir, enabled=self.dist.main and run.progress)   # what the user reads
        self.evals = Evaluations(run.evaluator, run.eval_every, hardware.device, self.console)

    # ---- the step ---------------------------------------------------------------------------
    def run_d(self, x: torch.Tensor, y: torch.Tensor | None, side: str, ctx: StepContext,
              augment: bool = True, eager: bool = False) -> DOut:
        """The single place where D sees images: every augmenting regularizer runs here, in order
        (augment=False for clean passes and input-gradient penalties: same precision and memory format).
        eager=True runs D's plain module even under hardware.compile: a compiled graph has no double
        backward, which input-gradient penalties (GP, R1) need."""
        if augment:
            params: dict[str, torch.Tensor] = {}
            for r in self.regs:
                x, p = r.augment(x)
                params.update(p)
            ctx.aug[side] = params
        if self.hw.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.hw.autocast():   # clean and penalty passes skip DDP's forward (double backward); DDP still averages
            out = (self.d if eager else self.d_for[ctx.phase] if augment else self.d_fn)(x, y)
        out.logits = out.logits.float()   # losses and regularizer heads run outside autocast, in fp32
        out.pixel_logits = None if out.pixel_logits is None else out.pixel_logits.float()
        out.features = None if out.features is None else out.features.float()
        return out

    def _context(self, phase: str, **kw) -> StepContext:
        return StepContext(step=self.step, phase=phase, d=self.d_fn, stats=self.stats, run_d=self.run_d,
                           generate=self._fake, run_g=self.run_g, epoch=self.images_seen / len(self.data.data), **kw)

    def run_g(self, z: torch.Tensor, y: torch.Tensor | None, g=None) -> torch.Tensor:
        """G's images for (z, y) in the trainer's precision, in fp32. g defaults to the plain (or compiled) G,
        not the DDP wrapper: a second G pass in one step then adds its gradient to the first's before
        DDP averages it."""
        with self.hw.autocast():
            return (self.g_fn if g is None else g)(z, y).float()   # not `g or`: a compiled module has no bool()

    def _fake(self, batch: int, g=None):
        z, y = sample_prior(batch, self.g.z_dim, self.num_classes, self.hw.device, class_weights=self.class_weights)
        return self.run_g(z, y, g), z, y

    def _sum_terms(self, phase: str, adv: torch.Tensor, stats: dict, terms: dict) -> torch.Tensor:
        for name, value in stats.items():
            self.stats.report(f"loss/{phase}/{name}", value)
        total = adv
        for name, value in terms.items():
            self.stats.report(f"loss/{phase}/{name}", value)
            self._watch.append((self.step, f"loss/{phase}/{name}", value.detach()))
            total = total + value
        self._watch.append((self.step, f"loss/{phase}/{self.loss.name}", adv.detach()))
        self.stats.report(f"loss/{phase}/total", total)
        return total

    def d_step(self) -> None:
        for group in self.opt_d.param_groups:   # D's and its heads' weights, but not those FreezeD keeps fixed
            for p in group["params"]:
                p.requires_grad_(True)
        for _ in range(self.s.n_critic):
            self.opt_d.zero_grad(set_to_none=True)
            for _ in range(self.s.accum_d):
                real, y = self.data.next()
                with torch.no_grad():
                    fake, z_fake, y_fake = self._fake(len(real))
                ctx = self._context("d", real=real, y_real=y, fake=fake, y_fake=y_fake, z_fake=z_fake)
                for r in self.regs:
                    ctx.real = r.mix_real(ctx.real, ctx)
                ctx.out_real = self.run_d(ctx.real, ctx.y_real, "real", ctx)
                ctx.out_fake = self.run_d(fake, y_fake, "fake", ctx)
                adv, stats = self.loss.d(ctx.out_real, ctx.out_fake)
                terms = {k: v for r in self.regs for k, v in r.d_terms(ctx).items()}
                total = self._sum_terms("d", adv * ctx.adv_weight, stats, terms)
                self.scaler_d.scale(total / self.s.accum_d).backward()
                self.stats.report("d/sign_real", ctx.out_real.logits.sign())
                self.stats.report("D(x)", torch.sigmoid(ctx.out_real.logits))
                self.stats.report("D(G(z))/d_step", torch.sigmoid(ctx.out_fake.logits))
                self.images_seen += len(real) * self.dist.world
            self.scaler_d.step(self.opt_d)
            self.scaler_d.update()

    def g_step(self) -> StepContext:
        self.d.requires_grad_(False)   # no grads for D's (or its heads') weights in the G step
        for r in self.regs:
            r.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        for _ in range(self.s.accum_g):
            fake, z, y = self._fake(self.s.batch_size, self.g_ddp)
            ctx = self._context("g", fake=fake, y_fake=y, z_fake=z)
            ctx.out_fake = self.run_d(fake, y, "fake", ctx)
            adv, stats = self.loss.g(ctx.out_fake)
            terms = {k: v for r in self.regs for k, v in r.g_terms(ctx).items()}
            total = self._sum_terms("g", adv * ctx.adv_weight, stats, terms)
            self.scaler_g.scale(total / self.s.accum_g).backward()
            self.stats.report("D(G(z))/before_g_step", torch.sigmoid(ctx.out_fake.logits))
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        self._last_g = (z, y)
        return ctx

    def iteration(self) -> StepContext:
        """D step(s), G step, EMA, schedules, regularizer updates: fit's loop, the tuner and the step bench run it."""
        self.d_step()
        ctx = self.g_step()
        self.step += 1
        self.dist.sync_buffers(self.g, self.d, *self.regs)   # rank 0's BN statistics, so all ranks match
        if self.ema:
            self.ema.update(self.g, self.step)
        for sched in (self.sched_g, self.sched_d):
            sched.on_step(self.step)
        for r in self.regs:
            r.update(ctx)
        return ctx

    # ---- the loop ---------------------------------------------------------------------------
    def fit(self) -> dict:
        state.resume(self)
        start_step, t0 = self.step, time.time()
        if self.step == 0 and self.dist.main:
            save_grid(self.data.preview(64), self.run_dir / "samples" / "real.png", 8)
        bar = tqdm(total=self.s.steps, initial=self.step, disable=not self.progress, desc="train",
                   unit="it", dynamic_ncols=True, mininterval=2.0)
        status, error = "crashed", None
        with StopRequest() as stop:   # SIGTERM / SIGUSR1 / Ctrl-C: finish the step, save, stop (train/preemption.py)
            try:
                while self.step < self.s.steps:
                    with self.timer("train"):
                        ctx = self.iteration()
                    bar.update(1)
                    last = self.step == self.s.steps
                    if self.step % self.s.log_every == 0 or last:
                        with self.timer("log"):
                            row = self.log(ctx, time.time() - t0, start_step)
                        bar.set_postfix({"img/s": f"{row['img_s']:.0f}", "d": f"{row.get('loss/d/total', 0):.3f}",
                                         "g": f"{row.get('loss/g/total', 0):.3f}"})
                    if self.step % self.s.sample_every == 0 or last:
                        with self.timer("samples"):
                            self.sample()
                    if self.evals.due(self.step, last):
                        with self.timer("eval"):
                            self.evaluate()
                    # every rank stops at one step; under DDP the flag is shared at log steps only (no sync per step)
                    check = not self.dist.active or self.step % self.s.log_every == 0
                    stopping = not last and check and self.dist.any_true(stop.signum is not None)
                    if self.step % self.s.ckpt_every == 0 or last or stopping:
                        self.check_finite()
                        with self.timer("checkpoints"):
                            state.save(self, "last.pt")
                    if stopping:
                        break
                status = "finished" if self.step == self.s.steps else "interrupted" if stop.name == "SIGINT" else "preempted"
            except KeyboardInterrupt:
                status = "interrupted"
                raise
            except Exception as e:
                error = e   # summary.json says why the run crashed
                raise
            finally:
                bar.close()
                self.elapsed += time.time() - t0
                self.summary = write_summary(self.run_dir, self.dist.main, self.timer, status, error, step=self.step,
                                             steps=self.s.steps, images_seen=self.images_seen, final=self.last_row,
                                             wall_time_s=self.elapsed, signal=stop.name)
                for logger in self.loggers:
                    logger.close()
        return self.summary

    def log(self, ctx: StepContext, seconds: float, start_step: int) -> dict:
        self.check_finite()
        z, y = self._last_g
        # same z, after G's update; augmenters draw from a forked RNG, no buffer changes
        with torch.no_grad(), side_effect_free(self.hw.device, self.d, self.g, *self.regs):
            self.stats.report("D(G(z))/after_g_step", torch.sigmoid(self.run_d(self.g_fn(z, y), y, "fake", ctx).logits))
        row = {"step": self.step, "kimg": self.images_seen / 1000, **self.stats.read("log")}
        row["lr_g"], row["lr_d"] = self.opt_g.param_groups[0]["lr"], self.opt_d.param_groups[0]["lr"]
        row["global_batch"] = self.s.batch_size * self.dist.world
        imgs_per_it = row["global_batch"] * self.s.n_critic * self.s.accum_d
        row["img_s"] = imgs_per_it * (self.step - start_step) / max(seconds, 1e-9)
        row["time"] = self.elapsed + seconds
        for logger in self.loggers:
            logger.log(row)
        self.last_row = row
        return row

    def check_finite(self) -> None:
        """One host sync per check: find the first non-finite loss term since the last check."""
        if not self._watch:
            return
        finite = self.dist.all_true(torch.isfinite(torch.stack([t.float() for _, _, t in self._watch])))
        watched, self._watch = self._watch, []
        if not bool(finite.all()):
            step, name, value = watched[int((~finite).nonzero()[0])]
            last = self.run_dir / "checkpoints" / "last.pt"
            kept = f"the last good checkpoint is kept ({last})" if last.is_file() else \
                f"no checkpoint was written before it (train.ckpt_every={self.s.ckpt_every})"
            raise NonFiniteLoss(f"non-finite loss: {name} = {float(value)} at step {step + 1}; {kept}")

    @property
    def g_eval(self) -> nn.Module:
        return self.ema.model if self.ema else self.g

    def sample(self) -> Path | None:
        """The fixed-noise grid from G (EMA when on), written by rank 0 and shown to its loggers."""
        path = self.run_dir / "samples" / f"step_{self.step:07d}.png"
        path = self.grid.draw(self.g_eval, self.hw.autocast, path if self.dist.main else None)
        for logger in self.loggers if path else ():
            logger.log_images("samples", path, self.step)
        return path

    def evaluate(self) -> dict:
        result, best = self.evals.run(self.g_eval, self.d, self.step, self.images_seen)
        for logger in self.loggers:   # rank 0's loggers only; jsonl writes eval.jsonl
            logger.log_eval(result)
        if best:
            self.check_finite()
            state.save(self, "best.pt")
        return result
