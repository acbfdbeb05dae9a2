"""Adversarial losses: pure functions of discriminator outputs.

`d(out_real, out_fake) -> (loss, stats)` and `g(out_fake) -> (loss, stats)`. When D also returns
per-pixel logits (U-Net D) each side is the mean of the global and the per-pixel term, as in
U-Net GAN. stats holds detached tensors; the trainer reports them under `loss/d/<name>`.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ganlab.models.base import DOut
from ganlab.registry import LOSSES

Term = Callable[[torch.Tensor], torch.Tensor]


def _both(out: DOut, term: Term) -> torch.Tensor:
    """Apply a per-logit term to the global and (if present) the per-pixel logits."""
    loss = term(out.logits)
    if out.pixel_logits is not None:
        loss = 0.5 * (loss + term(out.pixel_logits))
    return loss


class AdversarialLoss:
    name = "adversarial"
    real_d: Term   # D's term on real logits
    fake_d: Term   # D's term on fake logits
    fake_g: Term   # G's term on fake logits

    def d(self, out_real: DOut, out_fake: DOut):
        real, fake = _both(out_real, self.real_d), _both(out_fake, self.fake_d)
        loss = real + fake
        return loss, {self.name: loss.detach(), "real": real.detach(), "fake": fake.detach()}

    def g(self, out_fake: DOut):
        loss = _both(out_fake, self.fake_g)
        return loss, {self.name: loss.detach()}


@LOSSES.register("bce")
class BCELoss(AdversarialLoss):
    """Non-saturating logistic loss: D minimises softplus(-D(x)) + softplus(D(G(z))); G softplus(-D(G(z))).
    real_label < 1 is one-sided label smoothing (Salimans et al. 2016): D's target on real images is
    real_label, i.e. real_label softplus(-D(x)) + (1 - real_label) softplus(D(x)); the fake side and G's
    loss keep their hard targets (smoothing the fake side would reward G for staying where it is)."""
    name = "bce"
    fake_d = staticmethod(lambda x: F.softplus(x).mean())
    fake_g = staticmethod(lambda x: F.softplus(-x).mean())

    def __init__(self, real_label: float = 1.0):
        if not 0.5 < real_label <= 1.0:
            raise ValueError(f"loss.real_label must be in (0.5, 1] (1 = no smoothing, 0.9 the paper's), got {real_label}")
        self.real_label = real_label

    def real_d(self, x: torch.Tensor) -> torch.Tensor:
        t = self.real_label
        loss = F.softplus(-x) if t == 1.0 else t * F.softplus(-x) + (1 - t) * F.softplus(x)
        return loss.mean()


@LOSSES.register("hinge")
class HingeLoss(AdversarialLoss):
    """D: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]; G: -E[D(G(z))]."""
    name = "hinge"
    real_d = staticmethod(lambda x: F.relu(1 - x).mean())
    fake_d = staticmethod(lambda x: F.relu(1 + x).mean())
    fake_g = staticmethod(lambda x: -x.mean())


@LOSSES.register("wasserstein")
class WassersteinLoss(AdversarialLoss):
    """Critic: E[C(G(z))] - E[C(x)]; G: -E[C(G(z))]. Pair with the gradient_penalty regularizer."""
    name = "wasserstein"
    real_d = staticmethod(lambda x: -x.mean())
    fake_d = staticmethod(lambda x: x.mean())
    fake_g = staticmethod(lambda x: -x.mean())
