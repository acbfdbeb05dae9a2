"""Model registry entries: each builds a (generator, discriminator) pair.

The dataset supplies image_size, channels and num_classes; everything else is a typed
keyword argument taken from the `model` config group.
"""
from __future__ import annotations

from ganlab.models.attention_unet import AttentionUNetGenerator
from ganlab.models.biggan import BigGANDeepDiscriminator, BigGANDeepGenerator, BigGANDiscriminator, BigGANGenerator
from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.models.unet import UNetDiscriminator
from ganlab.registry import MODELS


@MODELS.register("dcgan")
def dcgan(image_size: int, channels: int, num_classes: int = 0, conditional: bool = False,
          z_dim: int = 100, g_width: int = 64, d_width: int = 64, d_norm: str = "batch",
          spectral_norm: bool = False, embed_dim: int = 32):
    classes = num_classes if conditional else 0
    g = DCGANGenerator(z_dim, image_size, channels, g_width, classes, embed_dim)
    d = DCGANDiscriminator(image_size, channels, d_width, classes, d_norm, spectral_norm)
    return g, d


@MODELS.register("biggan")
def biggan(image_size: int, channels: int, num_classes: int = 0, conditional: bool = True, ch: int = 64,
           z_dim: int = 128, g_attn: int = 0, d_attn: int = 0, spectral_norm: bool = True, init: str = "normal"):
    """BigGAN (not deep), BigGAN-PyTorch's CIFAR model: G 4.30M / D 4.21M parameters at ch 64, 32 px, 10 classes."""
    classes = num_classes if conditional else 0
    g = BigGANGenerator(image_size, channels, classes, ch, z_dim, g_attn, spectral_norm, init)
    d = BigGANDiscriminator(image_size, channels, classes, ch, d_attn, True, init)
    return g, d


@MODELS.register("biggan_deep")
def biggan_deep(image_size: int, channels: int, num_classes: int = 0, conditional: bool = True, ch: int = 64,
                z_dim: int = 128, shared_dim: int = 128, depth: int = 2, g_attn: int = 16, d_attn: int = 16,
                spectral_norm: bool = True, init: str = "ortho"):
    classes = num_classes if conditional else 0
    g = BigGANDeepGenerator(image_size, channels, classes, ch, z_dim, shared_dim, depth, g_attn, spectral_norm, init)
    d = BigGANDeepDiscriminator(image_size, channels, classes, ch, depth, d_attn, True, init)
    return g, d


@MODELS.register("unet_gan")
def unet_gan(image_size: int, channels: int, num_classes: int = 0, conditional: bool = False, ch: int = 64,
             z_dim: int = 128, g_attn: int = 0, d_attn: int = 0, spectral_norm: bool = True, init: str = "ortho"):
    """U-Net GAN (boschresearch/unetgan): BigGAN's (non-deep) generator, self-modulated by z when
    unconditional, and a U-Net discriminator (global + per-pixel logits)."""
    classes = num_classes if conditional else 0
    g = BigGANGenerator(image_size, channels, classes, ch, z_dim, g_attn, spectral_norm, init, self_modulation=not classes)
    d = UNetDiscriminator(image_size, channels, classes, ch, d_attn, True, init)
    return g, d


@MODELS.register("attention_wgan")
def attention_wgan(image_size: int, channels: int, num_classes: int = 0, conditional: bool = False, ch: int = 32,
                   d_ch: int = 32, z_dim: int = 128, embed_dim: int = 32, g_attn: int = 16, d_attn: int = 16,
                   d_depth: int = 1, init: str = "normal"):
    """Attention WGAN: an attention U-Net generator and a residual critic with self-attention and no
    normalisation layers (BigGAN-deep's discriminator without spectral norm), for the gradient penalty."""
    classes = num_classes if conditional else 0
    g = AttentionUNetGenerator(image_size, channels, classes, ch, z_dim, embed_dim, g_attn, init)
    d = BigGANDeepDiscriminator(image_size, channels, classes, d_ch, d_depth, d_attn, False, init)
    return g, d
