"""BigGAN (not deep), as in BigGAN-PyTorch's BigGAN.py: two-conv residual blocks, per-layer class
embeddings in every conditional BatchNorm, wide D blocks, a projection head after global sum pooling.
The CIFAR-10 tables of DiffAugment, AugSelf and LeCam were measured with this model (launch_cifar_ema.sh:
ch 64, no attention, N(0, 0.02) init). Sizes 16 to 256.

Also the pieces the other BigGAN-family models reuse: the G widths, the wide G and D blocks, unetgan's
self-modulated BN and the stage builder for discriminators with one self-attention layer.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganlab.models.base import DOut
from ganlab.models.layers import ConditionalBatchNorm2d, Projection, SelfAttention, init_weights, sn
from ganlab.registry import MODELS

# Channel multipliers of `ch` at each stage boundary (len - 1 stages), 4x4 -> image.
G_ARCH = {16: [4, 4, 4], 32: [4, 4, 4, 4], 64: [16, 16, 8, 4, 2], 128: [16, 16, 8, 4, 2, 1], 256: [16, 16, 8, 8, 4, 2, 1]}


def _arch(image_size: int, name: str) -> None:
    if image_size not in G_ARCH:
        raise ValueError(f"{name} cannot make image_size={image_size}; supported: {', '.join(map(str, G_ARCH))}")


def d_blocks(stages: list[tuple[list[nn.Module], int, bool]], image_size: int, attn: int, spectral_norm: bool,
             who: str = "") -> nn.Sequential:
    """A discriminator's stages (blocks, output width, downsamples?) in order, with one self-attention after
    the stage whose output resolution is `attn` (0: none); an `attn` no stage reaches is refused."""
    blocks: list[nn.Module] = []
    res = image_size
    for stage, c_out, down in stages:
        blocks += stage
        res = res // 2 if down else res
        if res == attn:
            blocks.append(SelfAttention(c_out, spectral_norm))
            attn = -1   # once
    if attn > 0:
        raise ValueError(f"{who}d_attn={attn} is not a resolution of this discriminator's blocks (0 for none)")
    return nn.Sequential(*blocks)


# BigGAN's D: output widths (multiples of ch) and whether each block halves the resolution.
PLAIN_D_ARCH = {16: ([4, 4, 4], [True, False, False]), 32: ([4, 4, 4, 4], [True, True, False, False]),
                64: ([1, 2, 4, 8, 16], [True] * 4 + [False]), 128: ([1, 2, 4, 8, 16, 16], [True] * 5 + [False]),
                256: ([1, 2, 4, 8, 8, 16, 16], [True] * 6 + [False])}


class ClassBatchNorm2d(nn.Module):
    """BigGAN's ccbn without a shared embedding: BN without affine terms, then BN(x) * (1 + E_gain[y]) +
    E_bias[y], with one class embedding pair per layer; a plain affine BN when unconditional."""

    def __init__(self, channels: int, num_classes: int, eps: float = 1e-5):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=eps, affine=not num_classes)
        self.gain = nn.Embedding(num_classes, channels) if num_classes else None
        self.bias = nn.Embedding(num_classes, channels) if num_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = self.bn(x)
        if self.gain is None:
            return h
        return h * (1 + self.gain(y)[:, :, None, None]) + self.bias(y)[:, :, None, None]


class SelfModulatedBatchNorm2d(nn.Module):
    """unetgan's unconditional ccbn (self_modulation): BN without affine terms, then BN(x) * (1 + MLP_g(z)) +
    MLP_b(z), each MLP Linear(z, z) -> ReLU -> Linear(z, C, no bias), no spectral norm."""

    def __init__(self, channels: int, z_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain, self.bias = (nn.Sequential(nn.Linear(z_dim, z_dim), nn.ReLU(), nn.Linear(z_dim, channels, bias=False))
                                for _ in range(2))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * (1 + self.gain(z)[:, :, None, None]) + self.bias(z)[:, :, None, None]


class PlainGBlock(nn.Module):
    """CBN-ReLU-[up]-3x3, CBN-ReLU-3x3; the skip upsamples, then a learned 1x1 (BigGAN's GBlock). `norm(C)`
    makes each conditional BN, whose forward takes (h, cond): per-layer class embeddings (BigGAN), z
    (unetgan's self-modulation) or a conditioning vector (BigGAN-deep's g_block=wide)."""

    def __init__(self, c_in: int, c_out: int, norm: Callable[[int], nn.Module], use_sn: bool, upsample: bool = True):
        super().__init__()
        self.upsample = upsample
        self.bn1, self.bn2 = norm(c_in), norm(c_out)
        self.conv1 = sn(nn.Conv2d(c_in, c_out, 3, padding=1), use_sn)
        self.conv2 = sn(nn.Conv2d(c_out, c_out, 3, padding=1), use_sn)
        self.skip = sn(nn.Conv2d(c_in, c_out, 1), use_sn)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        up = (lambda t: F.interpolate(t, scale_factor=2, mode="nearest")) if self.upsample else (lambda t: t)
        h = self.conv2(F.relu(self.bn2(self.conv1(up(F.relu(self.bn1(x, cond)))), cond)))
        return h + self.skip(up(x))


class WideDBlock(nn.Module):
    """BigGAN's wide D block: [ReLU]-3x3 (c_in -> c_out), ReLU-3x3, [avgpool]. The skip is a learned 1x1
    when the width changes or the block downsamples, applied before the pooling with pre-activation and
    after it without (the first block of a discriminator has no pre-activation). relu_skip: with
    pre-activation the skip reads ReLU(x) too, as StudioGAN's big_resnet (its in-place ReLU rewrites x)."""

    def __init__(self, c_in: int, c_out: int, downsample: bool, preactivation: bool, use_sn: bool,
                 relu_skip: bool = False):
        super().__init__()
        self.downsample, self.preactivation = downsample, preactivation
        self.relu_skip = relu_skip and preactivation
        self.conv1 = sn(nn.Conv2d(c_in, c_out, 3, padding=1), use_sn)
        self.conv2 = sn(nn.Conv2d(c_out, c_out, 3, padding=1), use_sn)
        self.skip = sn(nn.Conv2d(c_in, c_out, 1), use_sn) if c_in != c_out or downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x) if self.relu_skip else x
        h = self.conv2(F.relu(self.conv1(F.relu(x) if self.preactivation else x)))
        pool = (lambda t: F.avg_pool2d(t, 2)) if self.downsample else (lambda t: t)
        conv = self.skip if self.skip is not None else (lambda t: t)
        skip = pool(conv(x)) if self.preactivation else conv(pool(x))
        return pool(h) + skip


