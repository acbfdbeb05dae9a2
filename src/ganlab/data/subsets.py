"""Seeded training subsets: the data-efficient regime (10% / 20% of CIFAR-10) AugSelf and APA study."""
from __future__ import annotations

import torch

MODES = ("random", "stratified")


def subset_indices(labels: torch.Tensor | None, n: int, fraction: float, mode: str = "random", seed: int = 0) -> torch.Tensor:
    """Indices of a `fraction` of n items: uniformly at random without replacement (as the DiffAugment/
    AugSelf code draws them), or `stratified` (the same fraction of every class)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"dataset.fraction must be in (0, 1], got {fraction}")
    if mode not in MODES:
        raise ValueError(f"unknown dataset.fraction_mode '{mode}'; available: {', '.join(MODES)}")
    if fraction == 1.0:
        return torch.arange(n)
    gen = torch.Generator().manual_seed(seed)
    if mode == "random" or labels is None:
        return torch.randperm(n, generator=gen)[: max(1, round(fraction * n))].sort().values
    keep = []
    for c in labels.unique():
        idx = (labels == c).nonzero().squeeze(1)
        keep.append(idx[torch.randperm(len(idx), generator=gen)[: max(1, round(fraction * len(idx)))]])
    return torch.cat(keep).sort().values
