"""APA, adaptive pseudo augmentation (Jiang et al. 2021).

With probability p each real image shown to D is replaced by a pseudo-real: one of the images the
previous G step generated, detached. The pseudo-real keeps the real's class label and gets the real
target, so D is deceived rather than just shown fewer reals. (The D step's own fakes are never used:
under hinge their real and fake targets would cancel.) Before the first G step there is no previous
output, and a batch from fresh noise stands in. p follows ADA's controller (regularizers/adaptive.py),
reading E[sign D(real)] on the real branch after mixing (the trainer's statistic `d/sign_real`).

Compared with EndlessSora/DeceiveD, training/loss.py (pseudo_data stored detached in the Gmain phase,
a per-sample Bernoulli(p) flag, real_c kept) and training/training_loop.py (the p update).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from ganlab.registry import REGULARIZERS
from ganlab.regularizers.adaptive import AdaptiveP
from ganlab.regularizers.base import AugParam, Regularizer, StepContext
from ganlab.track.stats import Stats


@REGULARIZERS.register("apa")
class APA(Regularizer):
    name = "apa"

    def __init__(self, target: float = 0.6, kimg: float = 500.0, interval: int = 4, p_init: float = 0.0):
        super().__init__()
        self.controller = AdaptiveP("apa", target, kimg, interval)
        self.register_buffer("p", torch.tensor(float(p_init)))
        self.pseudo: torch.Tensor | None = None   # the previous G step's images, detached (B, C, H, W)

    def setup(self, d: nn.Module, stats: Stats, augmentations: Sequence[AugParam]) -> None:
        self.controller.open(stats)

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
        self.controller.update(self.p, ctx.step)

    def get_extra_state(self) -> dict:
        return {"pseudo": self.pseudo}   # checkpointed, so a resumed run mixes the same images

    def set_extra_state(self, state: dict) -> None:
        self.pseudo = state.get("pseudo")
