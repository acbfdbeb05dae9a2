"""APA, adaptive pseudo augmentation (Jiang et al. 2021): with probability p each real image shown to
D is replaced by a (detached) generated one, still labelled real. Every `interval` iterations p
moves by sign(E[sign D(real)] - target) * (images seen since) / (kimg * 1000), clamped below at 0.
The controller reads the trainer's named statistic `d/sign_real` from the stats channel.
"""
from __future__ import annotations

import torch

from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import Regularizer, StepContext
from ganlab.track.stats import Stats


@REGULARIZERS.register("apa")
class APA(Regularizer):
    name = "apa"

    def __init__(self, target: float = 0.6, kimg: float = 500.0, interval: int = 4, p_init: float = 0.0):
        super().__init__()
        if interval < 1 or kimg <= 0:
            raise ValueError(f"apa needs interval >= 1 and kimg > 0, got interval={interval}, kimg={kimg}")
        self.target, self.kimg, self.interval = target, kimg, interval
        self.register_buffer("p", torch.tensor(float(p_init)))
        self.stats: Stats | None = None

    def attach(self, stats: Stats) -> None:
        self.stats = stats
        stats.open("apa")

    def mix_real(self, real: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        mask = torch.rand(len(real), device=real.device) < self.p            # (B,), no host sync
        fake = ctx.fake.detach()
        if ctx.y_real is not None and ctx.y_fake is not None:
            ctx.y_real = torch.where(mask, ctx.y_fake, ctx.y_real)          # a pseudo-real keeps its own class
        return torch.where(mask[:, None, None, None], fake, real)

    def update(self, ctx: StepContext) -> None:
        if (ctx.step + 1) % self.interval:   # ctx.step: this iteration's index, restored on resume
            return
        mean, count = self.stats.read_counts("apa").get("d/sign_real", (None, 0))
        if count:
            step = (1.0 if mean > self.target else -1.0) * count / (self.kimg * 1000)
            self.p.copy_((self.p + step).clamp(min=0.0))
        self.stats.report("reg/apa/p", self.p)
        self.stats.report("reg/apa/sign_real", torch.tensor(mean if count else float("nan")))
