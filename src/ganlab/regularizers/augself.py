"""AugSelf (Hou et al.): D also predicts the augmentation parameters from h(x~) - h(x), the difference
of its pooled features on the augmented and the clean image. Reals regress +omega, fakes -omega
(D term); G is pushed to make fakes predict +omega, like reals (G term). One SN-linear head per
parameter group that the augmenting regularizers declare (DiffAugment: color 3, translation 2,
cutout 2); the heads join D's optimizer. The clean pass goes through the trainer's run_d without
augmentation, so it runs with the same precision and memory format as every other D pass.

Compared with liang-hou/augself-gan, augself-biggan/BigGAN.py (heads on the feature difference,
nothing detached) and train_fns.py (the MSE terms and their signs).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganlab.models.layers import sn
from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import AugParam, Regularizer, StepContext
from ganlab.track.stats import Stats


@REGULARIZERS.register("augself")
class AugSelf(Regularizer):
    name = "augself"

    def __init__(self, d_weight: float = 1.0, g_weight: float = 1.0):
        super().__init__()
        self.d_weight, self.g_weight = d_weight, g_weight
        self.heads = nn.ModuleDict()

    def setup(self, d: nn.Module, stats: Stats, augmentations: Sequence[AugParam]) -> None:
        if not augmentations:
            raise ValueError("augself needs an augmenting regularizer in the list, e.g. regularizer=[diffaugment,augself]")
        features = getattr(d, "features_dim", None)
        if not features:
            raise ValueError(f"augself needs a discriminator that returns pooled features; {type(d).__name__} has none")
        self.heads = nn.ModuleDict({a.name: sn(nn.Linear(features, a.size)) for a in augmentations})

    def _predict(self, ctx: StepContext, side: str, x: torch.Tensor, y, augmented_features: torch.Tensor):
        params = ctx.aug.get(side, {})
        clean = ctx.run_d(x, y, side, ctx, augment=False).features   # D's features on the un-augmented images (B, F)
        delta = augmented_features - clean
        return {g: (head(delta), params[g]) for g, head in self.heads.items()}

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
