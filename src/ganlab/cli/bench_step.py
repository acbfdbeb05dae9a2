"""ganlab-bench step: training speed per recipe at its real resolution, on synthetic in-memory data of
that shape (no download), in one run:

  img/s of Trainer.fit for fp32, bf16 autocast, channels_last and torch.compile;
  the trainer's overhead: Trainer.fit img/s / the img/s of a bare loop driving the same modules with
  the same step (no statistics channel, logging, finiteness checks, buffer sync or progress bar);
  scaling efficiency: img/s with 2 ranks / (2 x img/s with 1 rank): gloo on the CPU, nccl on GPUs
  when there are several.

img/s counts real images through D (batch x n_critic x accumulation x ranks per iteration), the
figure the trainer logs. Each measurement first runs warm-up iterations (compilation, allocator).
"""
from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf, open_dict

from ganlab.cli.bench_recipes import digits_presets
from ganlab.cli.build import build
from ganlab.cli.choices import compose_config
from ganlab.data.base import ImageSet
from ganlab.models.base import sample_prior
from ganlab.registry import DATASETS
from ganlab.regularizers.base import StepContext
from ganlab.track.stats import Stats

# channels and classes of each dataset, so the synthetic set has the real shape
SHAPES = {"digits": (1, 10), "mnist": (1, 10), "cifar10": (3, 10), "cifar100": (3, 100), "svhn": (3, 10),
          "imagefolder": (3, 0)}
SETTINGS = {"fp32": [], "bf16": ["hardware.precision=bf16"], "channels_last": ["hardware.channels_last=true"],
            "compile": ["hardware.compile=true"]}


@DATASETS.register("bench_synthetic")
def synthetic(image_size: int = 32, channels: int = 3, num_classes: int = 0, n: int = 2048) -> ImageSet:
    """Random uint8 images (n, channels, image_size, image_size) and labels: the shape of a real set."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, channels, image_size, image_size), dtype=torch.uint8, generator=gen)
    labels = torch.randint(num_classes, (n,), generator=gen) if num_classes else None
    return ImageSet(images, labels, num_classes, "bench_synthetic")


def recipe_cfg(recipe: str, overrides: list[str]):
    """The preset's config with its dataset swapped for synthetic data of the same shape."""
    cfg = compose_config([f"+experiment={recipe}", "progress=false", "eval=none", "logger=jsonl", *overrides])
    name = cfg.dataset.get("name", "imagefolder")
    channels, classes = SHAPES.get(name, (3, 0))
    channels = cfg.dataset.get("channels", channels)
    classes = classes if cfg.dataset.get("labels", "folders" if classes else "none") != "none" else 0
    with open_dict(cfg):
        cfg.dataset = OmegaConf.create({"name": "bench_synthetic", "image_size": cfg.dataset.image_size,
                                        "channels": channels, "num_classes": classes})
    return cfg


def fit_rate(cfg, steps: int, warmup: int, run_dir: Path) -> tuple[float, object]:
    """Trainer.fit's own img/s over `steps` iterations after `warmup` ones; -> (img/s, trainer)."""
    with open_dict(cfg):
        cfg.train.steps, cfg.train.epochs, cfg.resume = warmup, None, None   # steps, not the preset's epochs
        cfg.train.log_every = cfg.train.sample_every = cfg.train.ckpt_every = 10 ** 9
    trainer = build(cfg, run_dir)
    trainer.fit()
    trainer.s.steps = warmup + steps
    trainer.fit()                      # resume_from is None: it continues from the warm-up's step
    return trainer.last_row["img_s"], trainer


