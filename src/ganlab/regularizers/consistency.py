"""Consistency regularization: CR (Zhang et al. 2020), and bCR and zCR (Zhao et al. 2021, "Improved
Consistency Regularization for GANs"). D should score an image and a transformed copy alike:

  CR    real_weight * mean (D(x) - D(T(x)))^2                       on the real batch
  bCR   + fake_weight * mean (D(G(z)) - D(T(G(z))))^2                on the fake batch too
  zCR   + z_d_weight * mean (D(G(z)) - D(G(z + eps)))^2  in D's loss,  eps ~ N(0, radius^2 I)
        - z_g_weight * mean (G(z) - G(z + eps))^2        in G's loss: G keeps nearby z apart

As StudioGAN (src/worker.py, src/utils/cr.py; its CIFAR-10 BigGAN-CR and BigGAN-ICR configs give the
weights in conf/regularizer/consistency.yaml): T is, by name, `flip_translate` (StudioGAN's "cr": a random
horizontal flip, p 0.5, and a random integer translation of up to 1/8 of the side with reflection padding)
or `diffaugment` (its "diffaug": DiffAugment's color, translation and cutout); D(x) is the score D's loss already uses
(after any augmenting regularizer, e.g. DiffAugment), while T(x) and G(z + eps) reach D without them; the
squared differences are on D's adversarial logits (a projection D has no separate class output).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import Regularizer, StepContext
from ganlab.regularizers.diffaugment import color, cutout, translation

TRANSFORMS = ("flip_translate", "diffaugment")


def flip_translate(x: torch.Tensor, ratio: float = 1 / 8) -> torch.Tensor:
    """Each image flipped left-right with probability 0.5, then shifted by a random whole number of pixels,
    at most ratio x its side in each direction, the uncovered border filled by reflection."""
    b, _, h, w = x.shape
    flip = torch.rand(b, 1, 1, 1, device=x.device) < 0.5
    x = torch.where(flip, x.flip(3), x)
    ph, pw = int(h * ratio), int(w * ratio)
    if not ph and not pw:
        return x
    padded = F.pad(x, (pw, pw, ph, ph), mode="reflect")
    ty = torch.randint(-ph, ph + 1, (b, 1), device=x.device)
    tx = torch.randint(-pw, pw + 1, (b, 1), device=x.device)
    rows = torch.arange(h, device=x.device) + ph + ty                          # (B, H)
    cols = torch.arange(w, device=x.device) + pw + tx                          # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)   # (B, H, W, C) -> (B, C, H, W)


@REGULARIZERS.register("consistency")
class Consistency(Regularizer):
    name = "consistency"

    def __init__(self, real_weight: float = 10.0, fake_weight: float = 0.0, z_d_weight: float = 0.0,
                 z_g_weight: float = 0.0, radius: float = 0.05, transform: str = "flip_translate"):
        super().__init__()
        if transform not in TRANSFORMS:
            raise ValueError(f"unknown regularizer.consistency.transform '{transform}'; available: {', '.join(TRANSFORMS)}")
        weights = dict(real_weight=real_weight, fake_weight=fake_weight, z_d_weight=z_d_weight, z_g_weight=z_g_weight)
        if any(v < 0 for v in weights.values()) or not any(weights.values()):
            raise ValueError(f"regularizer.consistency weights must be >= 0, and one of them positive; got {weights}")
        if radius <= 0 and (z_d_weight or z_g_weight):
            raise ValueError(f"regularizer.consistency.radius must be positive for zCR, got {radius}")
        self.real_weight, self.fake_weight, self.z_d_weight, self.z_g_weight = real_weight, fake_weight, z_d_weight, z_g_weight
        self.radius, self.transform = radius, transform
        self._g = None

    def attach(self, g: nn.Module) -> None:
        self._g = g.__call__   # a bound method, not a submodule: G's weights stay out of D's optimizer

    def t(self, x: torch.Tensor) -> torch.Tensor:
        if self.transform == "flip_translate":
            return flip_translate(x)
        return cutout(translation(color(x)[0])[0])[0]

    def nearby(self, ctx: StepContext) -> torch.Tensor:
        """G(z + eps) for the noise of this step's fakes."""
        return self._g(ctx.z_fake + self.radius * torch.randn_like(ctx.z_fake), ctx.y_fake)

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        terms = {}
        if self.real_weight:
            other = ctx.run_d(self.t(ctx.real), ctx.y_real, "consistency", ctx, augment=False)
            terms["cr_real"] = self.real_weight * F.mse_loss(ctx.out_real.logits, other.logits)
        if self.fake_weight:
            other = ctx.run_d(self.t(ctx.fake), ctx.y_fake, "consistency", ctx, augment=False)
            terms["cr_fake"] = self.fake_weight * F.mse_loss(ctx.out_fake.logits, other.logits)
        if self.z_d_weight:
            with torch.no_grad():
                fake_eps = self.nearby(ctx)
            other = ctx.run_d(fake_eps, ctx.y_fake, "consistency", ctx, augment=False)
            terms["zcr_d"] = self.z_d_weight * F.mse_loss(ctx.out_fake.logits, other.logits)
        return terms

    def g_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        if not self.z_g_weight:
            return {}
        return {"zcr_g": -self.z_g_weight * F.mse_loss(ctx.fake, self.nearby(ctx))}
