"""ganlab-evaluate: score a checkpoint, or anyone's images, under a named protocol.

  ganlab-evaluate RUN_DIR|CHECKPOINT [--protocol fid10k_test] [--set eval.g_mode=standing ...]
      the run's own protocol unless changed; the result (with its protocol hash) is appended to eval.jsonl
  ganlab-evaluate --images DIR_OR_NPZ --dataset cifar10 [--protocol paper] [--set dataset.root=...]
      a folder of PNG/JPG files or an .npz array (N, H, W, C) uint8, against the dataset's cached reference
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import yaml
from omegaconf import OmegaConf

from ganlab.cli.build import build_data, build_evaluator
from ganlab.cli.choices import compose_config
from ganlab.cli.errors import command
from ganlab.config import eval_settings
from ganlab.errors import user_input


def load_images(path: Path) -> torch.Tensor:
    """uint8 (N, C, H, W) from an .npz (key 'images' or its first array) or a folder of images."""
    if path.suffix == ".npz":
        with np.load(path) as npz:
            x = npz["images"] if "images" in npz.files else npz[npz.files[0]]
        if x.dtype != np.uint8:
            raise ValueError(f"--images {path}: the array must be uint8 in [0, 255], got {x.dtype}")
        x = torch.from_numpy(x)
        if x.dim() == 3:
            x = x[:, None]
        elif x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
            x = x.permute(0, 3, 1, 2)
        return x.contiguous()
    if not path.is_dir():
        raise FileNotFoundError(f"--images {path}: no such folder or .npz file")
    from torch_fidelity.datasets import ImagesPathDataset
    from torch_fidelity.utils import glob_samples_paths
    files = glob_samples_paths(str(path), True, "png,jpg,jpeg,bmp,webp", verbose=False)
    if not files:
        raise FileNotFoundError(f"--images {path}: no png/jpg/jpeg/bmp/webp files in it")
    images = [ImagesPathDataset(files)[i] for i in range(len(files))]
    sizes = {tuple(im.shape) for im in images}
    if len(sizes) > 1:
        raise ValueError(f"--images {path}: images differ in size ({sorted(sizes)[:3]}...); resize them first")
    return torch.stack(images)


def apply(cfg, protocol: str | None, sets: list[str]):
    """The run's config with its eval section replaced by eval=PROTOCOL and `--set key=value` applied."""
    if protocol:
        cfg.eval = compose_config([f"eval={protocol}"]).eval
    for item in sets:
        key, _, value = item.partition("=")
        if not key or not _:
            raise ValueError(f"--set needs KEY=VALUE, got '{item}'")
        OmegaConf.update(cfg, key, yaml.safe_load(value) if value else None, force_add=True)
    return cfg


@command("ganlab-evaluate")
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ganlab-evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", nargs="?", help="a run directory or a checkpoint file")
    p.add_argument("--images", type=Path, help="score this folder / .npz instead of a checkpoint (needs --dataset)")
    p.add_argument("--dataset", help="with --images: the dataset option whose reference to use (e.g. cifar10)")
    p.add_argument("--out", type=Path, help="with --images: append the result to this .jsonl (and the pairs PNG beside it)")
    p.add_argument("--checkpoint", choices=["best.pt", "last.pt"], default=None)
    p.add_argument("--protocol", help="an eval option (default, fid10k_test, paper) replacing the run's eval section")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="e.g. eval.g_mode=standing")
    p.add_argument("--num-samples", type=int, default=None, help="override eval.num_samples")
    p.add_argument("--reference", choices=["train", "test"], default=None)
    p.add_argument("--extractor", default=None, help="override eval.extractor (digits, inception, vgg16, dinov2, clip, ...)")
    p.add_argument("--inception-weights", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=None, help="override eval.seed (the noise; in-training evaluation uses eval.seed)")
    p.add_argument("--no-append", action="store_true", help="print only; do not append to eval.jsonl")
    a = p.parse_args(argv)
    if (a.images is None) == (a.path is None):
        p.error("give a run directory / checkpoint, or --images with --dataset")
    if a.images is not None and not a.dataset:
        p.error("--images needs --dataset NAME (whose reference the images are compared with)")
    extra = [f"eval.{k}={v}" for k, v in (("num_samples", a.num_samples), ("reference", a.reference), ("extractor", a.extractor),
                                          ("inception_weights", a.inception_weights), ("seed", a.seed)) if v is not None]
    if a.images is not None:
        from ganlab.train.hardware import Hardware
        with user_input():
            cfg = apply(compose_config([f"dataset={a.dataset}"]), a.protocol, a.set + extra)
            hw = Hardware.resolve(a.device)
            data, _ = build_data(cfg)
            out_dir = a.out.parent if a.out else None
            evaluator, _ = build_evaluator(cfg, eval_settings(cfg), data, hw.device, ema=False, force=True,
                                           run_dir=out_dir)
        if out_dir:
            evaluator.out_dir = out_dir
        with user_input():
            images = load_images(a.images)
        result = {"images": str(a.images), **evaluator.evaluate_images(images)}
        print(json.dumps(result, indent=2))
        if a.out:
            with open(a.out, "a") as f:
                f.write(json.dumps(result) + "\n")
        return
    from ganlab.cli.runs import load_models
    with user_input():
        cfg, data, g, d, state, run_dir, ckpt_path, hw = load_models(a.path, a.device, a.checkpoint)
        cfg = apply(cfg, a.protocol, a.set + extra)
        evaluator, _ = build_evaluator(cfg, eval_settings(cfg), data, hw.device, ema=state.get("ema") is not None,
                                       force=True, run_dir=run_dir)
    result = {"step": state["step"], "kimg": state["images_seen"] / 1000, "checkpoint": str(ckpt_path),
              **evaluator.evaluate(g, d, state["step"])}
    print(json.dumps(result, indent=2))
    if not a.no_append:
        with open(run_dir / "eval.jsonl", "a") as f:
            f.write(json.dumps(result) + "\n")
        print(f"appended to {run_dir / 'eval.jsonl'} (protocol {result['protocol_hash']})", file=sys.stderr)


if __name__ == "__main__":
    main()