def bare_rate(t, steps: int, warmup: int, start: int = 0) -> float:
    """The same modules and the same step as Trainer.d_step/g_step, written as a plain loop, from step `start`."""
    stats, s, hw = Stats(), t.s, t.hw   # no reader opened: reports cost nothing

    def run_d(x, y, side, ctx, augment=True, eager=False):
        if augment:
            ctx.aug[side] = {}
            for r in t.regs:
                x, p = r.augment(x)
                ctx.aug[side].update(p)
        if hw.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with hw.autocast():
            out = (t.d if eager else t.d_fn)(x, y)
        out.logits = out.logits.float()
        out.pixel_logits = out.pixel_logits.float() if out.pixel_logits is not None else None
        out.features = out.features.float() if out.features is not None else None
        return out

    def fake(n):
        z, y = sample_prior(n, t.g.z_dim, t.num_classes, hw.device)
        with hw.autocast():
            return t.g_fn(z, y).float(), z, y

    def one(step):
        for m in (t.d, *t.regs):
            m.requires_grad_(True)
        for _ in range(s.n_critic):
            t.opt_d.zero_grad(set_to_none=True)
            for _ in range(s.accum_d):
                real, y = t.data.next()
                with torch.no_grad():
                    f, zf, yf = fake(len(real))
                ctx = StepContext(step, "d", t.d_fn, stats, run_d, t._fake, real=real, y_real=y, fake=f, y_fake=yf,
                                  z_fake=zf)
                for r in t.regs:
                    ctx.real = r.mix_real(ctx.real, ctx)
                ctx.out_real, ctx.out_fake = run_d(ctx.real, ctx.y_real, "real", ctx), run_d(f, yf, "fake", ctx)
                terms = sum(v for r in t.regs for v in r.d_terms(ctx).values())
                loss = t.loss.d(ctx.out_real, ctx.out_fake)[0] * ctx.adv_weight + terms
                (loss / s.accum_d).backward()
            t.opt_d.step()
        for m in (t.d, *t.regs):
            m.requires_grad_(False)
        t.opt_g.zero_grad(set_to_none=True)
        for _ in range(s.accum_g):
            f, zf, yf = fake(s.batch_size)
            ctx = StepContext(step, "g", t.d_fn, stats, run_d, t._fake, fake=f, y_fake=yf, z_fake=zf)
            ctx.out_fake = run_d(f, yf, "fake", ctx)
            adv = t.loss.g(ctx.out_fake)[0]
            terms = sum(v for r in t.regs for v in r.g_terms(ctx).values())
            loss = adv * ctx.adv_weight + terms
            (loss / s.accum_g).backward()
        t.opt_g.step()
        if t.ema:
            t.ema.update(t.g, step)
        for r in t.regs:
            r.update(ctx)

    for i in range(warmup):
        one(start + i)
    sync(hw.device)
    t0 = time.perf_counter()
    for i in range(steps):
        one(start + warmup + i)
    sync(hw.device)
    return s.batch_size * s.n_critic * s.accum_d * steps / (time.perf_counter() - t0)


def overhead(trainer, steps: int, repeats: int) -> list[float]:
    """Trainer.fit img/s over the bare loop's, `repeats` times, the two alternating on the same modules (so a
    machine's drift hits both alike): one ratio per pair. The trainer has run its warm-up."""
    ratios = []
    for _ in range(repeats):
        trainer.s.steps = trainer.step + steps
        trainer.fit()
        fit = trainer.last_row["img_s"]
        ratios.append(fit / bare_rate(trainer, steps, 0, trainer.step))
    return ratios


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, repeats: int) -> float:
    """FLOP/s of an n x n matmul in `dtype`, best of `repeats` timed batches."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    a @ b
    best = math.inf
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        for _ in range(5):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - t) / 5)
    return 2 * n ** 3 / best


def flops_per_image(trainer) -> float:
    """FLOPs of one training iteration (D steps and G step, forward and backward) / real images it uses."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter:
        trainer.s.steps = trainer.step + 1
        trainer.fit()
    s = trainer.s
    return counter.get_total_flops() / (s.batch_size * s.n_critic * s.accum_d)


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rank_fit(cfg, steps, warmup, run_dir, out, threads) -> None:
    if threads:
        torch.set_num_threads(threads)
    rate, trainer = fit_rate(cfg, steps, warmup, Path(run_dir))
    if trainer.dist.main:
        Path(out).write_text(json.dumps({"img_s": rate}))


