"""Attention U-Net generator for the attention WGAN-GP recipe.

z (and a class embedding when conditional) is mapped by a linear layer to a small noise map at half
resolution, upsampled to full size and run through a U-Net: an encoder of residual blocks that halve
the resolution down to 4x4, and a decoder of residual up-blocks. Each decoder level is joined by the
encoder map of the same resolution through an attention gate (Oktay et al. 2018): a per-pixel weight
sigmoid(psi(relu(W_x skip + W_g h))) computed from the skip and the decoder's own features scales the
skip before it is concatenated. Self-attention (SAGAN) follows the decoder level at resolution `attn`.
BatchNorm in G (the critic has none).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganlab.models.biggan_deep import BigGANDeepDiscriminator
from ganlab.models.layers import SelfAttention, init_weights, unet_levels
from ganlab.registry import MODELS

WIDTHS = [1, 2, 4, 8, 8, 8, 8]
NOISE_CHANNELS = 4


class Down(nn.Module):
    """BN-ReLU-3x3-BN-ReLU-3x3-avgpool, plus avgpool + 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(), nn.Conv2d(c_in, c_out, 3, padding=1),
                                  nn.BatchNorm2d(c_out), nn.ReLU(), nn.Conv2d(c_out, c_out, 3, padding=1),
                                  nn.AvgPool2d(2))
        self.skip = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class Up(nn.Module):
    """BN-ReLU-nearest x2-3x3-BN-ReLU-3x3, plus nearest x2 + 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(), nn.Upsample(scale_factor=2),
                                  nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                                  nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class AttentionGate(nn.Module):
    """skip * sigmoid(psi(relu(W_x skip + W_g gate))): a per-pixel weight in [0, 1] on the skip connection."""

    def __init__(self, skip_channels: int, gate_channels: int):
        super().__init__()
        inner = max(skip_channels // 2, 1)
        self.w_x, self.w_g = nn.Conv2d(skip_channels, inner, 1), nn.Conv2d(gate_channels, inner, 1)
        self.psi = nn.Conv2d(inner, 1, 1)

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return skip * torch.sigmoid(self.psi(F.relu(self.w_x(skip) + self.w_g(gate))))


class AttentionUNetGenerator(nn.Module):
    def __init__(self, image_size: int = 32, channels: int = 3, num_classes: int = 0, ch: int = 32,
                 z_dim: int = 128, embed_dim: int = 32, attn: int = 16, init: str = "normal"):
        super().__init__()
        levels = unet_levels(image_size, "attention_unet")
        if attn and attn not in [image_size >> i for i in range(levels)]:
            raise ValueError(f"attention_unet: g_attn={attn} is not a decoder resolution between 8 and {image_size}")
        self.z_dim, self.num_classes, self.image_size, self.channels = z_dim, num_classes, image_size, channels
        w = [m * ch for m in WIDTHS[:levels + 1]]
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        half = image_size // 2
        self.noise = nn.Linear(z_dim + (embed_dim if num_classes else 0), NOISE_CHANNELS * half * half)
        self.stem = nn.Conv2d(NOISE_CHANNELS, w[0], 3, padding=1)
        self.down = nn.ModuleList(Down(w[i], w[i + 1]) for i in range(levels))
        self.up = nn.ModuleList(Up(w[i + 1] if i == levels - 1 else 2 * w[i + 1], w[i]) for i in reversed(range(levels)))
        self.gates = nn.ModuleList(AttentionGate(w[i], w[i]) for i in reversed(range(levels)))
        self.attn_at = attn
        self.attn = SelfAttention(2 * w[int(math.log2(image_size // attn))], False) if attn else None
        self.out = nn.Sequential(nn.BatchNorm2d(2 * w[0]), nn.ReLU(), nn.Conv2d(2 * w[0], channels, 3, padding=1), nn.Tanh())
        init_weights(self, init)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # -> (B, C, H, W)
        c = torch.cat([z, self.embed(y)], 1) if self.embed is not None else z
        half = self.image_size // 2
        h = self.stem(F.interpolate(self.noise(c).view(len(z), NOISE_CHANNELS, half, half), scale_factor=2))
        skips = [h]
        for block in self.down:
            h = block(h)
            skips.append(h)
        skips.pop()   # the 4x4 bottleneck is the decoder's input, not a skip
        for block, gate in zip(self.up, self.gates):
            h = block(h)
            h = torch.cat([h, gate(skips.pop(), h)], 1)
            if self.attn is not None and h.shape[-1] == self.attn_at:
                h = self.attn(h)
        return self.out(h)


@MODELS.register("attention_wgan", tiny=dict(ch=4, d_ch=4, g_attn=0, d_attn=8))
def attention_wgan(image_size: int, channels: int, num_classes: int = 0, *, conditional: bool, ch: int,
                   d_ch: int, z_dim: int, embed_dim: int, g_attn: int, d_attn: int,
                   d_depth: int, d_block: str, init: str, minibatch_kernels: int):
    """Attention WGAN: an attention U-Net generator and a residual critic with self-attention and no
    normalisation layers (BigGAN-deep's discriminator without spectral norm, with its bottleneck blocks or,
    d_block=wide, BigGAN's two-conv blocks), for the gradient penalty."""
    classes = num_classes if conditional else 0
    g = AttentionUNetGenerator(image_size, channels, classes, ch, z_dim, embed_dim, g_attn, init)
    d = BigGANDeepDiscriminator(image_size, channels, classes, d_ch, d_depth, d_attn, False, init, d_block, minibatch_kernels)
    return g, d
