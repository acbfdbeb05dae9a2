"""Feature matching (Salimans et al. 2016, "Improved Techniques for Training GANs", section 3.1): G matches
the mean of D's features on real images instead of (or as well as) fooling D,
    L_FM = distance(E_x f(x), E_z f(G(z))),
f being D's pooled features (DOut.features, the layer before D's output).

As openai/improved-gan (mnist_svhn_cifar10/train_cifar_feature_matching.py): the distance is the mean
absolute difference of the two mean feature vectors, mean(|m_real - m_fake|), and it is G's whole loss.
The paper writes the squared L2 norm; the official code, which wins, uses the mean absolute difference.
`distance: square` is the paper's form (mean of squared differences), and `adversarial: true` keeps G's
adversarial term beside it.

The official G step embeds a fresh real batch. ganlab's G step has no real batch, so this keeps the real
images of the last D step and embeds them again with the current D (no gradient), augmented as D sees them.
"""
from __future__ import annotations

import torch

from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import Regularizer, StepContext

DISTANCES = ("abs", "square")


@REGULARIZERS.register("feature_matching")
class FeatureMatching(Regularizer):
    name = "feature_matching"

    def __init__(self, weight: float = 1.0, distance: str = "abs", adversarial: bool = False):
        super().__init__()
        if distance not in DISTANCES:
            raise ValueError(f"unknown regularizer.feature_matching.distance '{distance}'; available: {', '.join(DISTANCES)}")
        if weight <= 0:
            raise ValueError(f"regularizer.feature_matching.weight must be positive, got {weight}")
        self.weight, self.distance, self.adversarial = weight, distance, adversarial
        self.real: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def setup(self, d, stats, augmentations) -> None:
        if not getattr(d, "features_dim", 0):
            raise ValueError("feature_matching needs a discriminator with pooled features (DOut.features)")

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        self.real = (ctx.real.detach(), ctx.y_real)
        return {}

    def g_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        if not self.adversarial:
            ctx.adv_weight = 0.0
        with torch.no_grad():
            real = ctx.run_d(*self.real, "real", ctx).features.mean(0)
        diff = real - ctx.out_fake.features.mean(0)
        return {"feature_matching": self.weight * (diff.abs() if self.distance == "abs" else diff.pow(2)).mean()}
