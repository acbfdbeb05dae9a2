"""BigGAN-deep, simplified: bottleneck residual blocks, shared class embedding concatenated with z
feeding every conditional BatchNorm, self-attention at one resolution, spectral norm, orthogonal
init; a residual projection discriminator with global sum pooling. Sizes 32, 64 and 128.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganlab.models.base import DOut
from ganlab.models.layers import ConditionalBatchNorm2d, Projection, SelfAttention, init_weights, sn

# Channel multipliers of `ch` at each stage boundary (len - 1 stages). G: 4x4 -> image; D: image -> features.
G_ARCH = {16: [4, 4, 4], 32: [4, 4, 4, 4], 64: [16, 16, 8, 4, 2], 128: [16, 16, 8, 4, 2, 1]}
D_ARCH = {16: [4, 4, 4], 32: [4, 4, 4, 4], 64: [1, 2, 4, 8, 16], 128: [1, 2, 4, 8, 16, 16]}
D_DOWN = {16: [True, False], 32: [True, True, False], 64: [True] * 4, 128: [True, True, True, True, False]}


def _arch(image_size: int) -> None:
    if image_size not in G_ARCH:
        raise ValueError(f"biggan_deep cannot make image_size={image_size}; supported: 16, 32, 64, 128")


class GBlock(nn.Module):
    """CBN-ReLU-1x1 (C_in -> C_in/4), CBN-ReLU-[up]-3x3, CBN-ReLU-3x3, CBN-ReLU-1x1 (-> C_out); skip drops channels."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, upsample: bool, use_sn: bool):
        super().__init__()
        h = max(c_in // 4, 1)
        self.c_out, self.upsample = c_out, upsample
        self.bns = nn.ModuleList([ConditionalBatchNorm2d(c, cond_dim, use_sn) for c in (c_in, h, h, h)])
        self.convs = nn.ModuleList([sn(nn.Conv2d(c_in, h, 1), use_sn), sn(nn.Conv2d(h, h, 3, padding=1), use_sn),
                                    sn(nn.Conv2d(h, h, 3, padding=1), use_sn), sn(nn.Conv2d(h, c_out, 1), use_sn)])

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = x
        for i, (bn, conv) in enumerate(zip(self.bns, self.convs)):
            h = F.relu(bn(h, c))
            if i == 1 and self.upsample:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = conv(h)
        skip = x[:, :self.c_out]  # channel drop (a no-op when C_out == C_in)
        if self.upsample:
            skip = F.interpolate(skip, scale_factor=2, mode="nearest")
        return h + skip


class BigGANDeepGenerator(nn.Module):
    def __init__(self, image_size: int = 32, channels: int = 3, num_classes: int = 0, ch: int = 64,
                 z_dim: int = 128, shared_dim: int = 128, depth: int = 2, attn: int = 16,
                 spectral_norm: bool = True, init: str = "ortho"):
        super().__init__()
        _arch(image_size)
        self.z_dim, self.num_classes, self.image_size, self.channels = z_dim, num_classes, image_size, channels
        arch = [m * ch for m in G_ARCH[image_size]]
        self.shared = nn.Embedding(num_classes, shared_dim) if num_classes else None   # no SN here (BigGAN)
        cond = z_dim + (shared_dim if num_classes else 0)
        self.stem = sn(nn.Linear(cond, arch[0] * 16), spectral_norm)
        self.blocks = nn.ModuleList()
        res = 4
        for c_in, c_out in zip(arch[:-1], arch[1:]):
            for i in range(depth):   # only the last block of a stage upsamples and changes width
                last = i == depth - 1
                self.blocks.append(GBlock(c_in, c_out if last else c_in, cond, last, spectral_norm))
            res *= 2
            if res == attn:
                self.blocks.append(SelfAttention(c_out, spectral_norm))
        if attn and attn not in [4 * 2 ** (i + 1) for i in range(len(arch) - 1)]:
            raise ValueError(f"biggan_deep: g_attn={attn} is not a resolution of this generator (8 to {image_size}, or 0)")
        self.out = nn.Sequential(nn.BatchNorm2d(arch[-1]), nn.ReLU(),
                                 sn(nn.Conv2d(arch[-1], channels, 3, padding=1), spectral_norm), nn.Tanh())
        init_weights(self, init)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # -> (B, C, H, W)
        c = torch.cat([self.shared(y), z], 1) if self.shared is not None else z
        h = self.stem(c).view(len(z), -1, 4, 4)
        for block in self.blocks:
            h = block(h, c) if isinstance(block, GBlock) else block(h)
        return self.out(h)


class DBlock(nn.Module):
    """ReLU-1x1 (-> C_out/4), ReLU-3x3, ReLU-3x3, ReLU-[avgpool]-1x1 (-> C_out); skip pools and
    concatenates a learned 1x1 for the extra channels."""

    def __init__(self, c_in: int, c_out: int, downsample: bool, use_sn: bool):
        super().__init__()
        h = max(c_out // 4, 1)
        self.downsample = downsample
        self.convs = nn.ModuleList([sn(nn.Conv2d(c_in, h, 1), use_sn), sn(nn.Conv2d(h, h, 3, padding=1), use_sn),
                                    sn(nn.Conv2d(h, h, 3, padding=1), use_sn), sn(nn.Conv2d(h, c_out, 1), use_sn)])
        self.extra = sn(nn.Conv2d(c_in, c_out - c_in, 1), use_sn) if c_out > c_in else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for i, conv in enumerate(self.convs):
            h = F.relu(h)
            if i == 3 and self.downsample:
                h = F.avg_pool2d(h, 2)
            h = conv(h)
        skip = F.avg_pool2d(x, 2) if self.downsample else x
        if self.extra is not None:
            skip = torch.cat([skip, self.extra(skip)], 1)
        return h + skip


class BigGANDeepDiscriminator(nn.Module):
    def __init__(self, image_size: int = 32, channels: int = 3, num_classes: int = 0, ch: int = 64,
                 depth: int = 2, attn: int = 16, spectral_norm: bool = True, init: str = "ortho"):
        super().__init__()
        _arch(image_size)
        arch = [m * ch for m in D_ARCH[image_size]]
        self.stem = sn(nn.Conv2d(channels, arch[0], 3, padding=1), spectral_norm)
        blocks: list[nn.Module] = []
        res = image_size
        for c_in, c_out, down in zip(arch[:-1], arch[1:], D_DOWN[image_size]):
            for i in range(depth):   # the first block of a stage changes width and downsamples
                blocks.append(DBlock(c_in if i == 0 else c_out, c_out, down and i == 0, spectral_norm))
            res = res // 2 if down else res
            if res == attn:
                blocks.append(SelfAttention(c_out, spectral_norm))
                attn = -1   # once
        if attn > 0:
            raise ValueError(f"d_attn={attn} is not a resolution of this discriminator's blocks (0 for none)")
        self.blocks = nn.Sequential(*blocks)
        self.features_dim = arch[-1]
        self.head = Projection(arch[-1], num_classes, spectral_norm)
        init_weights(self, init)

    def ordered_blocks(self) -> list[nn.Module]:
        """D's blocks from the input up, the head excluded (FreezeD freezes the first K): the stem,
        then each residual block (and the self-attention layer where it sits)."""
        return [self.stem, *self.blocks]

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        h = F.relu(self.blocks(self.stem(x))).sum((2, 3))   # global sum pooling -> (B, C)
        return DOut(logits=self.head(h, y), features=h)
