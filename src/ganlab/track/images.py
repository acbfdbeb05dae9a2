"""Image grids."""
from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import save_image


def save_grid(images: torch.Tensor, path: Path, nrow: int) -> Path:
    """Save float images (N, C, H, W) in [-1, 1] as one PNG grid with `nrow` images per row."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.detach().float().cpu(), path, nrow=nrow, normalize=True, value_range=(-1, 1), padding=1)
    return path
