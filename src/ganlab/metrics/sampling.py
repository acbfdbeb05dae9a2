"""How G is sampled for everything that is not a training step: FID, grids, ganlab-sample.

One checkpoint must have one FID, so training-time evaluation, ganlab-evaluate, ganlab-sample and
the sample grids all go through `GSampler`, built from the run's `eval.g_mode`/`eval.g_batch_size`:

  batch     train-mode BN: each batch of `batch_size` normalises with its own statistics. This is
            what BigGAN-PyTorch's sample() does for the DiffAugment / AugSelf CIFAR tables
            (G_ema in train mode, batch 50) [BigGAN-PyTorch utils.py sample / train_fns.py].
  running   eval mode: BN uses the running averages stored in the weights (for an EMA copy, the
            EMA of G's running averages).
  standing  BigGAN's standing statistics: reset the BN averages, run `standing_passes` train-mode
            forward passes of `batch_size` with cumulative averaging (momentum None), then eval mode
            [BigGAN-PyTorch utils.py accumulate_standing_stats; the U-Net GAN code uses 100].

Nothing here changes G: every buffer (BN statistics, spectral-norm vectors) and the train flag are
restored afterwards, and the noise comes from a seeded generator, never the global RNG.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn

from ganlab.train.diagnostics import frozen_buffers

G_MODES = ("batch", "running", "standing")
STANDING_SEED = 2024     # the standing passes' own noise: the same statistics every time


def truncated_normal(n: int, dim: int, psi: float | None, gen: torch.Generator) -> torch.Tensor:
    """z ~ N(0, I) (n, dim) on the CPU; with psi, every |z_i| > psi is redrawn until none is (BigGAN)."""
    z = torch.randn(n, dim, generator=gen)
    if psi is None:
        return z
    while True:
        bad = z.abs() > psi
        if not bad.any():
            return z
        z[bad] = torch.randn(int(bad.sum()), generator=gen)


class GSampler:
    def __init__(self, mode: str = "batch", batch_size: int = 50, standing_passes: int = 100,
                 truncation: float | None = None, device="cpu", class_weights: torch.Tensor | None = None):
        """class_weights: draw a conditional G's labels in these proportions (eval.label_prior=data), not uniformly."""
        if mode not in G_MODES:
            raise ValueError(f"unknown eval.g_mode '{mode}'; available: {', '.join(G_MODES)}")
        if batch_size < 1:
            raise ValueError(f"eval.g_batch_size must be positive, got {batch_size}")
        if mode == "standing" and standing_passes < 1:
            raise ValueError(f"eval.g_standing_passes must be positive with g_mode=standing, got {standing_passes}")
        if mode == "batch" and batch_size < 2:
            raise ValueError("eval.g_mode=batch needs eval.g_batch_size >= 2 (batch statistics of one image)")
        if truncation is not None and truncation <= 0:
            raise ValueError(f"truncation (eval.truncation / --truncation) must be positive, got {truncation}")
        self.mode, self.batch_size, self.standing_passes = mode, batch_size, standing_passes
        self.truncation, self.device, self.class_weights = truncation, torch.device(device), class_weights

    def protocol(self) -> dict:
        out = {"g_mode": self.mode, "g_batch_size": self.batch_size, "truncation": self.truncation}
        if self.mode == "standing":
            out["g_standing_passes"] = self.standing_passes
        if self.class_weights is not None:   # only then, so that every earlier protocol keeps its hash
            out["label_prior"] = "data"
        return out

    @contextlib.contextmanager
    def prepared(self, g: nn.Module):
        """G in this sampler's mode; its buffers, BN momenta and train flag restored on exit."""
        was_training = g.training
        norms = [m for m in g.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        momenta = [m.momentum for m in norms]
        try:
            with frozen_buffers(g):
                if self.mode == "batch":
                    g.train()
                elif self.mode == "running":
                    g.eval()
                else:
                    self._standing(g, norms)
                    g.eval()
                yield g
        finally:
            for m, mom in zip(norms, momenta):
                m.momentum = mom
            g.train(was_training)

    @torch.no_grad()
    def _standing(self, g: nn.Module, norms: list) -> None:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None       # cumulative average over the passes
        g.train()
        gen = torch.Generator().manual_seed(STANDING_SEED)
        classes = getattr(g, "num_classes", 0)
        for _ in range(self.standing_passes):
            z = truncated_normal(self.batch_size, g.z_dim, self.truncation, gen).to(self.device)
            g(z, self.labels(self.batch_size, classes, gen, balanced=False))

    @torch.no_grad()
    def images(self, g: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None, autocast=None) -> torch.Tensor:
        """float images (N, C, H, W) in [-1, 1] on the CPU for given z (N, z_dim) and labels (N,) or None,
        in batches of batch_size. Call inside `prepared(g)`."""
        out = []
        starts = list(range(0, len(z), self.batch_size)) + [len(z)]
        if len(starts) > 2 and starts[-1] - starts[-2] == 1:
            del starts[-2]          # batch statistics of one image do not exist: fold it into the previous batch
        for i, j in zip(starts[:-1], starts[1:]):
            zb = z[i:j].to(self.device)
            yb = y[i:j].to(self.device) if y is not None else None
            with autocast() if autocast else contextlib.nullcontext():
                out.append(g(zb, yb).float().cpu())
        return torch.cat(out)

    def grid_noise(self, g: nn.Module, per_row: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Noise for a sample grid of rows of `per_row`: one row per class (class c in row c), or 8 rows when
        unconditional."""
        classes = getattr(g, "num_classes", 0)
        z, _ = self.noise(per_row * (classes or 8), g, seed)
        return z, torch.arange(classes).repeat_interleave(per_row) if classes else None

    def noise(self, n: int, g: nn.Module, seed: int, balanced: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """n latent vectors (CPU, seeded, truncated when set) and labels in exact proportions (or None)."""
        gen = torch.Generator().manual_seed(seed)
        z = truncated_normal(n, g.z_dim, self.truncation, gen)
        y = self.labels(n, getattr(g, "num_classes", 0), gen, balanced)
        return z, (y.cpu() if y is not None else None)

    def labels(self, n: int, classes: int, gen: torch.Generator, balanced: bool) -> torch.Tensor | None:
        """n labels (on the device) in exact proportions when `balanced` (each class n/classes times, or n times its
        weight, largest remainders first, in a seeded order), else drawn at random; uniform unless class_weights."""
        if not classes:
            return None
        w = self.class_weights
        if w is None:
            y = torch.arange(n) % classes if balanced else torch.randint(classes, (n,), generator=gen)
        elif balanced:
            share = w * n
            counts = share.floor().long()
            counts[torch.argsort(share - counts, descending=True)[: n - int(counts.sum())]] += 1
            y = torch.repeat_interleave(torch.arange(classes), counts)[torch.randperm(n, generator=gen)]
        else:
            y = torch.multinomial(w, n, replacement=True, generator=gen)
        return y.to(self.device)
