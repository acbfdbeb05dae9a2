"""Random uint8 images and labels of a chosen shape: no files, no download. The benchmarks train on it at
a real set's shape (`ganlab-bench step`, `ganlab-bench gpu`), and it is a smoke test for a new model."""
from __future__ import annotations

import torch

from ganlab.data.base import ImageSet
from ganlab.registry import DATASETS


@DATASETS.register("synthetic", channels=None, num_classes=None)   # the shape is the config's
def synthetic(*, image_size: int, channels: int, num_classes: int, n: int, seed: int, split: str = "train") -> ImageSet:
    """The values live in conf/dataset/synthetic.yaml; the test split is another draw of the same shape."""
    gen = torch.Generator().manual_seed(seed + (split == "test"))
    images = torch.randint(0, 256, (n, channels, image_size, image_size), dtype=torch.uint8, generator=gen)
    labels = torch.randint(num_classes, (n,), generator=gen) if num_classes else None
    return ImageSet(images, labels, num_classes, f"synthetic[{split}]")
