"""U-Net discriminator (Schoenfeld et al., CVPR 2020), as boschresearch/unetgan's Unet_Discriminator:
a BigGAN encoder that gives one global logit per image, and a decoder with skip connections that gives
one logit per pixel.

Encoder: wide BigGAN D blocks straight from the image (no stem; the first without pre-activation), each
halving the resolution down to 4x4, widths ch x [1, 2, 4, 8, 16] (256 px: [1, 2, 4, 8, 8, 16]). Global head: ReLU, sum
pooling, a linear layer plus the class projection. Decoder: residual up-blocks without BatchNorm (ReLU,
nearest x2, 3x3, ReLU, 3x3; 1x1 shortcut); from the second on, each input is the previous output
concatenated with the encoder's map of the same resolution. A final plain 1x1 conv (no spectral norm,
no ReLU before it, as the official code) plus a per-pixel class projection when conditional gives
pixel_logits (B, 1, H, W). Spectral norm on every other layer.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganlab.models.base import DOut
from ganlab.models.biggan import BigGANGenerator, WideDBlock
from ganlab.models.layers import Projection, SelfAttention, init_weights, sn, unet_levels
from ganlab.registry import MODELS

# Encoder block widths (multiples of ch) by the number of 2x downsamplings; 128 and 256 px as D_unet_arch.
WIDTHS = {1: [1], 2: [1, 2], 3: [1, 2, 4], 4: [1, 2, 4, 8], 5: [1, 2, 4, 8, 16], 6: [1, 2, 4, 8, 8, 16]}


class UpBlock(nn.Module):
    """ReLU-nearest x2-3x3-ReLU-3x3, plus a nearest x2 + 1x1 shortcut; no normalisation."""

    def __init__(self, c_in: int, c_out: int, use_sn: bool = True):
        super().__init__()
        self.conv1 = sn(nn.Conv2d(c_in, c_out, 3, padding=1), use_sn)
        self.conv2 = sn(nn.Conv2d(c_out, c_out, 3, padding=1), use_sn)
        self.skip = sn(nn.Conv2d(c_in, c_out, 1), use_sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.conv1(F.interpolate(F.relu(x), scale_factor=2, mode="nearest"))))
        return h + self.skip(up)


class UNetDiscriminator(nn.Module):
    def __init__(self, image_size: int = 64, channels: int = 3, num_classes: int = 0, ch: int = 64,
                 attn: int = 0, spectral_norm: bool = True, init: str = "ortho",
                 minibatch_kernels: int = 0):
        super().__init__()
        levels = unet_levels(image_size, "unet")   # downsampling blocks: image_size -> 4
        if levels not in WIDTHS:
            raise ValueError(f"unet cannot make image_size={image_size}; supported: 8 to {4 << max(WIDTHS)}")
        w = [m * ch for m in WIDTHS[levels]]       # encoder block widths, at image_size/2 ... 4
        self.down = nn.ModuleList(WideDBlock(c_in, c_out, True, i > 0, spectral_norm)
                                  for i, (c_in, c_out) in enumerate(zip([channels] + w[:-1], w)))
        resolutions = [image_size >> (i + 1) for i in range(levels)]
        if attn and attn not in resolutions:
            raise ValueError(f"unet: d_attn={attn} is not an encoder resolution; choose from {resolutions} or 0")
        self.attn_at = attn   # the encoder resolution after which self-attention runs (0 = none)
        self.attn = SelfAttention(w[resolutions.index(attn)], spectral_norm) if attn else None
        self.attn_level = resolutions.index(attn) + 1 if attn else 0   # after this many down blocks
        # decoder, 4x4 -> image_size: the first block takes the bottleneck, the others [previous, skip]
        outs = w[-2::-1] + [ch]
        ins = [w[-1]] + [2 * c for c in w[-2::-1]]
        self.up = nn.ModuleList(UpBlock(c_in, c_out, spectral_norm) for c_in, c_out in zip(ins, outs))
        self.features_dim = w[-1]
        self.head = Projection(w[-1], num_classes, spectral_norm, minibatch_kernels)
        self.pixel_out = nn.Conv2d(ch, 1, 1)
        self.pixel_embed = sn(nn.Embedding(num_classes, ch), spectral_norm) if num_classes else None
        init_weights(self, init)

    def ordered_blocks(self) -> list[nn.Module]:
        """D's blocks from the input up, the heads excluded (FreezeD freezes the first K): the
        encoder's down blocks (self-attention after its resolution), then the decoder's up blocks."""
        blocks: list[nn.Module] = []
        for i, block in enumerate(self.down, 1):
            blocks.append(block)
            if self.attn is not None and i == self.attn_level:
                blocks.append(self.attn)
        return blocks + list(self.up)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        h, skips = x, []
        for block in self.down:
            h = block(h)
            if self.attn is not None and h.shape[-1] == self.attn_at:
                h = self.attn(h)
            skips.append(h)
        pooled = F.relu(h).sum((2, 3))                       # global sum pooling -> (B, C)
        logits = self.head(pooled, y)
        for block, skip in zip(self.up, [None] + skips[-2::-1]):
            h = block(h if skip is None else torch.cat([h, skip], 1))
        pixel = self.pixel_out(h)
        if self.pixel_embed is not None:
            if y is None:
                raise ValueError("this discriminator is class-conditional: pass labels y")
            pixel = pixel + (self.pixel_embed(y)[:, :, None, None] * h).sum(1, keepdim=True)
        return DOut(logits=logits, pixel_logits=pixel, features=pooled)


@MODELS.register("unet_gan", tiny=dict(ch=8, d_attn=8))
def unet_gan(image_size: int, channels: int, num_classes: int = 0, *, conditional: bool, ch: int,
             z_dim: int, g_attn: int, d_attn: int, spectral_norm: bool, init: str, minibatch_kernels: int):
    """U-Net GAN (boschresearch/unetgan): BigGAN's (non-deep) generator, self-modulated by z when
    unconditional, and a U-Net discriminator (global + per-pixel logits)."""
    classes = num_classes if conditional else 0
    g = BigGANGenerator(image_size, channels, classes, ch, z_dim, g_attn, spectral_norm, init, self_modulation=not classes)
    d = UNetDiscriminator(image_size, channels, classes, ch, d_attn, True, init, minibatch_kernels)
    return g, d
