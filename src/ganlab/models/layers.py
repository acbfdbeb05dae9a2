"""Layers shared by the generators and discriminators."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm


def sn(module: nn.Module, enabled: bool = True, eps: float = 1e-6) -> nn.Module:
    """Spectral normalization with one power iteration per training forward pass."""
    return spectral_norm(module, eps=eps) if enabled else module


D_POOLS = ("sum", "flatten")   # how a D's last map becomes its features: global sum pooling (BigGAN's), or the map
                               # read position by position (DCGAN's 4x4 valid conv is a linear on the flat map)


def pool_width(pool: str, channels: int, side: int, model: str) -> int:
    """The width of the features `pool_map` makes from a (B, channels, side, side) map; refuses an unknown pool."""
    if pool not in D_POOLS:
        raise ValueError(f"unknown {model} d_pool '{pool}'; available: {', '.join(D_POOLS)}")
    return channels * (side * side if pool == "flatten" else 1)


def pool_map(h: torch.Tensor, pool: str) -> torch.Tensor:
    """(B, C, H, W) -> (B, C) summed over positions, or (B, C*H*W) flat (pool_width checked `pool` at build time)."""
    return h.sum((2, 3)) if pool == "sum" else h.flatten(1)


def unet_levels(image_size: int, name: str) -> int:
    """How many 2x down (and up) steps a U-Net takes from image_size to 4x4; a power of two >= 8 is needed."""
    levels = int(math.log2(image_size)) - 2 if image_size > 0 else 0
    if image_size < 8 or 2 ** (levels + 2) != image_size:
        raise ValueError(f"{name} cannot make image_size={image_size}; it needs a power of two >= 8")
    return levels


def has_spectral_norm(module: nn.Module) -> bool:
    return any(name.endswith("parametrizations.weight.original") for name, _ in module.named_parameters())


def init_weights(module: nn.Module, kind: str = "ortho") -> None:
    """N(0, 0.02) ("normal", the DCGAN/BigGAN-CIFAR rule) or orthogonal ("ortho", BigGAN-deep)."""
    if kind not in ("ortho", "normal"):
        raise ValueError(f"unknown init '{kind}'; available: normal, ortho")
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            with torch.no_grad():
                nn.init.orthogonal_(w) if kind == "ortho" else nn.init.normal_(w, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class ConditionalBatchNorm2d(nn.Module):
    """BN without affine terms, then out = BN(x) * (1 + W_gamma c) + W_beta c for a vector c (B, cond_dim)."""

    def __init__(self, channels: int, cond_dim: int, use_sn: bool = True, eps: float = 1e-5):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=eps, affine=False)
        self.gain = sn(nn.Linear(cond_dim, channels, bias=False), use_sn)
        self.bias = sn(nn.Linear(cond_dim, channels, bias=False), use_sn)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        gain = 1 + self.gain(c)[:, :, None, None]
        return self.bn(x) * gain + self.bias(c)[:, :, None, None]


class SelfAttention(nn.Module):
    """SAGAN self-attention as in BigGAN's code: keys/values max-pooled 2x, no 1/sqrt(d), gamma starts at 0."""

    def __init__(self, channels: int, use_sn: bool = True):
        super().__init__()
        if channels % 8:
            raise ValueError(f"self-attention needs channels divisible by 8, got {channels}")
        self.theta = sn(nn.Conv2d(channels, channels // 8, 1, bias=False), use_sn)
        self.phi = sn(nn.Conv2d(channels, channels // 8, 1, bias=False), use_sn)
        self.g = sn(nn.Conv2d(channels, channels // 2, 1, bias=False), use_sn)
        self.out = sn(nn.Conv2d(channels // 2, channels, 1, bias=False), use_sn)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        b, c, h, w = x.shape
        theta = self.theta(x).flatten(2)                        # (B, C/8, N)
        phi = F.max_pool2d(self.phi(x), 2).flatten(2)           # (B, C/8, N/4)
        g = F.max_pool2d(self.g(x), 2).flatten(2)               # (B, C/2, N/4)
        attn = torch.softmax(theta.transpose(1, 2) @ phi, -1)  # (B, N, N/4)
        o = (g @ attn.transpose(1, 2)).view(b, c // 2, h, w)
        return x + self.gamma * self.out(o)


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016, section 3.2 (openai/improved-gan `nn.py` MinibatchLayer): each sample's features
    h_i (B, F) map through a tensor T to K kernels of C dims, M_i = h_i T (K, C); each kernel's closeness to
    the rest of the batch, o_i,k = sum_{j != i} exp(-||M_i,k - M_j,k||_1) + b_k, joins h_i: (B, F + K).

    As the official layer, T is weight-normalised (each (k, c) column of unit norm times exp(log_scale)),
    b starts at -1, and the first training batch sets the scales so that each kernel's mean distance to a
    sample's nearest neighbour is 2 and o's batch mean is 0 (its data-dependent init). That init is kept in
    buffers (checkpointed, and broadcast from rank 0 with the other buffers under DDP), so the parameters
    stay identical on every rank."""

    def __init__(self, features: int, kernels: int, dim: int = 5):
        super().__init__()
        self.theta = nn.Parameter(torch.randn(features, kernels, dim) * 0.05)
        self.log_scale = nn.Parameter(torch.zeros(kernels, dim))
        self.bias = nn.Parameter(torch.full((kernels,), -1.0))
        self.register_buffer("init_log_scale", torch.zeros(kernels, 1))
        self.register_buffer("init_bias", torch.zeros(kernels))
        self.register_buffer("initialized", torch.tensor(False))
        self._ready = False   # the buffer, read once (a host sync) until it is set

    def forward(self, h: torch.Tensor) -> torch.Tensor:   # (B, F) -> (B, F + K)
        w = self.theta * ((self.log_scale + self.init_log_scale).exp() / self.theta.norm(dim=0))
        m = torch.einsum("bf,fkc->bkc", h, w)
        dist = torch.cdist(m.transpose(0, 1), m.transpose(0, 1), p=1).permute(1, 2, 0)   # (B, B, K) L1 distances
        dist = dist + torch.eye(len(h), device=h.device)[..., None] * 1e6   # no sample is its own neighbour
        if self.training and not self._ready:
            self._ready = bool(self.initialized)
            if not self._ready:
                self._init_from(dist)
                return self.forward(h)
        o = torch.exp(-dist).sum(1) + self.bias + self.init_bias
        return torch.cat([h, o], 1)

    @torch.no_grad()
    def _init_from(self, dist: torch.Tensor) -> None:
        scale = 0.5 * dist.min(1).values.mean(0)                      # (K,)
        self.init_log_scale.copy_(-scale.log()[:, None])
        self.init_bias.copy_(-torch.exp(-dist / scale).sum(1).mean(0) - self.bias)
        self.initialized.fill_(True)
        self._ready = True


class Projection(nn.Module):
    """Projection-discriminator output: w^T h + b + <E(y), h> for pooled features h (B, F). With
    minibatch_kernels > 0, the linear term reads [h, minibatch discrimination of h] (Salimans et al. 2016:
    the layer sits between the pooled features and the last linear), the class projection h alone."""

    def __init__(self, features: int, num_classes: int, use_sn: bool = True, minibatch_kernels: int = 0):
        super().__init__()
        self.minibatch = MinibatchDiscrimination(features, minibatch_kernels) if minibatch_kernels else None
        self.linear = sn(nn.Linear(features + minibatch_kernels, 1), use_sn)
        self.embed = sn(nn.Embedding(num_classes, features), use_sn) if num_classes else None

    def forward(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:  # -> (B,)
        out = self.linear(h if self.minibatch is None else self.minibatch(h)).squeeze(1)
        if self.embed is not None:
            if y is None:
                raise ValueError("this discriminator is class-conditional: pass labels y")
            out = out + (self.embed(y) * h).sum(1)
        return out