G_CONDS = ("class", "hier")


class BigGANGenerator(nn.Module):
    """z (whole) -> SN-linear -> 4x4, then one PlainGBlock per doubling; BN-ReLU-3x3-tanh.
    self_modulation (unconditional only): every BN is modulated by the whole z, as unetgan's
    unconditional generator (BigGAN.py Generator with --unconditional).
    g_cond=hier: BigGAN-PyTorch's --G_shared --hier (its ImageNet models) and StudioGAN's big_resnet: z splits
    into one chunk per block plus one for the stem, and each block's BNs read [shared class embedding, chunk]
    through SN linears (the chunk alone when unconditional)."""

    def __init__(self, image_size: int = 32, channels: int = 3, num_classes: int = 0, ch: int = 64,
                 z_dim: int = 128, attn: int = 0, spectral_norm: bool = True, init: str = "normal",
                 self_modulation: bool = False, g_cond: str = "class", shared_dim: int = 128, bn_eps: float = 1e-5):
        super().__init__()
        _arch(image_size, "biggan")
        if self_modulation and num_classes:
            raise ValueError("biggan: self-modulation is for unconditional generators (conditional: false)")
        if g_cond not in G_CONDS:
            raise ValueError(f"unknown biggan g_cond '{g_cond}'; available: {', '.join(G_CONDS)}")
        self.self_modulation = self_modulation
        self.z_dim, self.num_classes, self.image_size, self.channels = z_dim, num_classes, image_size, channels
        arch = [m * ch for m in G_ARCH[image_size]]
        self.chunk = z_dim // len(arch) if g_cond == "hier" else 0   # len(arch) - 1 blocks and the stem
        if self.chunk and z_dim % len(arch):
            raise ValueError(f"biggan g_cond=hier splits z into {len(arch)} chunks at {image_size} px: "
                             f"z_dim={z_dim} is not a multiple of {len(arch)}")
        self.shared = nn.Embedding(num_classes, shared_dim) if self.chunk and num_classes else None   # no SN (BigGAN)
        self.stem = sn(nn.Linear(self.chunk or z_dim, arch[0] * 16), spectral_norm)
        self.blocks = nn.ModuleList()
        if self.chunk:
            cond = self.chunk + (shared_dim if num_classes else 0)
            norm = (lambda c: ConditionalBatchNorm2d(c, cond, spectral_norm, bn_eps))
        elif self_modulation:
            norm = (lambda c: SelfModulatedBatchNorm2d(c, z_dim))
        else:
            norm = (lambda c: ClassBatchNorm2d(c, num_classes, bn_eps))
        for i, (c_in, c_out) in enumerate(zip(arch[:-1], arch[1:])):
            self.blocks.append(PlainGBlock(c_in, c_out, norm, spectral_norm))
            if 8 << i == attn:
                self.blocks.append(SelfAttention(c_out, spectral_norm))
        if attn and not any(isinstance(b, SelfAttention) for b in self.blocks):
            raise ValueError(f"biggan: g_attn={attn} is not a resolution of this generator (8 to {image_size}, or 0)")
        self.out = nn.Sequential(nn.BatchNorm2d(arch[-1], eps=bn_eps), nn.ReLU(),
                                 sn(nn.Conv2d(arch[-1], channels, 3, padding=1), spectral_norm), nn.Tanh())
        init_weights(self, init)

    def conditions(self, z: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, list]:
        """(the stem's input, what each residual block's BNs read)."""
        if not self.chunk:
            return z, [z if self.self_modulation else y] * len(self.blocks)
        first, *rest = z.split(self.chunk, 1)
        e = self.shared(y) if self.shared is not None else None
        return first, [c if e is None else torch.cat([e, c], 1) for c in rest]

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # -> (B, C, H, W)
        stem_in, conds = self.conditions(z, y)
        h = self.stem(stem_in).view(len(z), -1, 4, 4)
        k = 0
        for block in self.blocks:
            if isinstance(block, PlainGBlock):
                h, k = block(h, conds[k]), k + 1
            else:
                h = block(h)
        return self.out(h)


