"""The yardstick: img/s of a plain PyTorch DCGAN loop, so minutes measured on one machine can be read on
another (these 2-core machines differ by 2x or more). The networks are the PyTorch DCGAN tutorial's
(nz 100, ngf = ndf = 64, BN, BCE, Adam 2e-4 (0.5, 0.999)) at 32 px (one stage fewer than its 64 px),
batch 64, on random data: no ganlab code runs in the timed loop."""
from __future__ import annotations

import time

import torch
import torch.nn as nn

REFERENCE_IMG_S = 360.0   # the machine the bars are stated for: minutes scaled to it read the same everywhere


def tutorial_pair(channels: int = 3, nz: int = 100, nf: int = 64) -> tuple[nn.Module, nn.Module]:
    g = nn.Sequential(
        nn.ConvTranspose2d(nz, nf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(nf * 4), nn.ReLU(True),      # 4x4
        nn.ConvTranspose2d(nf * 4, nf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(nf * 2), nn.ReLU(True),  # 8x8
        nn.ConvTranspose2d(nf * 2, nf, 4, 2, 1, bias=False), nn.BatchNorm2d(nf), nn.ReLU(True),          # 16x16
        nn.ConvTranspose2d(nf, channels, 4, 2, 1, bias=False), nn.Tanh())                               # 32x32
    d = nn.Sequential(
        nn.Conv2d(channels, nf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),                           # 16x16
        nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(nf * 2), nn.LeakyReLU(0.2, True),     # 8x8
        nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(nf * 4), nn.LeakyReLU(0.2, True),  # 4x4
        nn.Conv2d(nf * 4, 1, 4, 1, 0, bias=False), nn.Flatten())                                        # (B, 1)
    return g, d


def plain_loop_rate(seconds: float = 10.0, batch: int = 64, warmup: int = 3) -> float:
    """Real images through D per second of the tutorial's D and G steps, timed for about `seconds`."""
    torch.manual_seed(0)
    g, d = tutorial_pair()
    bce = nn.BCEWithLogitsLoss()
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    real, ones, zeros = torch.rand(batch, 3, 32, 32) * 2 - 1, torch.ones(batch, 1), torch.zeros(batch, 1)

    def step():
        fake = g(torch.randn(batch, 100, 1, 1))
        opt_d.zero_grad()
        (bce(d(real), ones) + bce(d(fake.detach()), zeros)).backward()
        opt_d.step()
        opt_g.zero_grad()
        bce(d(fake), ones).backward()
        opt_g.step()
    for _ in range(warmup):
        step()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    return n * batch / (time.perf_counter() - start)


def scaled_minutes(minutes: float, img_s: float) -> float:
    """Minutes on this machine -> minutes on a machine whose plain loop runs at REFERENCE_IMG_S."""
    return minutes * img_s / REFERENCE_IMG_S