def scaling(cfg, steps: int, warmup: int, root: Path) -> tuple[float, float]:
    """(img/s with 1 rank, with 2 ranks), each a fresh process. On the CPU both give each rank half the
    cores, so the ratio measures what the ranks' communication costs, not how threads share cores."""
    from ganlab.train.launch import launch
    threads = max(1, (torch.get_num_threads()) // 2) if cfg.hardware.device == "cpu" else 0
    rates = []
    for n in (1, 2):
        out = root / f"ranks{n}.json"
        launch(n, _rank_fit, (cfg, steps, warmup, str(root / f"ranks{n}"), str(out), threads))
        rates.append(json.loads(out.read_text())["img_s"])
    return rates[0], rates[1]


def main(a) -> None:
    recipes = a.recipes.split(",") if a.recipes else digits_presets()   # quick by default; CIFAR/anime sizes need a GPU
    settings = a.settings.split(",")
    unknown = [x for x in settings if x not in SETTINGS]
    if unknown:
        raise ValueError(f"unknown --settings {unknown}; available: {', '.join(SETTINGS)}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    several = device == "cpu" or torch.cuda.device_count() >= 2
    peak = matmul_peak(torch.device(device), torch.float32, 4096 if device == "cuda" else 1024, 5)
    cols = [*settings, "GFLOP/img", "of peak", "fit/bare median (min-max)", "1 rank", "2 ranks", "scaling"]
    print(f"ganlab-bench step: {a.steps} timed iterations after {a.warmup} warm-up ones, {device}"
          f"{' ' + torch.cuda.get_device_name() if device == 'cuda' else f' ({torch.get_num_threads()} threads)'};"
          f" img/s (real images through D); fp32 matmul peak {peak / 1e9:.1f} GFLOP/s")
    print("| recipe | px | batch | " + " | ".join(cols) + " |")
    print("|---" * (3 + len(cols)) + "|")
    errors: list[str] = []
    for recipe in recipes:
        with tempfile.TemporaryDirectory(prefix="ganlab-bench-step-") as tmp:
            root, cells, base = Path(tmp), [], {}
            for name in settings:
                torch._dynamo.reset()   # each recipe compiles afresh: another's cached graphs count to the recompile limit
                cfg = recipe_cfg(recipe, [f"hardware.device={device}", *SETTINGS[name], *a.override])
                try:
                    rate, trainer = fit_rate(cfg, a.steps, a.warmup, root / name)
                    base[name] = (rate, trainer)
                    cells.append(f"{rate:.1f}")
                except Exception as e:   # e.g. torch.compile without a C++ compiler: say so, go on
                    cells.append(f"failed ({type(e).__name__})")
                    errors.append(f"{recipe} {name}: {type(e).__name__}: {str(e).strip().splitlines()[0][:200]}")
            if "fp32" in base:
                rate, trainer = base["fp32"]
                ratios = overhead(trainer, a.steps, a.repeats)
                flops = flops_per_image(trainer)
                cells += [f"{flops / 1e9:.3g}", f"{rate * flops / peak:.1%}",
                          f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})"]
                if several and a.scaling:
                    cfg = recipe_cfg(recipe, [f"hardware.device={device}", *a.override])
                    one, two = scaling(cfg, a.steps, a.warmup, root)
                    cells += [f"{one:.1f}", f"{two:.1f}", f"{two / (2 * one):.2f}"]
                else:
                    cells += ["-"] * 3
            else:
                cells += ["-"] * 6
            cfg = recipe_cfg(recipe, list(a.override))
            print(f"| {recipe} | {cfg.dataset.image_size} | {cfg.train.batch_size} | " + " | ".join(cells) + " |",
                  flush=True)
    for line in errors:
        print("  failed:", line)
    print(f"GFLOP/img: FLOPs of one fp32 iteration (D steps and G step, forward and backward; torch.utils.flop_counter) "
          f"per real image; of peak: the fp32 column's FLOP/s over the matmul peak above. fit/bare: Trainer.fit img/s "
          f"over a bare loop of the same step (1.0 = no overhead), {a.repeats} alternating pairs of {a.steps} iterations. "
          f"scaling: 2-rank img/s / (2 x 1-rank img/s), both in fresh processes (on the CPU each rank gets half the threads)")
