"""ADA, adaptive discriminator augmentation (Karras et al. 2020): every image D sees, real or fake, in D's
and G's steps alike, goes through one differentiable pipeline whose ops each apply with probability p;
p follows E[sign D(real)] toward `target` (regularizers/adaptive.py, shared with APA).

The pipeline is the official 'bgc' (NVlabs/stylegan2-ada-pytorch, training/augment.py), with its
strengths: pixel blitting (x-flip, 90-degree rotations, integer translation up to 1/8), general geometry
(isotropic scaling, rotation before and after anisotropic scaling, fractional translation) and colour
(brightness, contrast, luma flip, hue rotation, saturation). As there, the geometric ops compose into one
inverse matrix per image, applied once after reflection padding, and the colour ops into one 4x4 matrix.
One difference: the official code resamples at twice the resolution between a pair of sym6 wavelet
low-pass filters (against aliasing); ganlab samples bilinearly at the image's own resolution. Integer
translations, flips and 90-degree rotations land on pixel centres and stay exact (tested).

`produces` declares the sampled parameters, each mapped to [0, 1] (0.5 or 0 = not applied), so AugSelf
can regress them, and marks the geometric group, so CutMix refuses to run with ADA.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganlab.registry import REGULARIZERS
from ganlab.regularizers.adaptive import AdaptiveP
from ganlab.regularizers.base import AugParam, Regularizer, StepContext
from ganlab.track.stats import Stats

BLIT, GEOM, COLOR = ("xflip", "rotate90", "xint"), ("scale", "rotate", "aniso", "xfrac"), \
    ("brightness", "contrast", "lumaflip", "hue", "saturation")
PIPELINES = {"blit": BLIT, "geom": GEOM, "color": COLOR, "bg": BLIT + GEOM, "bgc": BLIT + GEOM + COLOR}
# the official strengths: translation ranges relative to the side, log2 standard deviations, full-circle angles
XINT_MAX, SCALE_STD, ROTATE_MAX, ANISO_STD, XFRAC_STD = 0.125, 0.2, 1.0, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, HUE_MAX, SATURATION_STD = 0.2, 0.5, 1.0, 1.0
# geometric parameters: xflip, rotate90, xint (x, y), scale, rotation before, aniso, rotation after, xfrac (x, y)
GEOMETRIC, COLOUR = AugParam("ada_geometric", 10, True), AugParam("ada_color", 5, False)
LUMA = torch.tensor([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)


def normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def translate(tx, ty) -> torch.Tensor:
    """(B,) offsets -> (B, 3, 3)."""
    m = torch.eye(3, device=tx.device).repeat(len(tx), 1, 1)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def scale(sx, sy) -> torch.Tensor:
    m = torch.eye(3, device=sx.device).repeat(len(sx), 1, 1)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def rotate(theta) -> torch.Tensor:
    m = torch.eye(3, device=theta.device).repeat(len(theta), 1, 1)
    c, s = theta.cos(), theta.sin()
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


class Sampler:
    """Draws one op's values: each image gets `value` with probability p, else `identity`."""

    def __init__(self, batch: int, p: torch.Tensor, device):
        self.batch, self.p, self.device = batch, p, device

    def __call__(self, value: torch.Tensor, identity: float) -> torch.Tensor:
        on = torch.rand(value.shape[:1], device=self.device) < self.p
        return torch.where(on.view(-1, *[1] * (value.dim() - 1)), value, torch.full_like(value, identity))

    def uniform(self, *shape) -> torch.Tensor:
        return torch.rand(self.batch, *shape, device=self.device)

    def normal(self, *shape) -> torch.Tensor:
        return torch.randn(self.batch, *shape, device=self.device)


