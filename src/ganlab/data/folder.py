"""Image folders (anime faces, ImageNet-style class folders), decoded once into a uint8 cache,
or streamed from the files when the decoded images would not fit in memory.

storage=memory: the first use decodes every file (in worker processes), centre-crops, resizes and
writes CACHE/folders/<key>.npz; the key hashes the file list with sizes and modification times and
every transform setting, so later runs and sweep jobs load it in about a second and a changed
folder is decoded again.
storage=stream: FolderFiles decodes each file when a batch needs it, in DataLoader workers
(data/stream.py); nothing is cached. storage=auto (the default) streams when the decoded images,
N x C x S x S bytes, would exceed memory_limit_gb (default: a quarter of this machine's memory).
Class subfolders become labels with labels=folders.

A file is skipped (on_corrupt=skip, reported on every run, cached or not) or stops the run (on_corrupt=error)
for the reasons ganlab-prepare skips it: corrupt (does not decode), too small (shorter side below image_size:
upscaling would invent detail) and too large (over MAX_PIXELS, checked from the header before decoding: a
168 KB PNG can decode to 2 GB).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from ganlab.data.base import ImageSet
from ganlab.errors import BadFile
from ganlab.registry import DATASETS

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
ORDERS = ("name", "newest", "random")
STORAGES = ("auto", "memory", "stream")
CACHE_VERSION = 2   # 2: too-small and too-large files are skipped, and the skipped ones are kept in the cache
MAX_PIXELS = 8192 * 8192   # decoded size cap: 8192x8192 is 200 MB as RGB


def physical_memory() -> int:
    """This machine's memory in bytes (16 GiB where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 16 * 2 ** 30


def choose_storage(storage: str, n: int, channels: int, image_size: int, memory_limit_gb: float | None) -> str:
    """memory or stream: what storage=auto means for n decoded images of this size."""
    if storage not in STORAGES:
        raise ValueError(f"unknown dataset.storage '{storage}'; available: {', '.join(STORAGES)}")
    if storage != "auto":
        return storage
    need = n * channels * image_size * image_size
    limit = memory_limit_gb * 2 ** 30 if memory_limit_gb else physical_memory() / 4
    if need <= limit:
        return "memory"
    print(f"[ganlab] {n} images at {channels}x{image_size}x{image_size} need {need / 2 ** 30:.3g} GiB decoded, "
          f"over the {limit / 2 ** 30:.3g} GiB limit (dataset.memory_limit_gb): streaming them from the files")
    return "stream"


