"""The adaptive probability p that ADA (Karras et al. 2020) and APA (Jiang et al. 2021) share: every
`interval` iterations p moves by sign(E[sign D(real)] - target) * (real images seen since) / (kimg * 1000),
never below 0, and stays where it is when the mean is exactly the target (NVlabs/stylegan2-ada-pytorch
training/training_loop.py; EndlessSora/DeceiveD the same; tests/test_official_regularizers.py).
E[sign D(real)] is the trainer's named statistic `d/sign_real` over every rank, read from its own reader."""
from __future__ import annotations

import torch

from ganlab.track.stats import Stats


class AdaptiveP:
    def __init__(self, name: str, target: float, kimg: float, interval: int):
        if interval < 1 or kimg <= 0:
            raise ValueError(f"{name} needs interval >= 1 and kimg > 0, got interval={interval}, kimg={kimg}")
        self.name, self.target, self.kimg, self.interval = name, target, kimg, interval
        self.stats: Stats | None = None

    def open(self, stats: Stats) -> None:
        self.stats = stats
        stats.open(self.name)

    def update(self, p: torch.Tensor, step: int) -> None:
        """After iteration `step` (restored on resume): adjust p in place on every interval-th, and log it."""
        if (step + 1) % self.interval:
            return
        mean, count = self.stats.read_counts(self.name).get("d/sign_real", (None, 0))
        if count:
            sign = (mean > self.target) - (mean < self.target)   # np.sign, as the official: 0 at the target
            move = sign * count / (self.kimg * 1000)
            p.copy_((p + move).clamp(min=0.0))
        self.stats.report(f"reg/{self.name}/p", p)
        self.stats.report(f"reg/{self.name}/sign_real", torch.tensor(mean if count else float("nan")))
