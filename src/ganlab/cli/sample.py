"""ganlab-sample RUN_DIR --n N --out DIR: PNGs (per-class folders when conditional) and an .npz;
--grid writes one class-by-sample grid instead."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ganlab.cli.errors import command
from ganlab.cli.runs import load_run
from ganlab.data.base import to_uint8
from ganlab.errors import user_input
from ganlab.models.base import sample_prior
from ganlab.track.images import save_grid


@command("ganlab-sample")
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ganlab-sample", description=__doc__)
    p.add_argument("path", help="a run directory or a checkpoint file")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--grid", action="store_true", help="one grid PNG: rows = classes")
    p.add_argument("--per-class", type=int, default=10, help="grid columns")
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    a = p.parse_args(argv)
    if a.n < 1:
        p.error(f"--n must be positive, got {a.n}")
    with user_input():
        _, _, g, _, _, _, _, hw = load_run(a.path, a.device)
    torch.manual_seed(a.seed)
    classes = g.num_classes
    a.out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        if a.grid:
            n = a.per_class * max(classes, 1)
            z, _ = sample_prior(n, g.z_dim, 0, hw.device)
            y = torch.arange(classes, device=hw.device).repeat_interleave(a.per_class) if classes else None
            print(save_grid(g(z, y), a.out / "grid.png", a.per_class if classes else 10))
            return
        labels = torch.arange(a.n, device=hw.device) % classes if classes else None
        images, ys = [], []
        for i in tqdm(range(0, a.n, a.batch_size), desc="sample", unit="batch"):
            m = min(a.batch_size, a.n - i)
            z, _ = sample_prior(m, g.z_dim, 0, hw.device)
            y = labels[i:i + m] if labels is not None else None
            images.append(to_uint8(g(z, y)).cpu())
    x = torch.cat(images).permute(0, 2, 3, 1).numpy()          # (N, H, W, C) uint8
    y_np = labels.cpu().numpy() if labels is not None else np.zeros(len(x), dtype=np.int64)
    for i, (img, c) in enumerate(zip(x, y_np)):
        folder = a.out / f"class_{c:03d}" if classes else a.out
        folder.mkdir(exist_ok=True)
        Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(folder / f"{i:06d}.png")
    np.savez_compressed(a.out / "samples.npz", images=x, labels=y_np)
    print(f"wrote {len(x)} images and samples.npz to {a.out}")


if __name__ == "__main__":
    main()
