"""Model registry entries: each builds a (generator, discriminator) pair.

The dataset supplies image_size, channels and num_classes; everything else is a typed, required
keyword argument taken from the `model` config group. The defaults live in one place, conf/model/NAME.yaml
(`ganlab.cli.build.model_pair` builds a pair from it outside Hydra).
"""
from __future__ import annotations

from ganlab.models.attention_unet import AttentionUNetGenerator
from ganlab.models.biggan import BigGANDeepDiscriminator, BigGANDeepGenerator, BigGANDiscriminator, BigGANGenerator
from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.models.unet import UNetDiscriminator
from ganlab.registry import MODELS


@MODELS.register("dcgan")
def dcgan(image_size: int, channels: int, num_classes: int = 0, *, conditional: bool,
          z_dim: int, g_width: int, d_width: int, d_norm: str,
          spectral_norm: bool, embed_dim: int):
    classes = num_classes if conditional else 0
    g = DCGANGenerator(z_dim, image_size, channels, g_width, classes, embed_dim)
    d = DCGANDiscriminator(image_size, channels, d_width, classes, d_norm, spectral_norm)
    return g, d


@MODELS.register("biggan")
def biggan(image_size: int, channels: int, num_classes: int = 0, *, conditional: bool, ch: int,
           z_dim: int, g_attn: int, d_attn: int, spectral_norm: bool, init: str):
    """BigGAN (not deep), BigGAN-PyTorch's CIFAR model: G 4.30M / D 4.21M parameters at ch 64, 32 px, 10 classes."""
    classes = num_classes if conditional else 0
    g = BigGANGenerator(image_size, channels, classes, ch, z_dim, g_attn, spectral_norm, init)
    d = BigGANDiscriminator(image_size, channels, classes, ch, d_attn, True, init)
    return g, d


@MODELS.register("biggan_deep")
def biggan_deep(image_size: int, channels: int, num_classes: int = 0, *, conditional: bool, ch: int,
                z_dim: int, shared_dim: int, depth: int, g_attn: int, d_attn: int,
                spectral_norm: bool, init: str, g_cond: str, g_block: str, d_block: str):
    classes = num_classes if conditional else 0
    g = BigGANDeepGenerator(image_size, channels, classes, ch, z_dim, shared_dim, depth, g_attn, spectral_norm, init, g_cond, g_block)
    d = BigGANDeepDiscriminator(image_size, channels, classes, ch, depth, d_attn, True, init, d_block)
    return g, d


@MODELS.register("unet_gan")
def unet_gan(image_size: int, channels: int, num_classes: int = 0, *, conditional: bool, ch: int,
             z_dim: int, g_attn: int, d_attn: int, spectral_norm: bool, init: str):
    """U-Net GAN (boschresearch/unetgan): BigGAN's (non-deep) generator, self-modulated by z when
    unconditional, and a U-Net discriminator (global + per-pixel logits)."""
    classes = num_classes if conditional else 0
    g = BigGANGenerator(image_size, channels, classes, ch, z_dim, g_attn, spectral_norm, init, self_modulation=not classes)
    d = UNetDiscriminator(image_size, channels, classes, ch, d_attn, True, init)
    return g, d


@MODELS.register("attention_wgan")
def attention_wgan(image_size: int, channels: int, num_classes: int = 0, *, conditional: bool, ch: int,
                   d_ch: int, z_dim: int, embed_dim: int, g_attn: int, d_attn: int,
                   d_depth: int, init: str):
    """Attention WGAN: an attention U-Net generator and a residual critic with self-attention and no
    normalisation layers (BigGAN-deep's discriminator without spectral norm), for the gradient penalty."""
    classes = num_classes if conditional else 0
    g = AttentionUNetGenerator(image_size, channels, classes, ch, z_dim, embed_dim, g_attn, init)
    d = BigGANDeepDiscriminator(image_size, channels, classes, d_ch, d_depth, d_attn, False, init)
    return g, d
