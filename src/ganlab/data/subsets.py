"""Seeded training subsets: the data-efficient regime (10% / 20% of CIFAR-10) AugSelf and APA study,
for every dataset (in memory or streamed from files) through one function."""
from __future__ import annotations

import numpy as np
import torch

MODES = ("random", "stratified")
FRACTION_KEYS = ("fraction", "fraction_mode", "fraction_seed")


def subset_indices(labels: torch.Tensor | None, n: int, fraction: float, mode: str = "random", seed: int = 0) -> torch.Tensor:
    """Indices of a `fraction` of n items. `random` is exactly AugSelf's draw (liang-hou/augself-gan,
    augself-biggan/datasets.py: np.random.seed(0); np.random.choice(N, n, replace=False)), so 10% of
    CIFAR-10 is the papers' 5,000 images, in the drawn order; `stratified` takes the same fraction of
    every class."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"dataset.fraction must be in (0, 1], got {fraction}")
    if mode not in MODES:
        raise ValueError(f"unknown dataset.fraction_mode '{mode}'; available: {', '.join(MODES)}")
    if fraction == 1.0:
        return torch.arange(n)
    if mode == "random" or labels is None:
        return torch.from_numpy(np.random.RandomState(seed).choice(n, max(1, round(fraction * n)), replace=False))
    return stratified_split(labels, fraction, seed)[0]


def stratified_split(labels: torch.Tensor, fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded `fraction` of every class (at least one image) and the rest: two sorted index tensors."""
    gen = torch.Generator().manual_seed(seed)
    head, rest = [], []
    for c in labels.unique():
        idx = (labels == c).nonzero().squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=gen)]
        k = max(1, round(fraction * len(idx)))
        head.append(idx[:k])
        rest.append(idx[k:])
    return torch.cat(head).sort().values, torch.cat(rest).sort().values


def take_fraction(data, fraction: float = 1.0, fraction_mode: str = "random", fraction_seed: int = 0):
    """The dataset (ImageSet or FolderFiles) restricted to a seeded fraction of its images."""
    labels = data.labels if data.num_classes else None
    idx = subset_indices(labels, len(data), fraction, fraction_mode, fraction_seed)
    if len(idx) == len(data):
        return data
    return data.subset(idx, f"{data.name}[{fraction:g} {fraction_mode}, seed {fraction_seed}: {len(idx)} images]")
