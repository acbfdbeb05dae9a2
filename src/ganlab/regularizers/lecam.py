"""LeCam regularization (Tseng et al. 2021): keep EMAs of mean D(real) and D(fake) and penalise
relu(D(x) - ema_fake)^2 + relu(ema_real - D(G(z)))^2, weight 0.3 for BigGAN on CIFAR-10.

As google/lecam-gan (third_party/utils.py `ema_losses`, third_party/train_fns.py, biggan_cifar/losses.py):
the EMAs are updated on every D step before the penalty; they are a plain copy (decay 0) before iteration
`start`, and the penalty is applied only after it. Its iterations count from 0 like ganlab's steps
(third_party/run_train.py increments state_dict['itr'] after each train() call), so iteration = step.
Decay 0.9 is the official BigGAN-CIFAR value; StudioGAN and the StyleGAN2 port use 0.99.
One difference: the EMAs start at 0 where ema_losses starts them at 1000; it shows only with start 0, which
the official code never runs (start_itr=1000), and there it would make the first penalties ~1000^2.
Compared on numbers in tests/test_official_regularizers.py.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import Regularizer, StepContext


@REGULARIZERS.register("lecam")
class LeCam(Regularizer):
    name = "lecam"

    def __init__(self, weight: float = 0.3, decay: float = 0.9, start: int = 1000):
        super().__init__()
        if not 0.0 <= decay < 1.0 or start < 0:
            raise ValueError(f"lecam needs decay in [0, 1) and start >= 0, got decay={decay}, start={start}")
        self.weight, self.decay, self.start = weight, decay, start
        self.register_buffer("ema_real", torch.tensor(0.0))
        self.register_buffer("ema_fake", torch.tensor(0.0))

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        real, fake = ctx.out_real.logits, ctx.out_fake.logits
        beta = self.decay if ctx.step >= self.start else 0.0
        with torch.no_grad():   # means over every rank's batch (the stats channel all-reduces them)
            self.ema_real.lerp_(ctx.stats.mean(real), 1 - beta)
            self.ema_fake.lerp_(ctx.stats.mean(fake), 1 - beta)
        if ctx.step <= self.start:
            return {}
        penalty = F.relu(real - self.ema_fake).pow(2).mean() + F.relu(self.ema_real - fake).pow(2).mean()
        return {"lecam": self.weight * penalty}
