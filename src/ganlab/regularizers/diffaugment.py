"""DiffAugment (Zhao et al. 2020): differentiable colour / translation / cutout applied to every image
D sees, real and fake, in the D and the G step. Each op also returns its sampled parameters,
normalised to [0, 1], for AugSelf (Hou et al.) to regress.

As mit-han-lab/data-efficient-gans DiffAugment_pytorch.py, and the parameters as liang-hou/augself-gan
augself-biggan/DiffAugment_pytorch.py returns them; ganlab draws each op's numbers in one call where the official
code makes one per factor or axis (the same distribution, a different order in the stream). Compared on numbers
in tests/test_official_regularizers.py.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import AugParam, Regularizer

OPS = ("color", "translation", "cutout")
PARAMS = {"color": AugParam("color", 3, False), "translation": AugParam("translation", 2, True),
          "cutout": AugParam("cutout", 2, True)}


def color(x: torch.Tensor, strength: float = 1.0):
    """Brightness +U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5) at strength 1; params (B, 3)."""
    r = torch.rand(len(x), 3, device=x.device, dtype=x.dtype)
    b, s, c = (r[:, i, None, None, None] for i in range(3))
    x = x + (b - 0.5) * strength
    m = x.mean(1, keepdim=True)
    x = (x - m) * ((2 * s - 1) * strength + 1) + m
    m = x.mean((1, 2, 3), keepdim=True)
    x = (x - m) * ((c - 0.5) * strength + 1) + m
    return x, r


def half_up(v: float) -> int:
    """v rounded half up, as the official int(v + 0.5) (Python's round() takes 2.5 to 2)."""
    return int(v + 0.5)


def translation(x: torch.Tensor, ratio: float = 0.125):
    """Integer shifts t ~ U{-s..s} in y and x (s = ratio H rounded half up); output pixel i shows input pixel
    i + t, as the official code's, zero outside; params (t / 2s + 0.5) (B, 2). Square images (one s for both)."""
    n, _, h, w = x.shape
    s = half_up(ratio * h)
    t = torch.randint(-s, s + 1, (n, 2), device=x.device)
    rows = (torch.arange(h, device=x.device)[None] + t[:, :1])            # (B, H): source row for each output row
    cols = (torch.arange(w, device=x.device)[None] + t[:, 1:])            # (B, W)
    valid = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    bi = torch.arange(n, device=x.device)[:, None, None]
    out = x.permute(0, 2, 3, 1)[bi, rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, w - 1)[:, None, :]]
    out = out.permute(0, 3, 1, 2) * valid[:, None].to(x.dtype)
    return out, (t.to(x.dtype) / max(2 * s, 1) + 0.5)


def cutout(x: torch.Tensor, ratio: float = 0.5):
    """Zero one square of side ratio H (rounded half up) centred at o ~ U{0..H - size%2}; params o / (H - size%2)
    (B, 2). Square images (one side for both axes)."""
    n, _, h, w = x.shape
    size = half_up(ratio * h)
    hi = h - size % 2
    o = torch.randint(0, hi + 1, (n, 2), device=x.device)
    ys = torch.arange(h, device=x.device)[None] - (o[:, :1] - size // 2)   # (B, H): position inside the square
    xs = torch.arange(w, device=x.device)[None] - (o[:, 1:] - size // 2)
    inside = ((ys >= 0) & (ys < size))[:, :, None] & ((xs >= 0) & (xs < size))[:, None, :]
    return x * (~inside)[:, None].to(x.dtype), o.to(x.dtype) / max(hi, 1)


@REGULARIZERS.register("diffaugment")
class DiffAugment(Regularizer):
    name = "diffaugment"

    def __init__(self, policy: Sequence[str] = ("translation", "cutout"), color_strength: float = 1.0,
                 translation_ratio: float = 0.125, cutout_ratio: float = 0.5):
        super().__init__()
        bad = [p for p in policy if p not in OPS]
        if bad or not policy:
            raise ValueError(f"diffaugment policy {list(policy)}: unknown or empty; available: {', '.join(OPS)}")
        self.policy = [p for p in OPS if p in policy]   # the canonical order: color, translation, cutout
        self.color_strength, self.translation_ratio, self.cutout_ratio = color_strength, translation_ratio, cutout_ratio
        self.produces = tuple(PARAMS[op] for op in self.policy)

    def augment(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        params = {}
        if "color" in self.policy:
            x, params["color"] = color(x, self.color_strength)
        if "translation" in self.policy:
            x, params["translation"] = translation(x, self.translation_ratio)
        if "cutout" in self.policy:
            x, params["cutout"] = cutout(x, self.cutout_ratio)
        return x, params
