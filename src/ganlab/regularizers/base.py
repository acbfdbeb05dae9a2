"""The regularizer contract and the step context the trainer hands to regularizers.

A regularizer is one registered nn.Module. Every hook is optional:
  attach(stats)          once, before training: open a stats reader if it needs one
  augment(x)             -> (x', params): transform every image D sees (real and fake, D and G steps)
  mix_real(real, ctx)    -> real': replace/mix the real batch before D sees it (APA)
  d_terms(ctx)           -> {name: scalar}: added to D's loss
  g_terms(ctx)           -> {name: scalar}: added to G's loss
  update(ctx)            after each iteration (controllers such as APA's p)
Its parameters() join D's optimizer; its state_dict() (buffers such as APA's p) is checkpointed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn as nn

from ganlab.models.base import DOut
from ganlab.track.stats import Stats


@dataclass
class StepContext:
    """What one D or G step knows, shared with the regularizers.

    real / fake are the images before augmentation, (B, C, H, W) in [-1, 1]; in the D phase
    `fake` is detached, in the G phase it carries G's graph. `aug[side]` holds the parameters
    each augmenting regularizer sampled for that side ("real" / "fake"), e.g.
    aug["real"]["translation"] of shape (B, 2).
    """
    step: int
    phase: str                       # "d" or "g"
    d: nn.Module
    stats: Stats
    run_d: Callable[..., DOut]       # the trainer's single D call site: run_d(x, y, side, ctx)
    real: torch.Tensor | None = None
    y_real: torch.Tensor | None = None
    fake: torch.Tensor | None = None
    y_fake: torch.Tensor | None = None
    out_real: DOut | None = None
    out_fake: DOut | None = None
    aug: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)


class Regularizer(nn.Module):
    """Base class with every hook a no-op; subclasses override what they need."""
    name = "regularizer"

    def attach(self, stats: Stats) -> None:
        pass

    def augment(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return x, {}

    def mix_real(self, real: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return real

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        return {}

    def g_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        return {}

    def update(self, ctx: StepContext) -> None:
        pass


def input_gradient(ctx: StepContext, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """d(sum D(x)) / dx for a fresh leaf copy of x, with the graph kept for double backprop. (B, C, H, W)"""
    x = x.detach().requires_grad_(True)
    out = ctx.d(x, y)
    score = out.logits.sum()
    if out.pixel_logits is not None:
        score = score + out.pixel_logits.mean((1, 2, 3)).sum()
    (grad,) = torch.autograd.grad(score, x, create_graph=True)
    return grad
