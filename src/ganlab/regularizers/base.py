"""The regularizer contract and the step context the trainer hands to regularizers.

A regularizer is one registered nn.Module. Every hook is optional:
  produces               the augmentation parameters augment() returns (AugParam: name, size, geometric)
  setup(d, stats, augs)  once, at build time, before the optimizers exist: size heads from D, open a
                         stats reader, check the augmentations every regularizer declared
  attach(g)              once, at build time, after setup and before the EMA copies G: reach G itself
                         (a forward hook the EMA copy shares, e.g. a conditioning schedule)
  augment(x)             -> (x', params): transform every image D sees (real and fake, D and G steps)
  mix_real(real, ctx)    -> real': replace/mix the real batch before D sees it (APA)
  d_terms(ctx)           -> {name: scalar}: added to D's loss
  g_terms(ctx)           -> {name: scalar}: added to G's loss
  update(ctx)            after each iteration (controllers such as APA's p)
Its parameters() join D's optimizer; its state_dict() (buffers such as APA's p) is checkpointed.
d_terms and g_terms may also set ctx.adv_weight: the factor on the adversarial terms of this step (the trainer
sums them after every d_terms / g_terms), 0 for a step that is only the regularizer's (CutMix's mix-only D
steps; feature matching, whose term is G's whole loss).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn as nn

from ganlab.models.base import DOut
from ganlab.track.stats import Stats


@dataclass(frozen=True)
class AugParam:
    """One parameter group an augmenting regularizer returns: `name` keys augment()'s params dict, a
    (B, size) tensor in [0, 1]; `geometric` when it moves pixels (translation, cutout), so per-pixel
    targets no longer line up with the image."""
    name: str
    size: int
    geometric: bool


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
    run_d: Callable[..., DOut]       # the trainer's single D call site: run_d(x, y, side, ctx, augment=True, eager=False)
    generate: Callable[[int], tuple] | None = None   # n -> (fake, z, y) from G with fresh noise (callers add no_grad)
    run_g: Callable[..., torch.Tensor] | None = None  # the trainer's G call: run_g(z, y) -> images, with G's graph
    epoch: float = 0.0               # real images seen / dataset size
    adv_weight: float = 1.0          # a regularizer may scale (0: drop) the adversarial terms of this step
    real: torch.Tensor | None = None
    y_real: torch.Tensor | None = None
    fake: torch.Tensor | None = None
    y_fake: torch.Tensor | None = None
    z_fake: torch.Tensor | None = None   # the noise `fake` was drawn from (B, z_dim)
    out_real: DOut | None = None
    out_fake: DOut | None = None
    aug: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)


class Regularizer(nn.Module):
    """Base class with every hook a no-op; subclasses override what they need."""
    name = "regularizer"

    produces: tuple[AugParam, ...] = ()

    def setup(self, d: nn.Module, stats: Stats, augmentations: Sequence[AugParam]) -> None:
        pass

    def attach(self, g: nn.Module) -> None:
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


def setup_all(regularizers: Sequence[Regularizer], d: nn.Module, stats: Stats, g: nn.Module | None = None) -> None:
    """Set every regularizer up against D and the augmentations all of them declare (order-free:
    run_d applies every augment hook to every image D sees), then attach it to G (when given)."""
    declared = [a for r in regularizers for a in r.produces]
    names = [a.name for a in declared]
    if len(set(names)) != len(names):
        raise ValueError(f"two augmenting regularizers produce the same parameters: {names}")
    for r in regularizers:
        r.setup(d, stats, declared)
    for r in regularizers if g is not None else ():
        r.attach(g)


def input_gradient(ctx: StepContext, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """d(sum D(x)) / dx for a fresh leaf copy of x, with the graph kept for double backprop. (B, C, H, W)
    D runs through the trainer's run_d (precision, memory format) without augmentation, and eagerly:
    under hardware.compile the compiled D has no double backward."""
    x = x.detach().requires_grad_(True)
    out = ctx.run_d(x, y, "penalty", ctx, augment=False, eager=True)
    score = out.logits.sum()
    if out.pixel_logits is not None:
        score = score + out.pixel_logits.mean((1, 2, 3)).sum()
    (grad,) = torch.autograd.grad(score, x, create_graph=True)
    return grad
