"""Optimizers, registered by name; G and D each get their own from the `optimizer` group."""
from __future__ import annotations

from typing import Iterable, Sequence

import torch

from ganlab.registry import OPTIMIZERS


def _betas(betas: Sequence[float]) -> tuple[float, float]:
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"optimizer betas must be two numbers in [0, 1), got {list(betas)}")
    return float(betas[0]), float(betas[1])


@OPTIMIZERS.register("adam")
def adam(params: Iterable, lr: float = 2e-4, betas: Sequence[float] = (0.5, 0.999), eps: float = 1e-8,
         weight_decay: float = 0.0) -> torch.optim.Optimizer:
    if lr <= 0:
        raise ValueError(f"optimizer lr must be positive, got {lr}")
    return torch.optim.Adam(params, lr=lr, betas=_betas(betas), eps=eps, weight_decay=weight_decay)


@OPTIMIZERS.register("adamw")
def adamw(params: Iterable, lr: float = 2e-4, betas: Sequence[float] = (0.5, 0.999), eps: float = 1e-8,
          weight_decay: float = 0.01) -> torch.optim.Optimizer:
    if lr <= 0:
        raise ValueError(f"optimizer lr must be positive, got {lr}")
    return torch.optim.AdamW(params, lr=lr, betas=_betas(betas), eps=eps, weight_decay=weight_decay)
