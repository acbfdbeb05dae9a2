"""U-Net discriminator (Schoenfeld et al., CVPR 2020): a BigGAN encoder that gives one global logit
per image, and a decoder with skip connections that gives one logit per pixel.

Encoder: a 3x3 stem, then residual blocks that each halve the resolution down to 4x4 (widths
ch x [1, 2, 4, 8, 16, 16, ...]). Global head: ReLU, sum pooling, a linear layer plus the class
projection. Decoder: residual up-blocks without BatchNorm (ReLU, nearest x2, 3x3, ReLU, 3x3; 1x1
shortcut); each one's output is concatenated with the encoder's map of the same resolution before
the next. A final ReLU and 1x1 conv (plus a per-pixel class projection when conditional) give
pixel_logits (B, 1, H, W). Spectral norm on every layer.
"""
from __future__ import annotations


import torch
import torch.nn as nn
import torch.nn.functional as F

from ganlab.models.base import DOut
from ganlab.models.biggan import DBlock
from ganlab.models.layers import Projection, SelfAttention, init_weights, sn, unet_levels

WIDTHS = [1, 2, 4, 8, 16, 16, 16]


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
                 attn: int = 0, spectral_norm: bool = True, init: str = "ortho"):
        super().__init__()
        levels = unet_levels(image_size, "unet")   # downsampling blocks: image_size -> 4
        w = [m * ch for m in WIDTHS[:levels + 1]]
        self.stem = sn(nn.Conv2d(channels, w[0], 3, padding=1), spectral_norm)
        self.down = nn.ModuleList(DBlock(w[i], w[i + 1], True, spectral_norm) for i in range(levels))
        resolutions = [image_size >> (i + 1) for i in range(levels)]
        if attn and attn not in resolutions:
            raise ValueError(f"unet: d_attn={attn} is not an encoder resolution; choose from {resolutions} or 0")
        self.attn_at = attn   # the encoder resolution after which self-attention runs (0 = none)
        self.attn = SelfAttention(w[resolutions.index(attn) + 1], spectral_norm) if attn else None
        self.attn_level = resolutions.index(attn) + 1 if attn else 0   # after this many down blocks
        # decoder: from 4x4 up to full size; every block but the last is followed by a skip concat
        ups = [UpBlock(w[levels], w[levels - 1], spectral_norm)]
        for i in range(levels - 1, 0, -1):
            ups.append(UpBlock(2 * w[i], w[i - 1], spectral_norm))
        self.up = nn.ModuleList(ups)
        self.features_dim = w[levels]
        self.head = Projection(w[levels], num_classes, spectral_norm)
        self.pixel_out = sn(nn.Conv2d(w[0], 1, 1), spectral_norm)
        self.pixel_embed = sn(nn.Embedding(num_classes, w[0]), spectral_norm) if num_classes else None
        init_weights(self, init)

    def ordered_blocks(self) -> list[nn.Module]:
        """D's blocks from the input up, the heads excluded (FreezeD freezes the first K): the stem,
        the encoder's down blocks (self-attention after its resolution), then the decoder's up blocks."""
        blocks: list[nn.Module] = [self.stem]
        for block in self.down:
            blocks.append(block)
            if self.attn is not None and len(blocks) - 1 == self.attn_level:
                blocks.append(self.attn)
        return blocks + list(self.up)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        h, skips = self.stem(x), []
        for block in self.down:
            h = block(h)
            if self.attn is not None and h.shape[-1] == self.attn_at:
                h = self.attn(h)
            skips.append(h)
        pooled = F.relu(h).sum((2, 3))                       # global sum pooling -> (B, C)
        logits = self.head(pooled, y)
        for block, skip in zip(self.up, [None] + skips[-2::-1]):
            h = block(h if skip is None else torch.cat([h, skip], 1))
        h = F.relu(h)
        pixel = self.pixel_out(h)
        if self.pixel_embed is not None and y is not None:
            pixel = pixel + (self.pixel_embed(y)[:, :, None, None] * h).sum(1, keepdim=True)
        return DOut(logits=logits, pixel_logits=pixel, features=pooled)