def scan(root: Path, labels: str) -> tuple[list[Path], list[str]]:
    """Image files under root (sorted by path) and the class names (first-level folders) when labelled."""
    if not root.is_dir():
        raise FileNotFoundError(f"dataset.root={root}: no such folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
    if not files:
        kinds = ", ".join(sorted(EXTENSIONS))
        raise ValueError(f"dataset.root={root} has no images of a known type ({kinds})")
    classes = sorted({p.relative_to(root).parts[0] for p in files if len(p.relative_to(root).parts) > 1}) \
        if labels == "folders" else []
    if labels == "folders" and not classes:
        raise ValueError(f"dataset.labels=folders but {root} has no class subfolders with images")
    return files, classes


def choose(files: list[Path], subset: int, order: str, seed: int = 0) -> list[Path]:
    if order not in ORDERS:
        raise ValueError(f"unknown dataset.subset_order '{order}'; available: {', '.join(ORDERS)}")
    if order == "newest":
        files = sorted(files, key=lambda p: (-p.stat().st_mtime, str(p)))
    elif order == "random":
        files = files[:]
        random.Random(seed).shuffle(files)
    return files[:subset] if subset else files


def labels_of(root: Path, files: list[Path], classes: list[str]) -> torch.Tensor:
    """Each file's class index (its first-level folder under root); zeros when unlabelled."""
    index = {c: i for i, c in enumerate(classes)}
    return torch.tensor([index[f.relative_to(root).parts[0]] if classes else 0 for f in files], dtype=torch.int64)


def decode(path: str, image_size: int, channels: int, center_crop: bool):
    """One file -> uint8 (C, S, S), or why it is skipped ("corrupt (...)", "too small (...)", "too large (...)")."""
    try:
        with warnings.catch_warnings():   # the size cap below decides, not PIL's bomb warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            w, h = im.size   # from the header: nothing decoded yet
            if w * h > MAX_PIXELS:
                return f"too large ({w}x{h} pixels; ganlab decodes at most {MAX_PIXELS / 1e6:.0f} megapixels)"
            if min(w, h) < image_size:
                return f"too small ({w}x{h}, under dataset.image_size={image_size})"
            im = im.convert("L" if channels == 1 else "RGB")   # RGBA, palette, greyscale: all converted
            if center_crop:
                w, h = im.size
                s = min(w, h)
                im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
            im = im.resize((image_size, image_size), Image.BICUBIC, reducing_gap=None)
            arr = np.asarray(im, dtype=np.uint8)
    except Image.DecompressionBombError as e:   # PIL's own refusal, at twice its MAX_IMAGE_PIXELS
        return f"too large ({e})"
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        return f"corrupt ({type(e).__name__}: {e})"
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _decode_args(args):
    return decode(*args)


@DATASETS.register("imagefolder", channels=None, num_classes=None)   # the config's channels; classes from the folders
def imagefolder(root: str, image_size: int = 64, channels: int = 3, center_crop: bool = True,
                labels: str | None = None, subset: int = 0, subset_order: str = "name", on_corrupt: str = "skip",
                workers: int = 2, split: str = "train", storage: str = "auto",
                memory_limit_gb: float | None = None) -> ImageSet | FolderFiles:
    from ganlab.metrics.extractors import cache_dir, making
    if labels not in (None, "folders"):
        raise ValueError(f"unknown dataset.labels '{labels}'; available: null (unlabeled), folders")
    if on_corrupt not in ("skip", "error"):
        raise ValueError(f"unknown dataset.on_corrupt '{on_corrupt}'; available: skip, error")
    if channels not in (1, 3):
        raise ValueError(f"dataset.channels must be 1 or 3, got {channels}")
    if split != "train":
        raise ValueError(f"an image folder has one split; got split='{split}' (use eval.reference=train)")
    root_p = Path(root).expanduser()
    files, classes = scan(root_p, labels)
    files = choose(files, subset, subset_order)
    if choose_storage(storage, len(files), channels, image_size, memory_limit_gb) == "stream":
        return FolderFiles(root_p, files, classes, image_size, channels, center_crop, on_corrupt, workers)
    listing = [(str(p.relative_to(root_p)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    settings = [CACHE_VERSION, image_size, channels, center_crop, labels, subset, subset_order, on_corrupt]
    key = hashlib.sha1(json.dumps([str(root_p.resolve()), listing, settings]).encode()).hexdigest()[:16]
    cache = cache_dir() / "folders" / f"{root_p.name}-{key}.npz"
    with making(cache):   # sweep jobs on one folder decode it once; the others wait for the cache
        if cache.is_file():
            z = np.load(cache)
            images, ys, skipped = torch.from_numpy(z["images"]), torch.from_numpy(z["labels"]), list(z["skipped"])
        else:
            images, ys, skipped = _decode_all(root_p, files, classes, image_size, channels, center_crop, on_corrupt,
                                              workers)
            tmp = cache.with_name(cache.stem + ".tmp.npz")
            np.savez(tmp, images=images.numpy(), labels=ys.numpy(), skipped=np.array(skipped, dtype=str))
            os.replace(tmp, cache)
    report_skipped(root_p, skipped)
    return ImageSet(images, ys if classes else None, len(classes), f"imagefolder[{root_p}]")


def _decode_all(root, files, classes, image_size, channels, center_crop, on_corrupt, workers):
    args = [(str(p), image_size, channels, center_crop) for p in files]
    if workers > 1 and len(args) > 256:
        with ProcessPoolExecutor(workers) as pool:
            decoded = list(tqdm(pool.map(_decode_args, args, chunksize=64), total=len(args),
                                desc=f"decoding {root.name}", unit="img", mininterval=2))
    else:
        decoded = [_decode_args(a) for a in tqdm(args, desc=f"decoding {root.name}", unit="img", mininterval=2)]
    bad = [(f, r) for f, r in zip(files, decoded) if isinstance(r, str)]
    if bad and on_corrupt == "error":
        raise ValueError(f"unusable image {bad[0][0]}: {bad[0][1]} ({len(bad)} unusable in {root}; "
                         f"dataset.on_corrupt=skip leaves them out)")
    good = [(f, r) for f, r in zip(files, decoded) if not isinstance(r, str)]
    if not good:
        raise ValueError(f"no usable images in {root} ({len(bad)} skipped; first: {bad[0][0].name}: {bad[0][1]})")
    images = torch.from_numpy(np.stack([r for _, r in good]))
    ys = labels_of(root, [f for f, _ in good], classes)
    return images, ys, [f"{f.relative_to(root)}: {r}" for f, r in bad]


def report_skipped(root: Path, skipped: list[str]) -> None:
    """One line: how many files were left out, by reason, and the first few."""
    if not skipped:
        return
    reasons = Counter(s.split(": ", 1)[1].split(" (")[0] for s in skipped)
    names = ", ".join(s.split(": ", 1)[0] for s in skipped[:5])
    print(f"[ganlab] skipped {len(skipped)} image(s) in {root} ({', '.join(f'{n} {r}' for r, n in sorted(reasons.items()))}): "
          f"{names}{' ...' if len(skipped) > 5 else ''}")


class FolderFiles(torch.utils.data.Dataset):
    """An image folder read as it is used: item i decodes file i (in a DataLoader worker).

    Has ImageSet's interface (len, image_size, channels, num_classes, name, take, chunks).
    An unreadable file stops the run with on_corrupt=error; with skip it is reported and the
    next readable file stands in for it.
    """

    def __init__(self, root: Path, files: list[Path], classes: list[str], image_size: int, channels: int,
                 center_crop: bool, on_corrupt: str, workers: int):
        self.root, self.files = root, [str(f) for f in files]
        self.labels = labels_of(root, files, classes)
        self.num_classes, self.name = len(classes), f"imagefolder[{root}]"
        self.image_size, self.channels, self.center_crop = image_size, channels, center_crop
        self.on_corrupt, self.workers = on_corrupt, workers
        probe = [decode(f, image_size, channels, center_crop) for f in self.files[:16]]
        if all(isinstance(r, str) for r in probe):
            raise ValueError(f"no usable images among the first {len(probe)} files of {root}: "
                             f"{Path(self.files[0]).name}: {probe[0]}")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        for j in range(i, i + len(self.files)):
            j %= len(self.files)
            arr = decode(self.files[j], self.image_size, self.channels, self.center_crop)
            if not isinstance(arr, str):
                return torch.tensor(arr), int(self.labels[j])
            if self.on_corrupt == "error":
                raise BadFile(f"unusable image {self.files[j]}: {arr} (dataset.on_corrupt=skip leaves it out)")
            print(f"[ganlab] skipped image {self.files[j]}: {arr}")
        raise BadFile(f"no usable images in {self.root}")

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        items = [self[int(i)] for i in idx]
        labels = torch.tensor([y for _, y in items], dtype=torch.int64)
        return torch.stack([x for x, _ in items]), (labels if self.num_classes else None)

    def chunks(self, batch_size: int):
        loader = torch.utils.data.DataLoader(self, batch_size=batch_size, num_workers=self.workers)
        return (x for x, _ in loader)

    def subset(self, idx: torch.Tensor, name: str) -> "FolderFiles":
        part = copy.copy(self)
        part.files, part.labels, part.name = [self.files[int(i)] for i in idx], self.labels[idx], name
        return part
