"""Preparing an image folder for training (ganlab-prepare): a clean folder of same-size RGB PNGs,
optionally sorted into class folders by a pretrained torchvision classifier.

Every source image is decoded, checked and converted; what cannot be used is skipped and counted
by reason: corrupt (does not decode), too large (over data/folder.py's MAX_PIXELS, judged from the
header before decoding), too small (shorter side below the target size: upscaling
would invent detail) and grey (no colour, unless allowed). Class subfolders of the source are kept.
Transparent pixels (RGBA, LA, or a palette or RGB image with a transparent colour) are composited
onto one background colour; a plain convert("RGB") would keep whatever colour hides under alpha 0,
black in some files and white in others.
"""
from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ganlab.data.folder import EXTENSIONS, MAX_PIXELS
from ganlab.errors import ConfigError
from ganlab.weights import state_dict

CROPS = ("center", "stretch")
BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0)}
BACKGROUND = "white"


def background_colour(spec: str) -> tuple[int, int, int]:
    """'white', 'black' or 'R,G,B' (0-255 each) -> an RGB triple."""
    if spec in BACKGROUNDS:
        return BACKGROUNDS[spec]
    parts = spec.split(",")
    if len(parts) == 3 and all(p.strip().isdigit() and int(p) <= 255 for p in parts):
        return tuple(int(p) for p in parts)
    raise ConfigError(f"--background must be white, black or R,G,B with each 0-255, got '{spec}'")


def to_rgb(im: Image.Image, background: tuple[int, int, int]) -> tuple[Image.Image, bool]:
    """-> (RGB image, whether it had a transparent pixel), transparency composited onto `background`."""
    if im.mode not in ("RGBA", "LA", "PA") and "transparency" not in im.info:
        return im.convert("RGB"), False
    rgba = im.convert("RGBA")
    if rgba.getextrema()[3][0] == 255:   # an alpha channel that is opaque everywhere
        return rgba.convert("RGB"), False
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (*background, 255)), rgba).convert("RGB"), True


def clean(path: Path, size: int, crop: str = "center", allow_grey: bool = False,
          background: tuple[int, int, int] = BACKGROUNDS[BACKGROUND]) -> tuple[Image.Image | None, str, bool]:
    """-> (an RGB size x size image, "", had transparency) or (None, the reason it is skipped, False)."""
    try:
        with warnings.catch_warnings():   # MAX_PIXELS decides, before decoding, not PIL's bomb warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            if im.size[0] * im.size[1] > MAX_PIXELS:
                return None, "too large", False
            im.load()
            mode, (img, transparent) = im.mode, to_rgb(im, background)
    except Image.DecompressionBombError:
        return None, "too large", False
    except Exception:   # PIL raises many types for broken files
        return None, "corrupt", False
    w, h = img.size
    if min(w, h) < size:
        return None, "too small", False
    if not allow_grey:
        a = np.asarray(img)
        if mode in ("1", "L", "LA", "I", "I;16", "F") or (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all():
            return None, "grey", False
    if crop == "center":
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        img = img.crop((left, top, left + s, top + s))
    return img.resize((size, size), Image.LANCZOS), "", transparent


def prepare(src: Path, dst: Path, size: int, crop: str = "center", allow_grey: bool = False,
            progress: bool = True, background: str = BACKGROUND) -> tuple[list[Path], Counter, int]:
    """Write the usable images of SRC (recursively) to DST as PNGs.
    -> (written files, skipped by reason, how many written ones had transparency)."""
    colour = background_colour(background)
    src, dst = Path(src), Path(dst)
    if crop not in CROPS:
        raise ConfigError(f"unknown --crop '{crop}'; available: {', '.join(CROPS)}")
    if size < 1:
        raise ConfigError(f"--size must be positive, got {size}")
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such folder")
    if dst.exists() and any(dst.iterdir()):
        raise ConfigError(f"{dst} exists and is not empty; choose a new destination")
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)
    if not files:
        raise ConfigError(f"{src} has no images of a known type ({', '.join(sorted(EXTENSIONS))})")
    written, skipped, taken, transparent = [], Counter(), set(), 0
    for path in tqdm(files, desc="prepare", unit="img", disable=not progress):
        img, reason, had_alpha = clean(path, size, crop, allow_grey, colour)
        if img is None:
            skipped[reason] += 1
            continue
        out = dst / path.relative_to(src).with_suffix(".png")
        n = 1
        while out in taken:   # a.jpg and a.png in one folder
            out = out.with_name(f"{path.stem}_{n}.png")
            n += 1
        taken.add(out)
        transparent += had_alpha
        out.parent.mkdir(parents=True, exist_ok=True)
        img.save(out)
        written.append(out)
    return written, skipped, transparent


def classifier(name: str, weights: str | None = None) -> tuple[torch.nn.Module, list[str], object]:
    """A torchvision ImageNet classifier (eval mode), its class names and its preprocessing.
    Weights: --weights PATH, else torch.hub's cache or a download; offline, one message naming the file."""
    import torchvision
    try:
        spec = torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, KeyError):
        raise ConfigError(f"unknown --classify '{name}'; any torchvision classifier, e.g. resnet50, resnet18, "
                          f"efficientnet_b0, mobilenet_v3_small") from None
    state = state_dict(spec.url, weights, "--weights", f"{name} ImageNet (--classify)")
    net = torchvision.models.get_model(name, weights=None)
    net.load_state_dict(state)
    return net.eval().requires_grad_(False), list(spec.meta["categories"]), spec.transforms()


def read_chw(path: Path) -> torch.Tensor:
    with Image.open(path) as im:
        return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)   # (3, H, W) uint8


def folder_name(index: int, category: str) -> str:
    return f"{index:04d}_" + re.sub(r"[^A-Za-z0-9]+", "_", category).strip("_").lower()


@torch.no_grad()
def classify(files: list[Path], dst: Path, net, categories: list[str], transform, top: int = 0,
             batch_size: int = 64, device="cpu", progress: bool = True) -> tuple[dict[str, int], int]:
    """Move each prepared image into DST/<class>/ by the classifier's prediction; with top > 0 only the
    `top` most frequent classes are kept (the other images are deleted). -> (images per class, dropped)."""
    net = net.to(device)
    preds = []
    for i in tqdm(range(0, len(files), batch_size), desc="classify", unit="batch", disable=not progress):
        x = torch.stack([transform(read_chw(f)) for f in files[i:i + batch_size]])   # (B, 3, 224, 224) typically
        preds += net(x.to(device)).argmax(1).tolist()
    counts = Counter(preds)
    keep = {c for c, _ in counts.most_common(top)} if top > 0 else set(counts)
    kept, dropped = Counter(), 0
    for f, c in zip(files, preds):
        if c not in keep:
            f.unlink()
            dropped += 1
            continue
        folder = dst / folder_name(c, categories[c])
        folder.mkdir(parents=True, exist_ok=True)
        f.rename(folder / f"{len(list(folder.iterdir())):06d}_{f.name}")
        kept[folder.name] += 1
    for d in sorted((p for p in dst.rglob("*") if p.is_dir()), reverse=True):   # source folders now empty
        if not any(d.iterdir()):
            d.rmdir()
    return dict(sorted(kept.items())), dropped
