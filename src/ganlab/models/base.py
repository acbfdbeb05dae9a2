"""The model contract: what a model file registers, what flows out of a discriminator, and G's prior.

A model file registers one builder in MODELS, where its classes are defined:

    @MODELS.register("name", tiny=dict(ch=4))     # tiny: the smallest settings, for the contract tests
    def name(image_size, channels, num_classes=0, *, conditional, <every key of conf/model/name.yaml>)
        -> (generator, discriminator)

Every default lives in conf/model/name.yaml (the builder's keywords have none). The generator has
`z_dim` and maps (z (B, z_dim), y (B,) or None) to images (B, C, H, W) in [-1, 1]. The discriminator
answers the protocol below; tests/test_models.py checks every registered model against it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn as nn


@dataclass
class DOut:
    """A discriminator's outputs for one batch.

    logits:        (B,)        the adversarial score
    pixel_logits:  (B,1,H,W)   per-pixel scores (U-Net decoder), or None
    features:      (B,F)       pooled features that regularizer heads read, or None
    """
    logits: torch.Tensor
    pixel_logits: torch.Tensor | None = None
    features: torch.Tensor | None = None


def sample_prior(batch: int, z_dim: int, num_classes: int, device, generator: torch.Generator | None = None,
                 class_weights: torch.Tensor | None = None):
    """z ~ N(0, I) of shape (B, z_dim); y (B,) uniform over classes, or drawn in proportion to `class_weights`
    (train.label_prior=data: the training set's class frequencies), or None when unconditional."""
    z = torch.randn(batch, z_dim, device=device, generator=generator)
    if not num_classes:
        return z, None
    if class_weights is None:
        return z, torch.randint(num_classes, (batch,), device=device, generator=generator)
    return z, torch.multinomial(class_weights.to(device), batch, replacement=True, generator=generator)


class Discriminator(Protocol):
    """What the trainer, the regularizers and FreezeD expect of a discriminator.

    forward(x (B, C, H, W), y (B,) or None) -> DOut
    features_dim:      F, the width of DOut.features (regularizer heads are sized from it)
    ordered_blocks():  its blocks from the input up, the head excluded, covering every parameter but
                       the heads' (train.freeze_d=K freezes the first K)
    """
    features_dim: int

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut: ...

    def ordered_blocks(self) -> list[nn.Module]: ...
