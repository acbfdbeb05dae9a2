"""In-memory image sets and the device-side batch sampler.

Every dataset offers the same small interface, whether it sits in memory (ImageSet) or is read
from files as it goes (data/folder.py's FolderFiles): len(), image_size, channels, num_classes,
name, take(idx) for given images and chunks(batch_size) to walk all of them in order.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class ImageSet:
    """A whole dataset in memory: images uint8 (N, C, H, W), labels int64 (N,) or None."""
    images: torch.Tensor
    labels: torch.Tensor | None
    num_classes: int
    name: str

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"{self.name}: images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.images) == 0:
            raise ValueError(f"{self.name}: the dataset is empty")

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    def __len__(self) -> int:
        return len(self.images)

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> uint8 images (len(idx), C, H, W) and their labels (or None)."""
        return self.images[idx], (self.labels[idx] if self.labels is not None else None)

    def chunks(self, batch_size: int) -> Iterator[torch.Tensor]:
        """All images in order, batch_size at a time (uint8)."""
        return iter(self.images.split(batch_size))

    def subset(self, idx: torch.Tensor, name: str) -> "ImageSet":
        images, labels = self.take(idx)
        return ImageSet(images, labels, self.num_classes, name)


LABEL_PRIORS = ("uniform", "data")


def label_prior(data, prior: str, device="cpu") -> torch.Tensor | None:
    """The class weights a conditional G's labels are drawn with (train.label_prior, eval.label_prior): None for
    uniform, or each class's share of `data`'s images for data (a class-imbalanced set, e.g. the sprites)."""
    if prior not in LABEL_PRIORS:
        raise ValueError(f"unknown label_prior '{prior}'; available: {', '.join(LABEL_PRIORS)}")
    if prior == "uniform":
        return None
    if data is None or getattr(data, "labels", None) is None or not data.num_classes:
        raise ValueError(f"label_prior=data needs a labelled data set's class frequencies; {getattr(data, 'name', data)} "
                         "has none (use label_prior=uniform)")
    return (torch.bincount(data.labels.cpu(), minlength=data.num_classes).double() / len(data.labels)).to(device)


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 (N, C, H, W) to size x size (antialiased bilinear), staying uint8."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    x = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float() / 127.5 - 1.0


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8, quantised as the reference FID code does (round, clip)."""
    return ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def check_batch_size(data, batch_size: int, world: int = 1) -> None:
    if batch_size < 1:
        raise ValueError(f"train.batch_size must be positive, got {batch_size}")
    if batch_size * world > len(data):
        across = f" x {world} ranks" if world > 1 else ""
        raise ValueError(f"train.batch_size={batch_size}{across} is larger than the dataset {data.name} ({len(data)} images)")


def mirrored(x: torch.Tensor, gen: torch.Generator, rank: int = 0, world: int = 1) -> torch.Tensor:
    """Flip each image horizontally with probability 1/2. The flips are drawn (from gen, on the CPU) for
    the global batch and this rank takes its slice, so every rank's gen stays in step."""
    flip = (torch.rand(len(x) * world, generator=gen) < 0.5)[rank * len(x):(rank + 1) * len(x)].to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def shard(batch: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """This rank's slice of a global batch of indices (B * world,) -> (B,)."""
    size = len(batch) // world
    return batch[rank * size:(rank + 1) * size]


def check_world(state: dict, world: int) -> None:
    """A data position is a place in global batches of batch_size x ranks: it cannot move to another rank count."""
    if int(state.get("world", 1)) != world:
        raise ValueError(f"the data position in this checkpoint is for {state.get('world', 1)} rank(s), this run has "
                         f"{world}; resume with the same number of ranks (the weights load with any)")


class DeviceBatches:
    """Shuffled epochs over an ImageSet held on the device; batches are sliced there.

    Each epoch is a fresh permutation from a seeded generator (the last partial batch is
    dropped). `mirror` flips each image horizontally with probability 1/2. The generator
    state and the epoch position are part of state_dict, so a resumed run sees the same batches. With
    `world` ranks every rank draws the same permutation and takes its shard (`rank`) of each global
    batch of batch_size * world: disjoint images, identical generator states.
    """

    def __init__(self, data: ImageSet, batch_size: int, device: torch.device | str = "cpu",
                 seed: int = 0, mirror: bool = False, rank: int = 0, world: int = 1):
        check_batch_size(data, batch_size, world)
        self.data, self.batch_size, self.mirror, self.rank, self.world = data, batch_size, mirror, rank, world
        self.device = torch.device(device)
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device) if data.labels is not None else None
        self.gen = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(len(data), generator=self.gen)
        self.pos = 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> real images float (B, C, H, W) in [-1, 1], labels (B,) or None."""
        step = self.batch_size * self.world
        if self.pos + step > len(self.perm):
            self.perm, self.pos = torch.randperm(len(self.perm), generator=self.gen), 0
        idx = shard(self.perm[self.pos:self.pos + step], self.rank, self.world).to(self.device)
        self.pos += step
        x = to_float(self.images[idx])
        if self.mirror:
            x = mirrored(x, self.gen, self.rank, self.world)
        return x, (self.labels[idx] if self.labels is not None else None)

    def preview(self, n: int) -> torch.Tensor:
        """The first n images as float [-1, 1] (for the real-image grid)."""
        return to_float(self.images[:n])

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "perm": self.perm, "pos": self.pos, "world": self.world}

    def load_state_dict(self, state: dict) -> None:
        if "perm" not in state:
            raise ValueError("this checkpoint was written with the dataset streamed from files; resume with "
                             "dataset.storage=stream (or start a new run)")
        check_world(state, self.world)
        self.gen.set_state(state["gen"])
        self.perm, self.pos = state["perm"], int(state["pos"])