@REGULARIZERS.register("ada")
class ADA(Regularizer):
    name = "ada"
    produces = (GEOMETRIC, COLOUR)

    def __init__(self, pipeline: str | Sequence[str] = "bgc", target: float = 0.6, kimg: float = 500.0,
                 interval: int = 4, p_init: float = 0.0):
        super().__init__()
        ops = PIPELINES.get(pipeline) if isinstance(pipeline, str) else tuple(pipeline)
        known = BLIT + GEOM + COLOR
        if ops is None or not ops or any(o not in known for o in ops):
            raise ValueError(f"unknown regularizer.ada.pipeline {pipeline!r}; available: {', '.join(PIPELINES)}, "
                             f"or a list of ops from {', '.join(known)}")
        self.ops = set(ops)
        self.controller = AdaptiveP("ada", target, kimg, interval)
        self.register_buffer("p", torch.tensor(float(p_init)))

    def setup(self, d: nn.Module, stats: Stats, augmentations: Sequence[AugParam]) -> None:
        self.controller.open(stats)

    def update(self, ctx: StepContext) -> None:
        self.controller.update(self.p, ctx.step)

    def augment(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        b, c, h, w = x.shape
        draw = Sampler(b, self.p, x.device)
        inv, geo = self.geometry(draw, w, h)
        if inv is not None:
            x = self.warp(x, inv)
        colour, col = self.colour(draw, c)
        if colour is not None:
            x = self.recolour(x, colour)
        return x, {GEOMETRIC.name: geo, COLOUR.name: col}

    # ---- geometry: an inverse matrix per image, output pixel (centred) -> input pixel --------------------
    def geometry(self, draw: Sampler, w: int, h: int) -> tuple[torch.Tensor | None, torch.Tensor]:
        on = self.ops.__contains__
        zero = torch.zeros(draw.batch, device=draw.device)
        inv, params = torch.eye(3, device=draw.device).expand(draw.batch, 3, 3), []
        flip = draw((draw.uniform() * 2).floor(), 0.0) if on("xflip") else zero
        inv = inv @ scale(1 - 2 * flip, torch.ones_like(flip))
        quarter = draw((draw.uniform() * 4).floor(), 0.0) if on("rotate90") else zero
        inv = inv @ rotate(math.pi / 2 * quarter)
        t = draw((draw.uniform(2) * 2 - 1) * XINT_MAX, 0.0) if on("xint") else torch.zeros(draw.batch, 2, device=draw.device)
        inv = inv @ translate(-(t[:, 0] * w).round(), -(t[:, 1] * h).round())
        params += [flip, quarter / 3, t[:, 0] / (2 * XINT_MAX) + 0.5, t[:, 1] / (2 * XINT_MAX) + 0.5]

        s = draw(draw.normal() * SCALE_STD, 0.0) if on("scale") else zero           # log2 of the scale
        inv = inv @ scale(torch.exp2(-s), torch.exp2(-s))
        p_rot = 1 - (1 - self.p).clamp(0, 1).sqrt()                                  # P(before or after) = p
        pre = self._rotation(draw, p_rot) if on("rotate") else zero
        inv = inv @ rotate(pre)
        a = draw(draw.normal() * ANISO_STD, 0.0) if on("aniso") else zero
        inv = inv @ scale(torch.exp2(-a), torch.exp2(a))
        post = self._rotation(draw, p_rot) if on("rotate") else zero
        inv = inv @ rotate(post)
        f = draw(draw.normal(2) * XFRAC_STD, 0.0) if on("xfrac") else torch.zeros(draw.batch, 2, device=draw.device)
        inv = inv @ translate(-f[:, 0] * w, -f[:, 1] * h)
        turn = 2 * math.pi * ROTATE_MAX
        params += [normal_cdf(s / SCALE_STD), pre / turn + 0.5, normal_cdf(a / ANISO_STD), post / turn + 0.5,
                   normal_cdf(f[:, 0] / XFRAC_STD), normal_cdf(f[:, 1] / XFRAC_STD)]
        return (inv if self.ops & set(BLIT + GEOM) else None), torch.stack(params, 1)

    @staticmethod
    def _rotation(draw: Sampler, p_rot: torch.Tensor) -> torch.Tensor:
        theta = (draw.uniform() * 2 - 1) * math.pi * ROTATE_MAX
        return torch.where(torch.rand(draw.batch, device=draw.device) < p_rot, theta, torch.zeros_like(theta))

    @staticmethod
    def warp(x: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
        """Sample x at inv @ (each output pixel), bilinearly, after reflection padding wide enough for the
        transformed corners (at most the side minus one, as reflection allows; beyond that, zeros)."""
        b, _, h, w = x.shape
        cx, cy = (w - 1) / 2, (h - 1) / 2
        corners = torch.tensor([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], device=x.device)
        reach = (inv @ corners.t())[:, :2].abs().amax((0, 2))                       # (2,) x, y
        mx = int(min(w - 1, max(0.0, math.ceil(reach[0].item() - cx + 1))))
        my = int(min(h - 1, max(0.0, math.ceil(reach[1].item() - cy + 1))))
        padded = F.pad(x, (mx, mx, my, my), mode="reflect") if mx or my else x
        ys, xs = torch.meshgrid(torch.arange(h, device=x.device) - cy, torch.arange(w, device=x.device) - cx, indexing="ij")
        out = torch.stack([xs, ys, torch.ones_like(xs)], -1).reshape(-1, 3)          # (HW, 3) centred
        src = out @ inv.transpose(1, 2)                                              # (B, HW, 3)
        gx = (src[..., 0] + cx + mx + 0.5) / padded.shape[-1] * 2 - 1
        gy = (src[..., 1] + cy + my + 0.5) / padded.shape[-2] * 2 - 1
        grid = torch.stack([gx, gy], -1).reshape(b, h, w, 2).to(x.dtype)
        return F.grid_sample(padded, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    # ---- colour: a 4x4 matrix per image on (r, g, b, 1) -----------------------------------------------
    def colour(self, draw: Sampler, channels: int) -> tuple[torch.Tensor | None, torch.Tensor]:
        on, n, dev = self.ops.__contains__, draw.batch, draw.device
        zero, v = torch.zeros(n, device=dev), LUMA.to(dev)
        eye = torch.eye(4, device=dev).expand(n, 4, 4)
        m = eye
        bright = draw(draw.normal() * BRIGHTNESS_STD, 0.0) if on("brightness") else zero
        shift = eye.clone()
        shift[:, :3, 3] = bright[:, None]
        m = shift @ m
        contrast = draw(draw.normal() * CONTRAST_STD, 0.0) if on("contrast") else zero   # log2
        m = torch.diag_embed(torch.cat([torch.exp2(contrast)[:, None].expand(n, 3), torch.ones(n, 1, device=dev)], 1)) @ m
        luma = draw((draw.uniform() * 2).floor(), 0.0) if on("lumaflip") else zero
        vv = torch.outer(v, v)
        m = (eye - 2 * vv * luma[:, None, None]) @ m                                  # Householder reflection
        colourful = channels > 1
        hue = draw((draw.uniform() * 2 - 1) * math.pi * HUE_MAX, 0.0) if on("hue") and colourful else zero
        m = self._rotate_about(v, hue) @ m
        sat = draw(draw.normal() * SATURATION_STD, 0.0) if on("saturation") and colourful else zero  # log2
        m = (vv + (eye - vv) * torch.exp2(sat)[:, None, None]) @ m
        params = torch.stack([normal_cdf(bright / BRIGHTNESS_STD), normal_cdf(contrast / CONTRAST_STD), luma,
                              hue / (2 * math.pi * HUE_MAX) + 0.5, normal_cdf(sat / SATURATION_STD)], 1)
        return (m if self.ops & set(COLOR) else None), params

    @staticmethod
    def _rotate_about(v: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """(B, 4, 4): rotation by theta about the unit axis v (Rodrigues)."""
        k = torch.zeros(4, 4, device=v.device)
        k[0, 1], k[0, 2], k[1, 0], k[1, 2], k[2, 0], k[2, 1] = -v[2], v[1], v[2], -v[0], -v[1], v[0]
        s, c = theta.sin()[:, None, None], theta.cos()[:, None, None]
        eye = torch.eye(4, device=v.device)
        return eye + s * k + (1 - c) * (k @ k)

    @staticmethod
    def recolour(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        flat = x.reshape(b, c, h * w)
        if c == 3:
            flat = m[:, :3, :3] @ flat + m[:, :3, 3:]
        elif c == 1:     # the official grey case: the mean of the colour rows
            row = m[:, :3, :].mean(1, keepdim=True)                                   # (B, 1, 4)
            flat = flat * row[:, :, :3].sum(2, keepdim=True) + row[:, :, 3:]
        else:
            raise ValueError(f"ada's colour ops need 1 or 3 channels, got {c}")
        return flat.reshape(b, c, h, w)
