"""Mode-seeking loss (MSGAN, Mao et al., CVPR 2019): for one condition, two latents must give two images.

For the G batch's (z1, y) and a second draw z2 with the same labels,
    d = mean|G(z2, y) - G(z1, y)| / mean|z2 - z1|        (L1 means over all elements)
    L_ms = weight / (d + eps)                             added to G's loss,
so G is pushed away from mapping different z of one class to one image: the collapse inside a class that
class-conditional GANs show on small data (experiments/README.md, "Collapse inside a class").

Official code (HelenMao/MSGAN, DCGAN-Mode-Seeking/model.py): weight 1, eps 1e-5, and G draws both halves in
one forward pass of twice the batch, both of which D also scores. ganlab's departure: the second half feeds
only this term (one more G pass of the batch's size per G step; D scores the first half as in any run), so
the regularizer needs no change to the trainer's batch.
"""
from __future__ import annotations

import torch

from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import Regularizer, StepContext


def mode_seeking_ratio(fake1: torch.Tensor, fake2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """mean|G(z2) - G(z1)| / mean|z2 - z1|: how far apart two latents' images are, per unit of latent distance."""
    return (fake2 - fake1).abs().mean() / (z2 - z1).abs().mean()


@REGULARIZERS.register("mode_seeking")
class ModeSeeking(Regularizer):
    name = "mode_seeking"

    def __init__(self, weight: float, eps: float):
        super().__init__()
        self.weight, self.eps = weight, eps

    def g_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        z2 = torch.randn_like(ctx.z_fake)
        ratio = mode_seeking_ratio(ctx.fake, ctx.run_g(z2, ctx.y_fake), ctx.z_fake, z2)
        ctx.stats.report("reg/mode_seeking/ratio", ratio.detach())
        return {"mode_seeking": self.weight / (ratio + self.eps)}
