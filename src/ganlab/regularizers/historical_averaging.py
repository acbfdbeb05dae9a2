"""Historical averaging (Salimans et al. 2016, "Improved Techniques for Training GANs", section 3.3): each
network's loss gains ||theta - (1/t) sum_{i=1..t} theta[i]||^2, the distance of its parameters from their
own running mean over the past t iterations, which damps the oscillations of gradient descent in a game.

The paper gives no weight and openai/improved-gan does not include this technique, so `weight` has no
reference value. The history starts at the weights training starts from (after init_from; t = 1, so no
penalty at the first step) and takes every iteration's weights after the optimizer steps. The mean is a
buffer per parameter, checkpointed (a resume continues the history) and, under DDP, rank 0's (every rank
holds the same weights). `networks` picks g, d or both.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import Regularizer, StepContext

NETWORKS = ("g", "d")


@REGULARIZERS.register("historical_averaging")
class HistoricalAveraging(Regularizer):
    name = "historical_averaging"

    def __init__(self, weight: float = 0.001, networks: tuple[str, ...] = NETWORKS):
        super().__init__()
        networks = tuple(networks)
        if weight <= 0 or not networks or any(n not in NETWORKS for n in networks):
            raise ValueError(f"historical_averaging needs weight > 0 and networks from {', '.join(NETWORKS)}, "
                             f"got weight={weight}, networks={list(networks)}")
        self.weight, self.networks = weight, networks
        self.params: dict[str, list[nn.Parameter]] = {}   # a plain dict: the networks' weights stay theirs
        self.register_buffer("t", torch.tensor(1))      # iterations in the history
        self._started = False

    def _track(self, phase: str, net: nn.Module) -> None:
        if phase in self.networks:
            self.params[phase] = [p for p in net.parameters()]
            for i, p in enumerate(self.params[phase]):
                self.register_buffer(f"mean_{phase}_{i}", p.detach().clone())

    def setup(self, d, stats, augmentations) -> None:
        self._track("d", d)

    def attach(self, g: nn.Module) -> None:
        self._track("g", g)

    def _penalty(self, phase: str) -> dict[str, torch.Tensor]:
        if phase not in self.params:
            return {}
        if not self._started:
            self._started = True
            if int(self.t) == 1:   # a fresh history: the weights as training starts (init_from may have loaded them)
                self._restart()
        total = sum(((p - getattr(self, f"mean_{phase}_{i}")) ** 2).sum() for i, p in enumerate(self.params[phase]))
        return {"historical_averaging": self.weight * total}

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        return self._penalty("d")

    def g_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        return self._penalty("g")

    @torch.no_grad()
    def _restart(self) -> None:
        for phase, params in self.params.items():
            for i, p in enumerate(params):
                getattr(self, f"mean_{phase}_{i}").copy_(p)

    @torch.no_grad()
    def update(self, ctx: StepContext) -> None:
        self.t += 1
        for phase, params in self.params.items():
            for i, p in enumerate(params):
                getattr(self, f"mean_{phase}_{i}").lerp_(p, 1.0 / self.t)
