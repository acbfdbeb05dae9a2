"""DCGAN generator and discriminator for power-of-two sizes 16..128.

G: (B, z_dim) [+ class embedding] -> ConvT 4x4 -> (ConvT k4 s2 + BN + ReLU) x n -> tanh.
D: (Conv k4 s2 + norm + LeakyReLU 0.2) x n -> 4x4 map -> features (B, F) -> linear [+ projection].
`d_norm` picks batch norm (DCGAN), layer norm or none (WGAN-GP critics must not use batch
norm); `spectral_norm` wraps every D weight.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ganlab.models.base import DOut
from ganlab.models.layers import ConditionalBatchNorm2d, Projection, init_weights, pool_map, pool_width, sn
from ganlab.registry import MODELS

SIZES = (16, 32, 64, 128)


def _stages(image_size: int) -> int:
    if image_size not in SIZES:
        raise ValueError(f"dcgan cannot make image_size={image_size}; supported: {', '.join(map(str, SIZES))}")
    return int(math.log2(image_size)) - 2  # number of stride-2 layers between 4x4 and the image


G_NORMS = ("batch", "virtual", "class")
REFERENCE_BATCH = 64   # virtual batch norm's reference batch (the paper gives no size)


class DCGANGenerator(nn.Module):
    """norm: batch (DCGAN); class (class-conditional batch norm, as the generator of Miyato & Koyama 2018's
    projection cGAN: the class embedding sets every BN layer's gain and bias, and G's input is z alone); or virtual
    (Salimans et al. 2016's virtual batch norm: every forward first runs a reference batch of REFERENCE_BATCH (z, y),
    drawn once at construction and kept in buffers, so checkpointed, and each image is then normalised with the
    reference batch's statistics and its own; G costs two forwards)."""

    def __init__(self, z_dim: int = 100, image_size: int = 32, channels: int = 3, width: int = 64,
                 num_classes: int = 0, embed_dim: int = 32, norm: str = "batch"):
        super().__init__()
        if norm not in G_NORMS:
            raise ValueError(f"unknown g_norm '{norm}'; available: {', '.join(G_NORMS)}")
        self.z_dim, self.image_size, self.channels, self.num_classes = z_dim, image_size, channels, num_classes
        n = _stages(image_size)
        chans = [width * 2 ** i for i in reversed(range(n))]  # e.g. 32px, width 64: [256, 128, 64]
        if norm == "class" and not num_classes:
            raise ValueError("dcgan g_norm=class needs a class-conditional model (conditional: true, labelled data)")
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        in_dim = z_dim + (embed_dim if num_classes and norm != "class" else 0)
        bn = {"batch": nn.BatchNorm2d, "virtual": VirtualBatchNorm2d,
              "class": lambda c: ConditionalBatchNorm2d(c, embed_dim, use_sn=False)}[norm]
        layers: list[nn.Module] = [nn.ConvTranspose2d(in_dim, chans[0], 4, 1, 0, bias=False), bn(chans[0]), nn.ReLU(True)]
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), bn(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.virtual = [m for m in self.net if isinstance(m, VirtualBatchNorm2d)]
        if self.virtual:
            gen = torch.Generator().manual_seed(0)
            self.register_buffer("ref_z", torch.randn(REFERENCE_BATCH, z_dim, generator=gen))
            self.register_buffer("ref_y", torch.randint(max(num_classes, 1), (REFERENCE_BATCH,), generator=gen))
        init_weights(self, "normal")

    def _net(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        c = self.embed(y) if self.embed is not None else None
        if c is not None and self.net[0].in_channels > self.z_dim:   # the label at G's input (not g_norm=class)
            z = torch.cat([z, c], 1)
        h = z[:, :, None, None]
        for m in self.net:
            h = m(h, c) if isinstance(m, ConditionalBatchNorm2d) else m(h)
        return h

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # -> (B, C, H, W)
        if not self.virtual:
            return self._net(z, y)
        for m in self.virtual:
            m.reference = None
        self._net(self.ref_z, self.ref_y if self.embed is not None else None)   # each layer keeps its statistics
        try:
            return self._net(z, y)
        finally:
            for m in self.virtual:
                m.reference = None


class VirtualBatchNorm2d(nn.Module):
    """Salimans et al. 2016, section 3.4. With no reference statistics yet, it normalises its input (the
    reference batch) by the input's own per-channel statistics and keeps them (with their graph: G's gradient
    flows through the reference batch too). Then each image x_i is normalised by the statistics of the
    reference batch joined by x_i: mean = (n mu_ref + mu_i) / (n + 1), and the same for the second moment."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps
        self.reference: tuple[torch.Tensor, torch.Tensor, int] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reference is None:
            mean, sq = x.mean((0, 2, 3)), x.pow(2).mean((0, 2, 3))
            self.reference = (mean, sq, len(x))
            mean, sq = mean[None], sq[None]                                      # (1, C)
        else:
            ref_mean, ref_sq, n = self.reference
            mean = (n * ref_mean + x.mean((2, 3))) / (n + 1)                     # (B, C)
            sq = (n * ref_sq + x.pow(2).mean((2, 3))) / (n + 1)
        var = (sq - mean.pow(2)).clamp_min(0)
        x = (x - mean[:, :, None, None]) * torch.rsqrt(var + self.eps)[:, :, None, None]
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class DCGANDiscriminator(nn.Module):
    def __init__(self, image_size: int = 32, channels: int = 3, width: int = 64, num_classes: int = 0,
                 norm: str = "batch", spectral_norm: bool = False, minibatch_kernels: int = 0, pool: str = "flatten"):
        super().__init__()
        if norm not in ("batch", "layer", "none"):
            raise ValueError(f"unknown d_norm '{norm}'; available: batch, layer, none")
        n = _stages(image_size)
        chans = [width * 2 ** i for i in range(n)]  # 32px, width 64: [64, 128, 256]
        layers: list[nn.Module] = []
        c_in, size = channels, image_size
        for i, c_out in enumerate(chans):
            size //= 2
            layers.append(sn(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=norm == "none" or i == 0), spectral_norm))
            if i > 0 and norm == "batch":
                layers.append(nn.BatchNorm2d(c_out))
            elif i > 0 and norm == "layer":
                layers.append(nn.GroupNorm(1, c_out))  # LayerNorm over (C, H, W)
            layers.append(nn.LeakyReLU(0.2, True))
            c_in = c_out
        self.net = nn.Sequential(*layers)
        self.pool = pool
        self.features_dim = pool_width(pool, chans[-1], 4, "dcgan")
        self.head = Projection(self.features_dim, num_classes, spectral_norm, minibatch_kernels)
        init_weights(self, "normal")

    def ordered_blocks(self) -> list[nn.Module]:
        """D's blocks from the input up, the head excluded (FreezeD freezes the first K): one per
        stride-2 conv with its norm and activation."""
        blocks: list[list[nn.Module]] = []
        for m in self.net:
            if isinstance(m, nn.Conv2d):
                blocks.append([])
            blocks[-1].append(m)
        return [nn.Sequential(*b) for b in blocks]

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        h = pool_map(self.net(x), self.pool)  # flat (B, C*4*4): a linear on it is DCGAN's 4x4 valid conv; or summed (B, C)
        return DOut(logits=self.head(h, y), features=h)


@MODELS.register("dcgan", tiny=dict(g_width=8, d_width=8))
def dcgan(image_size: int, channels: int, num_classes: int = 0, *, conditional: bool,
          z_dim: int, g_width: int, d_width: int, d_norm: str,
          spectral_norm: bool, embed_dim: int, minibatch_kernels: int, g_norm: str, d_pool: str):
    classes = num_classes if conditional else 0
    g = DCGANGenerator(z_dim, image_size, channels, g_width, classes, embed_dim, g_norm)
    d = DCGANDiscriminator(image_size, channels, d_width, classes, d_norm, spectral_norm, minibatch_kernels, d_pool)
    return g, d
