"""ganlab-sample RUN_DIR --out DIR: images from a checkpoint, sampled as the run's evaluation samples G
(eval.g_mode, eval.g_batch_size, EMA weights when present).

  --n N                 N PNGs (per-class folders when conditional) and samples.npz
  --grid                one grid PNG instead: rows = classes (8 rows when unconditional), --per-class columns
  --classes 3,5         one grid per listed class (class_003.png, ...)
  --interpolate N       latent interpolation grid (N steps a row, slerp); conditional models also get a
                        class interpolation grid (fixed z, class embedding a -> b)
  --truncation PSI      resample |z| > PSI (BigGAN's truncation trick), for every mode above
"""
from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from torch_fidelity.utils import batch_interp

from ganlab.cli.build import build_sampler
from ganlab.cli.errors import command
from ganlab.cli.runs import load_models
from ganlab.config import eval_settings
from ganlab.data.base import to_uint8
from ganlab.errors import user_input
from ganlab.track.images import save_grid

ROWS = 8


@contextlib.contextmanager
def class_mix(g: nn.Module, a: torch.Tensor, b: torch.Tensor, t: torch.Tensor):
    """Every class embedding of g (an nn.Embedding over its num_classes) returns (1-t) E[a] + t E[b] for the
    images in order (N,), whichever batches the sampler cuts them into: each table counts what it has served."""
    tables = [m for m in g.modules() if isinstance(m, nn.Embedding) and m.num_embeddings == g.num_classes]
    if not tables:
        raise ValueError(f"{type(g).__name__} has no nn.Embedding over its {g.num_classes} classes to interpolate")
    served = {m: 0 for m in tables}

    def mix(m, inp, out):
        i, n = served[m], len(out)
        served[m] += n
        part = slice(i, i + n)
        return torch.lerp(m.weight[a[part].to(out.device)], m.weight[b[part].to(out.device)], t[part].to(out.device)[:, None])
    hooks = [m.register_forward_hook(mix) for m in tables]
    try:
        yield
    finally:
        for h in hooks:
            h.remove()


def interpolations(g, sampler, steps: int, seed: int, out: Path) -> list[Path]:
    gen = torch.Generator().manual_seed(seed)
    ends, _ = sampler.noise(2 * ROWS, g, seed)
    t = torch.linspace(0, 1, steps).repeat(ROWS)[:, None]                            # (ROWS*steps, 1)
    a, b = ends[:ROWS].repeat_interleave(steps, 0), ends[ROWS:].repeat_interleave(steps, 0)
    z = batch_interp(a, b, t, "slerp_any")                                           # torch-fidelity's slerp
    classes = g.num_classes
    y = (torch.arange(ROWS) % classes).repeat_interleave(steps) if classes else None
    with sampler.prepared(g):
        paths = [save_grid(sampler.images(g, z, y), out / "interpolate_latent.png", steps)]
        if classes:
            za, _ = sampler.noise(ROWS, g, seed + 1)
            ca, cb = torch.randint(classes, (ROWS,), generator=gen), torch.randint(classes, (ROWS,), generator=gen)
            ca, cb = ca.repeat_interleave(steps), cb.repeat_interleave(steps)
            with class_mix(g, ca, cb, t[:, 0]):
                imgs = sampler.images(g, za.repeat_interleave(steps, 0), ca)
            paths.append(save_grid(imgs, out / "interpolate_class.png", steps))
    return paths


@command("ganlab-sample")
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ganlab-sample", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", help="a run directory or a checkpoint file")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--grid", action="store_true", help="one grid PNG: rows = classes")
    p.add_argument("--per-class", type=int, default=10, help="grid columns")
    p.add_argument("--classes", type=lambda s: [int(c) for c in s.split(",")], help="one grid per class: 3,5")
    p.add_argument("--interpolate", type=int, metavar="N", help="interpolation grids with N steps a row")
    p.add_argument("--truncation", type=float, metavar="PSI", help="resample |z| > PSI")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    a = p.parse_args(argv)
    if a.n < 1:
        p.error(f"--n must be positive, got {a.n}")
    with user_input():
        cfg, data, g, _, _, _, _, hw = load_models(a.path, a.device, need_data=False)
        sampler = build_sampler(eval_settings(cfg), hw.device, data)
    if a.truncation is not None:
        sampler = type(sampler)(sampler.mode, sampler.batch_size, sampler.standing_passes, a.truncation, hw.device,
                                sampler.class_weights)
    classes = g.num_classes
    a.out.mkdir(parents=True, exist_ok=True)
    if a.interpolate is not None:
        if a.interpolate < 2:
            raise SystemExit(f"ganlab-sample: error: --interpolate needs at least 2 steps, got {a.interpolate}")
        for path in interpolations(g, sampler, a.interpolate, a.seed, a.out):
            print(f"wrote {path}")
        return
    if a.classes is not None:
        bad = [c for c in a.classes if not 0 <= c < classes]
        if bad:
            raise SystemExit(f"ganlab-sample: error: --classes {bad} out of range; the model has {classes} classes (0..{classes - 1})")
        with sampler.prepared(g):
            for c in a.classes:
                z, _ = sampler.noise(ROWS * ROWS, g, a.seed + c)
                path = save_grid(sampler.images(g, z, torch.full((len(z),), c)), a.out / f"class_{c:03d}.png", ROWS)
                print(f"wrote {path}")
        return
    if a.grid:
        z, y = sampler.grid_noise(g, a.per_class, a.seed)
        with sampler.prepared(g):
            print(f"wrote {save_grid(sampler.images(g, z, y), a.out / 'grid.png', a.per_class)}")
        return
    z, labels = sampler.noise(a.n, g, a.seed)
    with sampler.prepared(g):
        x = to_uint8(sampler.images(g, z, labels)).permute(0, 2, 3, 1).numpy()       # (N, H, W, C) uint8
    y_np = labels.numpy() if labels is not None else np.zeros(len(x), dtype=np.int64)
    for i, (img, c) in enumerate(zip(x, y_np)):
        folder = a.out / f"class_{c:03d}" if classes else a.out
        folder.mkdir(exist_ok=True)
        Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(folder / f"{i:06d}.png")
    np.savez_compressed(a.out / "samples.npz", images=x, labels=y_np)
    print(f"wrote {len(x)} images and samples.npz to {a.out}")


if __name__ == "__main__":
    main()
