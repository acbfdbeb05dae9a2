"""Penalties on D: the gradient penalties on its input (WGAN-GP, R1) and the drift of a critic's scores."""
from __future__ import annotations

import torch

from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import Regularizer, StepContext, input_gradient


@REGULARIZERS.register("gradient_penalty")
class GradientPenalty(Regularizer):
    """WGAN-GP: weight * E[(||grad_x C(x_hat)||_2 - 1)^2], x_hat = x + alpha (G(z) - x), alpha ~ U[0,1] per sample."""
    name = "gradient_penalty"

    def __init__(self, weight: float = 10.0, target: float = 1.0):
        super().__init__()
        if weight < 0:
            raise ValueError(f"gradient_penalty weight must be >= 0, got {weight}")
        self.weight, self.target = weight, target

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        real, fake = ctx.real, ctx.fake.detach()
        alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
        x_hat = real + alpha * (fake - real)
        norms = input_gradient(ctx, x_hat, ctx.y_real).flatten(1).norm(2, dim=1)
        ctx.stats.report("reg/gradient_penalty/grad_norm", norms)
        return {"gp": self.weight * ((norms - self.target) ** 2).mean()}


@REGULARIZERS.register("r1")
class R1(Regularizer):
    """R1: (gamma / 2) E_real ||grad_x D(x)||^2, applied lazily every `every` iterations and scaled by `every`."""
    name = "r1"

    def __init__(self, gamma: float = 0.01, every: int = 16):
        super().__init__()
        if every < 1:
            raise ValueError(f"r1 every must be at least 1, got {every}")
        self.gamma, self.every = gamma, every

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        if ctx.step % self.every:
            return {}
        grad = input_gradient(ctx, ctx.real, ctx.y_real)   # on the (possibly APA-mixed) real batch
        penalty = grad.flatten(1).pow(2).sum(1).mean()
        return {"r1": 0.5 * self.gamma * self.every * penalty}


@REGULARIZERS.register("drift")
class Drift(Regularizer):
    """Progressive GAN's drift term for a Wasserstein critic: weight * E[C(x)^2] on the real scores
    (tkarras/progressive_growing_of_gans, loss.py D_wgan_gp, wgan_epsilon = 0.001). The Wasserstein loss
    cannot see a shift of all scores, so they wander; this keeps them near zero."""
    name = "drift"

    def __init__(self, weight: float = 0.001):
        super().__init__()
        if weight < 0:
            raise ValueError(f"drift weight must be >= 0, got {weight}")
        self.weight = weight

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        return {"drift": self.weight * ctx.out_real.logits.pow(2).mean()}
