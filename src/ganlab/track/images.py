"""Image grids."""
from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import save_image

from ganlab.track.atomic import replacing


def save_grid(images: torch.Tensor, path: Path, nrow: int) -> Path:
    """Save float images (N, C, H, W) in [-1, 1] as one PNG grid with `nrow` images per row."""
    path = Path(path)
    with replacing(path) as tmp:   # never a truncated PNG (a full disk)
        save_image(images.detach().float().cpu(), tmp, nrow=nrow, normalize=True, value_range=(-1, 1), padding=1)
    return path
