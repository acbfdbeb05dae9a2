"""APA, adaptive pseudo augmentation (Jiang et al. 2021).

With probability p each real image shown to D is replaced by a pseudo-real: one of the images the
previous G step generated, detached. The pseudo-real keeps the real's class label and gets the real
target, so D is deceived rather than just shown fewer reals. (The D step's own fakes are never used:
under hinge their real and fake targets would cancel.) Before the first G step there is no previous
output, and a batch from fresh noise stands in. Every `interval` iterations p moves by
sign(E[sign D(real)] - target) * (images seen since) / (kimg * 1000), clamped below at 0; the
controller reads the trainer's named statistic `d/sign_real` (the real branch after mixing).

Compared with EndlessSora/DeceiveD, training/loss.py (pseudo_data stored detached in the Gmain phase,
a per-sample Bernoulli(p) flag, real_c kept) and training/training_loop.py (the p update).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import AugParam, Regularizer, StepContext
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
        self.pseudo: torch.Tensor | None = None   # the previous G step's images, detached (B, C, H, W)
        self.stats: Stats | None = None

    def setup(self, d: nn.Module, stats: Stats, augmentations: Sequence[AugParam]) -> None:
        self.stats = stats
        stats.open("apa")

    def mix_real(self, real: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        mask = torch.rand(len(real), device=real.device) < self.p            # (B,), no host sync
        pseudo = self.pseudo
        if pseudo is None or len(pseudo) < len(real):
            if float(self.p) == 0.0:      # nothing would be replaced: draw no noise
                return real
            pseudo = ctx.generate(len(real))[0].detach()
        return torch.where(mask[:, None, None, None], pseudo[:len(real)].to(real.dtype), real)   # labels stay the reals'

    def update(self, ctx: StepContext) -> None:
        if ctx.fake is not None:     # ctx is the G step's: its output feeds the next D step
            self.pseudo = ctx.fake.detach()
        if (ctx.step + 1) % self.interval:   # ctx.step: this iteration's index, restored on resume
            return
        mean, count = self.stats.read_counts("apa").get("d/sign_real", (None, 0))
        if count:
            step = (1.0 if mean > self.target else -1.0) * count / (self.kimg * 1000)
            self.p.copy_((self.p + step).clamp(min=0.0))
        self.stats.report("reg/apa/p", self.p)
        self.stats.report("reg/apa/sign_real", torch.tensor(mean if count else float("nan")))

    def get_extra_state(self) -> dict:
        return {"pseudo": self.pseudo}   # checkpointed, so a resumed run mixes the same images

    def set_extra_state(self, state: dict) -> None:
        self.pseudo = state.get("pseudo")
