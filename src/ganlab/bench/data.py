"""ganlab-bench data: images/second of the usual torchvision ImageFolder + DataLoader against ganlab's
image-folder paths (storage=memory: first epoch = decode + cache, then cached epochs sliced on the device;
storage=stream: DataLoader workers decode every batch), and the rate one DCGAN 64x64 training step consumes,
so the data path is never the bottleneck."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def make_folder(root: Path, n: int, size: int = 64) -> Path:
    folder = root / "all"   # one class folder, so torchvision's ImageFolder accepts it
    if folder.is_dir() and len(list(folder.glob("*.png"))) >= n:
        return root
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    grad = np.linspace(0, 255, size, dtype=np.float32)
    for i in range(n):
        img = (grad[None, :, None] * rng.random(3) + rng.normal(0, 20, (size, size, 3))).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i:05d}.png")
    return root


def torchvision_rate(root: Path, batch: int, workers: int) -> float:
    from torchvision import datasets, transforms
    ds = datasets.ImageFolder(str(root), transforms.Compose([
        transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)]))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True)
    t, n = time.perf_counter(), 0
    for x, _ in loader:
        n += len(x)
    return n / (time.perf_counter() - t)


def epoch(data, batch: int) -> int:
    """Images in one epoch of ganlab's batches over data (in memory or streamed)."""
    from ganlab.data.stream import batches_for
    batches = batches_for(data, batch, "cpu")
    n = 0
    for _ in range(len(data) // batch):
        x, _ = batches.next()
        n += len(x)
    return n


def stream_rate(root: Path, batch: int, workers: int) -> float:
    from ganlab.data.folder import imagefolder
    t = time.perf_counter()
    n = epoch(imagefolder(str(root), image_size=64, workers=workers, storage="stream"), batch)
    return n / (time.perf_counter() - t)


def ganlab_rates(root: Path, batch: int, workers: int, epochs: int) -> tuple[float, float, float]:
    from ganlab.data.folder import imagefolder
    t = time.perf_counter()
    data = imagefolder(str(root), image_size=64, workers=workers, storage="memory")   # decode + write the cache
    first = epoch(data, batch) / (time.perf_counter() - t)
    t = time.perf_counter()
    data = imagefolder(str(root), image_size=64, workers=workers, storage="memory")   # cache hit, as every later run
    load_s = time.perf_counter() - t
    t, n = time.perf_counter(), 0
    for _ in range(epochs):
        n += epoch(data, batch)
    return first, load_s, n / (time.perf_counter() - t)


def train_step_rate(batch: int, steps: int = 5) -> float:
    from ganlab.cli.build import model_pair
    from ganlab.registry import LOSSES
    g, d = model_pair("dcgan", image_size=64, channels=3, g_width=64, d_width=64)
    loss = LOSSES.build("bce")
    og, od = torch.optim.Adam(g.parameters()), torch.optim.Adam(d.parameters())
    x = torch.randn(batch, 3, 64, 64)
    t = time.perf_counter()
    for _ in range(steps):
        fake = g(torch.randn(batch, 100))
        ld, _ = loss.d(d(x), d(fake.detach()))
        od.zero_grad()
        ld.backward()
        od.step()
        lg, _ = loss.g(d(fake))
        og.zero_grad()
        lg.backward()
        og.step()
    return batch * steps / (time.perf_counter() - t)


def main(a) -> None:
    root = make_folder(a.dir / f"png{a.n}", a.n)
    os.environ.setdefault("GANLAB_CACHE", tempfile.mkdtemp(prefix="ganlab-bench-cache-"))  # a cold cache
    tv = torchvision_rate(root, a.batch, a.workers)
    stream = stream_rate(root, a.batch, a.workers)
    first, load_s, cached = ganlab_rates(root, a.batch, a.workers, a.epochs)
    step = train_step_rate(a.batch)
    print(f"{a.n} PNG files, 64x64, batch {a.batch}, {a.workers} workers, {os.cpu_count()} CPU cores")
    print(f"  torchvision ImageFolder + DataLoader : {tv:10.0f} img/s")
    print(f"  ganlab storage=stream (workers)      : {stream:10.0f} img/s")
    print(f"  ganlab first epoch (decode + cache)  : {first:10.0f} img/s")
    print(f"  ganlab cache hit (a later run loads) : {load_s:10.2f} s")
    print(f"  ganlab cached epochs                 : {cached:10.0f} img/s  ({cached / tv:.0f}x torchvision)")
    print(f"  one DCGAN-64 training step consumes  : {step:10.0f} img/s  (data is {cached / step:.0f}x faster)")

