"""What flows out of a discriminator, and the generator's prior."""
from __future__ import annotations

from dataclasses import dataclass

import torch


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


def sample_prior(batch: int, z_dim: int, num_classes: int, device, generator: torch.Generator | None = None):
    """z ~ N(0, I) of shape (B, z_dim); y uniform over classes (B,) or None when unconditional."""
    z = torch.randn(batch, z_dim, device=device, generator=generator)
    y = torch.randint(num_classes, (batch,), device=device, generator=generator) if num_classes else None
    return z, y
