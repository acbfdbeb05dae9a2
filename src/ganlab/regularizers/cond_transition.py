"""Transitional conditioning (Shahbazi et al., ICLR 2022, "Collapse by Conditioning: Training
Class-conditional GANs with Limited Data"): train unconditionally first, then fade the class in.

On small data a class-conditional GAN can collapse inside each class where the same GAN trained without
labels does not (ganlab measured it on digits: experiments/README.md, "Collapse inside a class"). The paper
starts unconditional and moves to conditional training with a weight lambda_t that rises linearly from 0
at step `start` to 1 at step `end`, scaling the class input of G and the class-conditional term of D, so
that D's unconditional score stays in charge while the classes come in.

ganlab's form: every class embedding's output, in G and in D, is multiplied by lambda_t (a forward hook on
each nn.Embedding, which in ganlab's models only class embeddings are). In a projection D that scales the
<E(y), h> term (and U-Net's per-pixel one); in BigGAN's conditional BNs it gives BN(x)(1 + lambda E_gain[y]) +
lambda E_bias[y]; in DCGAN and the attention U-Net it scales the embedding concatenated with z. After `end`
the hooks multiply by 1, so a finished run's networks are the plain conditional ones (checkpoints load
anywhere without this regularizer). lambda is a buffer: a resumed run continues the ramp.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import Regularizer, StepContext
from ganlab.track.stats import Stats


@REGULARIZERS.register("cond_transition")
class CondTransition(Regularizer):
    name = "cond_transition"

    def __init__(self, start: int, end: int):
        super().__init__()
        if not 0 <= start < end:
            raise ValueError(f"cond_transition needs 0 <= start < end, got start={start}, end={end}")
        self.start, self.end = start, end
        self.register_buffer("lam", torch.tensor(self.weight(0)))

    def weight(self, step: int) -> float:
        return min(max((step - self.start) / (self.end - self.start), 0.0), 1.0)

    def _hook_embeddings(self, net: nn.Module, who: str) -> None:
        embeddings = [m for m in net.modules() if isinstance(m, nn.Embedding)]
        if not embeddings:
            raise ValueError(f"regularizer cond_transition: {who} has no class embedding; it needs a class-conditional "
                             f"model (model.conditional=true on a labelled data set)")

        def scale(module, inputs, output):   # a plain function: the EMA's deep copy of G shares it, and this lambda
            return output * self.lam.to(output.dtype)
        for m in embeddings:
            m.register_forward_hook(scale)

    def setup(self, d: nn.Module, stats: Stats, augmentations) -> None:
        self._hook_embeddings(d, "D")

    def attach(self, g: nn.Module) -> None:
        self._hook_embeddings(g, "G")

    def update(self, ctx: StepContext) -> None:   # after iteration ctx.step: the weight of the next one
        self.lam.fill_(self.weight(ctx.step + 1))
        ctx.stats.report("reg/cond_transition/lambda", self.lam)
