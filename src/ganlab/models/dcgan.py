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
from ganlab.models.layers import Projection, init_weights, sn
from ganlab.registry import MODELS

SIZES = (16, 32, 64, 128)


def _stages(image_size: int) -> int:
    if image_size not in SIZES:
        raise ValueError(f"dcgan cannot make image_size={image_size}; supported: {', '.join(map(str, SIZES))}")
    return int(math.log2(image_size)) - 2  # number of stride-2 layers between 4x4 and the image


class DCGANGenerator(nn.Module):
    def __init__(self, z_dim: int = 100, image_size: int = 32, channels: int = 3, width: int = 64,
                 num_classes: int = 0, embed_dim: int = 32):
        super().__init__()
        self.z_dim, self.image_size, self.channels, self.num_classes = z_dim, image_size, channels, num_classes
        n = _stages(image_size)
        chans = [width * 2 ** i for i in reversed(range(n))]  # e.g. 32px, width 64: [256, 128, 64]
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        in_dim = z_dim + (embed_dim if num_classes else 0)
        layers: list[nn.Module] = [nn.ConvTranspose2d(in_dim, chans[0], 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(chans[0]), nn.ReLU(True)]
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self, "normal")

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # -> (B, C, H, W)
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], 1)
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    def __init__(self, image_size: int = 32, channels: int = 3, width: int = 64, num_classes: int = 0,
                 norm: str = "batch", spectral_norm: bool = False, minibatch_kernels: int = 0):
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
        self.features_dim = chans[-1] * 16
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
        h = self.net(x).flatten(1)  # (B, C*4*4); a linear on the flat 4x4 map is DCGAN's 4x4 valid conv
        return DOut(logits=self.head(h, y), features=h)


@MODELS.register("dcgan", tiny=dict(g_width=8, d_width=8))
def dcgan(image_size: int, channels: int, num_classes: int = 0, *, conditional: bool,
          z_dim: int, g_width: int, d_width: int, d_norm: str,
          spectral_norm: bool, embed_dim: int, minibatch_kernels: int):
    classes = num_classes if conditional else 0
    g = DCGANGenerator(z_dim, image_size, channels, g_width, classes, embed_dim)
    d = DCGANDiscriminator(image_size, channels, d_width, classes, d_norm, spectral_norm, minibatch_kernels)
    return g, d
