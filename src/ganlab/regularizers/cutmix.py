"""CutMix and its consistency loss for a U-Net discriminator (Schoenfeld et al., CVPR 2020).

In a mixing iteration D also sees x_mix = M * real + (1 - M) * fake, where M is 1 outside a random
box and 0 inside (inverted with probability 1/2; the box side is floor(S sqrt(1 - lam)),
lam ~ U(0, 1), one box per image). Its targets: per pixel M (real = 1), globally fake. And the
decoder must be consistent: D_dec(x_mix) should equal M * D_dec(real) + (1 - M) * D_dec(fake)
(mean squared error on logits, not detached). Iterations mix with probability
prob * min(1, step / warmup_steps).

The mix terms are added to the normal real/fake terms, as the paper's CelebA script does; the
FFHQ script's "full batch" mode, which replaces them in a mixing iteration, is not built. The mask
lives in image coordinates, so CutMix refuses to run after a geometric augmentation (DiffAugment's
translation or cutout) that would move the pixels away from their targets. With a conditional model
the fake half was drawn for random labels (the official code draws it for the reals' labels) and
x_mix is scored with the reals' labels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import Regularizer, StepContext

GEOMETRIC = ("translation", "cutout")


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

    def __init__(self, prob: float = 0.5, warmup_steps: int = 0, consistency: float = 1.0, weight: float = 1.0):
        super().__init__()
        if not 0 <= prob <= 1:
            raise ValueError(f"regularizer.cutmix.prob must be in [0, 1], got {prob}")
        self.prob, self.warmup_steps, self.consistency, self.weight = prob, warmup_steps, consistency, weight

    def mix_probability(self, step: int) -> float:
        return self.prob * (min(1.0, step / self.warmup_steps) if self.warmup_steps else 1.0)

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        if ctx.out_real.pixel_logits is None:
            raise ValueError("regularizer cutmix needs a discriminator with per-pixel outputs (model=unet_gan)")
        if float(torch.rand(())) >= self.mix_probability(ctx.step):
            return {}
        real, fake = ctx.real, ctx.fake.detach()
        m = cutmix_mask(len(real), real.shape[-1], real.device)
        out = ctx.run_d(m * real + (1 - m) * fake, ctx.y_real, "mix", ctx)
        moved = [k for k in GEOMETRIC if k in ctx.aug.get("mix", {})]
        if moved:
            raise ValueError(f"regularizer cutmix cannot follow the geometric augmentation {moved}: its per-pixel "
                             f"targets would no longer match the pixels (use diffaugment.policy=[color])")
        pixel = F.binary_cross_entropy_with_logits(out.pixel_logits, m)
        terms = {"cutmix": self.weight * (pixel + F.softplus(out.logits).mean())}   # the mixed image is fake globally
        if self.consistency:
            target = m * ctx.out_real.pixel_logits + (1 - m) * ctx.out_fake.pixel_logits
            terms["cutmix_consistency"] = self.consistency * (out.pixel_logits - target).pow(2).mean()
        return terms