class BigGANDiscriminator(nn.Module):
    """Wide DBlocks straight from the image (no stem), ReLU, global sum pooling, projection head."""

    def __init__(self, image_size: int = 32, channels: int = 3, num_classes: int = 0, ch: int = 64,
                 attn: int = 0, spectral_norm: bool = True, init: str = "normal", minibatch_kernels: int = 0,
                 relu_skip: bool = False):
        super().__init__()
        _arch(image_size, "biggan")
        widths, down = PLAIN_D_ARCH[image_size]
        widths = [m * ch for m in widths]
        stages = [([WideDBlock(c_in, c_out, down[i], i > 0, spectral_norm, relu_skip)], c_out, down[i])
                  for i, (c_in, c_out) in enumerate(zip([channels] + widths[:-1], widths))]
        self.blocks = d_blocks(stages, image_size, attn, spectral_norm, "biggan: ")
        self.features_dim = widths[-1]
        self.head = Projection(widths[-1], num_classes, spectral_norm, minibatch_kernels)
        init_weights(self, init)

    def ordered_blocks(self) -> list[nn.Module]:
        """D's blocks from the input up, the head excluded (FreezeD freezes the first K)."""
        return list(self.blocks)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        h = F.relu(self.blocks(x)).sum((2, 3))   # global sum pooling -> (B, C)
        return DOut(logits=self.head(h, y), features=h)


@MODELS.register("biggan", tiny=dict(ch=4))
def biggan(image_size: int, channels: int, num_classes: int = 0, *, conditional: bool, ch: int, d_ch: int | None,
           z_dim: int, g_cond: str, shared_dim: int, bn_eps: float, g_attn: int, d_attn: int, spectral_norm: bool,
           init: str, minibatch_kernels: int, d_relu_skip: bool):
    """BigGAN (not deep), BigGAN-PyTorch's CIFAR model: G 4.30M / D 4.21M parameters at ch 64, 32 px, 10 classes."""
    classes = num_classes if conditional else 0
    g = BigGANGenerator(image_size, channels, classes, ch, z_dim, g_attn, spectral_norm, init, g_cond=g_cond,
                        shared_dim=shared_dim, bn_eps=bn_eps)
    d = BigGANDiscriminator(image_size, channels, classes, d_ch or ch, d_attn, True, init, minibatch_kernels, d_relu_skip)
    return g, d
