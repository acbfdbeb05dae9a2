"""AugSelf (Hou et al.): D also predicts the augmentation parameters from h(x~) - h(x), the difference
of its pooled features on the augmented and the clean image. Reals regress +omega, fakes -omega
(D term); G is pushed to make fakes predict +omega, like reals (G term). Needs an augmenting
regularizer (diffaugment) in the list; its heads join D's optimizer.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import Regularizer, StepContext
from ganlab.models.layers import sn

GROUPS = {"color": 3, "translation": 2, "cutout": 2}


@REGULARIZERS.register("augself")
class AugSelf(Regularizer):
    name = "augself"

    def __init__(self, features_dim: int, d_weight: float = 1.0, g_weight: float = 1.0):
        super().__init__()
        self.d_weight, self.g_weight = d_weight, g_weight
        self.heads = nn.ModuleDict({g: sn(nn.Linear(features_dim, dim)) for g, dim in GROUPS.items()})

    def _predict(self, ctx: StepContext, side: str, x: torch.Tensor, y, augmented_features: torch.Tensor):
        params = {g: p for g, p in ctx.aug.get(side, {}).items() if g in self.heads}
        if not params:
            raise ValueError("augself needs an augmenting regularizer before it, e.g. regularizer=[diffaugment,augself]")
        clean = ctx.d(x, y).features                   # D's features on the un-augmented images (B, F)
        delta = augmented_features - clean
        return {g: (self.heads[g](delta), p) for g, p in params.items()}

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        real = self._predict(ctx, "real", ctx.real, ctx.y_real, ctx.out_real.features)
        fake = self._predict(ctx, "fake", ctx.fake, ctx.y_fake, ctx.out_fake.features)
        loss = sum(F.mse_loss(pred, p) for pred, p in real.values()) + \
            sum(F.mse_loss(pred, -p) for pred, p in fake.values())
        return {"augself": self.d_weight * loss}

    def g_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        fake = self._predict(ctx, "fake", ctx.fake, ctx.y_fake, ctx.out_fake.features)
        loss = sum(F.mse_loss(pred, p) - F.mse_loss(pred, -p) for pred, p in fake.values())
        return {"augself": self.g_weight * loss}
