"""CutMix and its consistency loss for a U-Net discriminator (Schoenfeld et al., CVPR 2020).

D also sees x_mix = M * real + (1 - M) * fake, where M is 1 outside a random box and 0 inside
(inverted with probability 1/2; the box side is floor(S sqrt(1 - lam)), lam ~ U(0, 1), one box per
image). Its targets: per pixel M (real = 1), globally fake. And the decoder must be consistent:
D_dec(x_mix) should equal M * D_dec(real) + (1 - M) * D_dec(fake) (mean squared error on logits, not
detached). Exactly the two official modes (boschresearch/unetgan, train_fns.py and the scripts in
training_scripts/):

  additive    (train_celeba.sh) every D step adds the mix terms to the normal real/fake terms; the
              warm-up ramp min(1, epoch / warmup_epochs) (20) multiplies only the encoder-mix and the
              consistency terms, not the per-pixel mix term.
  full_batch  (train_ffhq.sh: --full_batch_mixup --slow_mixup) with probability
              prob * min(1, epoch / warmup_epochs) (0.5, 100 epochs) a D step is a mixing step whose
              loss is only the mix terms + consistency; every other D step is a normal one.

The mask lives in image coordinates, so CutMix refuses, at build time, an augmenting regularizer that
declares a geometric parameter (DiffAugment's translation or cutout). With a conditional model the
fake half was drawn for random labels (the official code draws it for the reals' labels) and x_mix is
scored with the reals' labels.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import AugParam, Regularizer, StepContext
from ganlab.track.stats import Stats

MODES = ("additive", "full_batch")


def cutmix_mask(n: int, size: int, device, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, 1, size, size) float masks: 1 = keep the real image, 0 = take the fake."""
    lam, centre, invert = (torch.rand(n, generator=generator), torch.rand(n, 2, generator=generator),
                           torch.rand(n, generator=generator) < 0.5)
    side = (size * (1 - lam).sqrt()).floor()
    lo = (centre * size - side[:, None] / 2).round().clamp(0, size).to(device)   # (n, 2): top, left
    hi = (centre * size + side[:, None] / 2).round().clamp(0, size).to(device)   # (n, 2): bottom, right
    pos = torch.arange(size, device=device)
    rows = (pos[None] >= lo[:, :1]) & (pos[None] < hi[:, :1])              # (n, size)
    cols = (pos[None] >= lo[:, 1:]) & (pos[None] < hi[:, 1:])
    inside = rows[:, :, None] & cols[:, None, :]
    mask = (~inside) ^ invert.to(device)[:, None, None]
    return mask[:, None].float()


@REGULARIZERS.register("cutmix")
class CutMix(Regularizer):
    name = "cutmix"

    def __init__(self, mode: str = "full_batch", prob: float = 0.5, warmup_epochs: float = 200.0,
                 consistency: float = 1.0, weight: float = 1.0):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown regularizer.cutmix.mode '{mode}'; available: {', '.join(MODES)}")
        if not 0 <= prob <= 1:
            raise ValueError(f"regularizer.cutmix.prob must be in [0, 1], got {prob}")
        if warmup_epochs < 0:
            raise ValueError(f"regularizer.cutmix.warmup_epochs must be >= 0, got {warmup_epochs}")
        self.mode, self.prob, self.warmup_epochs = mode, prob, warmup_epochs
        self.consistency, self.weight = consistency, weight

    def setup(self, d: nn.Module, stats: Stats, augmentations: Sequence[AugParam]) -> None:
        moved = [a.name for a in augmentations if a.geometric]
        if moved:
            raise ValueError(f"regularizer cutmix cannot be combined with the geometric augmentation {moved}: its "
                             f"per-pixel targets would no longer match the pixels (use diffaugment.policy=[color])")

    def ramp(self, epoch: float) -> float:
        return min(1.0, epoch / self.warmup_epochs) if self.warmup_epochs else 1.0

    def mix_probability(self, epoch: float) -> float:
        """full_batch: the chance that a D step is a mixing step; additive mixes in every D step."""
        return self.prob * self.ramp(epoch) if self.mode == "full_batch" else 1.0

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        if ctx.out_real.pixel_logits is None:
            raise ValueError("regularizer cutmix needs a discriminator with per-pixel outputs (model=unet_gan)")
        if self.mode == "full_batch":
            if float(torch.rand(())) >= self.mix_probability(ctx.epoch):
                return {}
            ctx.adv_weight = 0.0          # a mixing step: only the mix terms and consistency
            ramp = 1.0
        else:
            ramp = self.ramp(ctx.epoch)
        real, fake = ctx.real, ctx.fake.detach()
        m = cutmix_mask(len(real), real.shape[-1], real.device)
        out = ctx.run_d(m * real + (1 - m) * fake, ctx.y_real, "mix", ctx)
        pixel = F.binary_cross_entropy_with_logits(out.pixel_logits, m)
        encoder = F.softplus(out.logits).mean()          # the mixed image is fake globally
        terms = {"cutmix": self.weight * (pixel + ramp * encoder)}
        if self.consistency:
            target = m * ctx.out_real.pixel_logits + (1 - m) * ctx.out_fake.pixel_logits
            terms["cutmix_consistency"] = ramp * self.consistency * (out.pixel_logits - target).pow(2).mean()
        return terms
