"""BigGAN-deep (BigGAN-PyTorch's BigGANdeep.py), simplified: bottleneck residual blocks, a shared class
embedding concatenated with z feeding every conditional BatchNorm, self-attention at one resolution,
spectral norm, orthogonal init; a residual projection discriminator with global sum pooling. Sizes 16
to 256. The lightweight options (g_cond, g_block, d_block) are stated departures, each measured.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganlab.models.base import DOut
from ganlab.models.biggan import G_ARCH, PlainGBlock, WideDBlock, _arch, d_blocks
from ganlab.models.layers import ConditionalBatchNorm2d, Projection, SelfAttention, init_weights, pool_map, pool_width, sn
from ganlab.registry import MODELS

# D's channel multipliers of `ch` at each stage boundary, image -> features, and which stages downsample.
D_ARCH = {16: [4, 4, 4], 32: [4, 4, 4, 4], 64: [1, 2, 4, 8, 16], 128: [1, 2, 4, 8, 16, 16], 256: [1, 2, 4, 8, 8, 16, 16]}
D_DOWN = {16: [True, False], 32: [True, True, False], 64: [True] * 4, 128: [True] * 5, 256: [True] * 6}   # to 4x4 from 64 px, as BigGANdeep.py


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


G_CONDS, G_BLOCK_KINDS = ("z_and_class", "class"), ("deep", "wide")


class BigGANDeepGenerator(nn.Module):
    """g_cond: what drives every conditional BN. z_and_class is BigGAN-deep's (the shared class embedding
    concatenated with the whole z); class is the lightweight option (the embedding alone, z only in the stem):
    at init a whole-z CBN scales each channel by 1 +- 0.7 per sample, which a small G does not overcome."""

    def __init__(self, image_size: int = 32, channels: int = 3, num_classes: int = 0, ch: int = 64,
                 z_dim: int = 128, shared_dim: int = 128, depth: int = 2, attn: int = 16,
                 spectral_norm: bool = True, init: str = "ortho", g_cond: str = "z_and_class", g_block: str = "deep"):
        super().__init__()
        _arch(image_size, "biggan_deep")
        if g_cond not in G_CONDS:
            raise ValueError(f"unknown biggan_deep g_cond '{g_cond}'; available: {', '.join(G_CONDS)}")
        if g_block not in G_BLOCK_KINDS:
            raise ValueError(f"unknown biggan_deep g_block '{g_block}'; available: {', '.join(G_BLOCK_KINDS)}")
        if g_cond == "class" and not num_classes:
            raise ValueError("biggan_deep g_cond=class needs a class-conditional model (conditional: true, labelled data)")
        self.z_dim, self.num_classes, self.image_size, self.channels = z_dim, num_classes, image_size, channels
        self.g_cond = g_cond
        arch = [m * ch for m in G_ARCH[image_size]]
        self.shared = nn.Embedding(num_classes, shared_dim) if num_classes else None   # no SN here (BigGAN)
        stem_in = z_dim + (shared_dim if num_classes else 0)
        cond = shared_dim if g_cond == "class" else stem_in
        self.stem = sn(nn.Linear(stem_in, arch[0] * 16), spectral_norm)
        self.blocks = nn.ModuleList()
        res = 4
        for c_in, c_out in zip(arch[:-1], arch[1:]):
            for i in range(depth):   # only the last block of a stage upsamples and changes width
                last = i == depth - 1
                width = c_out if last else c_in
                self.blocks.append(GBlock(c_in, width, cond, last, spectral_norm) if g_block == "deep" else   # wide:
                                   PlainGBlock(c_in, width, lambda c: ConditionalBatchNorm2d(c, cond, spectral_norm),
                                               spectral_norm, last))                  # BigGAN's block, same CBN input
            res *= 2
            if res == attn:
                self.blocks.append(SelfAttention(c_out, spectral_norm))
        if attn and attn not in [4 * 2 ** (i + 1) for i in range(len(arch) - 1)]:
            raise ValueError(f"biggan_deep: g_attn={attn} is not a resolution of this generator (8 to {image_size}, or 0)")
        self.out = nn.Sequential(nn.BatchNorm2d(arch[-1]), nn.ReLU(),
                                 sn(nn.Conv2d(arch[-1], channels, 3, padding=1), spectral_norm), nn.Tanh())
        init_weights(self, init)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # -> (B, C, H, W)
        e = self.shared(y) if self.shared is not None else None
        c = torch.cat([e, z], 1) if e is not None else z
        h = self.stem(c).view(len(z), -1, 4, 4)
        c = e if self.g_cond == "class" else c
        for block in self.blocks:
            h = block(h, c) if isinstance(block, (GBlock, PlainGBlock)) else block(h)
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


D_BLOCK_KINDS = ("deep", "wide")


class BigGANDeepDiscriminator(nn.Module):
    """d_block: deep is BigGAN-deep's bottleneck DBlock; wide is the lightweight option, BigGAN's two-conv
    wide D block (pre-activation) at the same widths, depth and resolutions: at ch 8 the bottleneck's 3x3
    convolutions run on 8 channels and its residual branches carry 0.07-0.16 of the skip, so D learns
    shape about 10x more slowly than with wide blocks."""

    def __init__(self, image_size: int = 32, channels: int = 3, num_classes: int = 0, ch: int = 64,
                 depth: int = 2, attn: int = 16, spectral_norm: bool = True, init: str = "ortho", d_block: str = "deep",
                 minibatch_kernels: int = 0, pool: str = "sum"):
        super().__init__()
        _arch(image_size, "biggan_deep")
        if d_block not in D_BLOCK_KINDS:
            raise ValueError(f"unknown biggan_deep d_block '{d_block}'; available: {', '.join(D_BLOCK_KINDS)}")
        arch = [m * ch for m in D_ARCH[image_size]]
        self.depth = depth
        self.stem = sn(nn.Conv2d(channels, arch[0], 3, padding=1), spectral_norm)

        def block(c_in: int, c_out: int, down: bool) -> nn.Module:
            if d_block == "wide":
                return WideDBlock(c_in, c_out, down, True, spectral_norm)
            return DBlock(c_in, c_out, down, spectral_norm)
        stages = [([block(c_in if i == 0 else c_out, c_out, down and i == 0)    # the first block of a stage
                    for i in range(depth)], c_out, down)                        # changes width and downsamples
                  for c_in, c_out, down in zip(arch[:-1], arch[1:], D_DOWN[image_size])]
        self.blocks = d_blocks(stages, image_size, attn, spectral_norm)
        self.pool = pool
        self.features_dim = pool_width(pool, arch[-1], image_size // 2 ** sum(D_DOWN[image_size]), "biggan_deep")
        self.head = Projection(self.features_dim, num_classes, spectral_norm, minibatch_kernels)
        init_weights(self, init)

    def ordered_blocks(self) -> list[nn.Module]:
        """D's blocks from the input up, the head excluded (FreezeD freezes the first K): the stem,
        then each residual block (and the self-attention layer where it sits)."""
        return [self.stem, *self.blocks]

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        h = pool_map(F.relu(self.blocks(self.stem(x))), self.pool)   # BigGAN's global sum pooling -> (B, C), or flat
        return DOut(logits=self.head(h, y), features=h)



@MODELS.register("biggan_deep", tiny=dict(ch=4, depth=1, g_attn=0, d_attn=8))
def biggan_deep(image_size: int, channels: int, num_classes: int = 0, *, conditional: bool, ch: int,
                z_dim: int, shared_dim: int, depth: int, g_attn: int, d_attn: int,
                spectral_norm: bool, init: str, g_cond: str, g_block: str, d_block: str, minibatch_kernels: int,
                d_pool: str):
    classes = num_classes if conditional else 0
    g = BigGANDeepGenerator(image_size, channels, classes, ch, z_dim, shared_dim, depth, g_attn, spectral_norm, init, g_cond, g_block)
    d = BigGANDeepDiscriminator(image_size, channels, classes, ch, depth, d_attn, True, init, d_block, minibatch_kernels, d_pool)
    return g, d
