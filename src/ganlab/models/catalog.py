"""Model registry entries: each builds a (generator, discriminator) pair.

The dataset supplies image_size, channels and num_classes; everything else is a typed
keyword argument taken from the `model` config group.
"""
from __future__ import annotations

from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.registry import MODELS


@MODELS.register("dcgan")
def dcgan(image_size: int, channels: int, num_classes: int = 0, conditional: bool = False,
          z_dim: int = 100, g_width: int = 64, d_width: int = 64, d_norm: str = "batch",
          spectral_norm: bool = False, embed_dim: int = 32):
    classes = num_classes if conditional else 0
    g = DCGANGenerator(z_dim, image_size, channels, g_width, classes, embed_dim)
    d = DCGANDiscriminator(image_size, channels, d_width, classes, d_norm, spectral_norm)
    return g, d
