"""MNIST, CIFAR-10/100 and SVHN through torchvision's own download code, held in memory as uint8.

Offline with no files, loading stops before training with one message naming the files expected
under which folder and where to get them; it never falls back to other data.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganlab.data.base import ImageSet, resize_uint8
from ganlab.registry import DATASETS

SOURCES = {
    "mnist": ("MNIST/raw/ (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)",
              "https://ossci-datasets.s3.amazonaws.com/mnist/ (the four .gz files; torchvision unpacks them)"),
    "cifar10": ("cifar-10-batches-py/ (data_batch_1..5, test_batch, batches.meta)",
                "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (extract it into the root)"),
    "cifar100": ("cifar-100-python/ (train, test, meta)",
                 "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz (extract it into the root)"),
    "svhn": ("train_32x32.mat and test_32x32.mat",
             "http://ufldl.stanford.edu/housenumbers/train_32x32.mat and test_32x32.mat"),
}


def _load(name: str, root: str, split: str, download: bool):
    from torchvision import datasets
    if split not in ("train", "test"):
        raise ValueError(f"unknown {name} split '{split}'; available: train, test")
    Path(root).mkdir(parents=True, exist_ok=True)
    try:
        if name == "mnist":
            ds = datasets.MNIST(root, train=split == "train", download=download)
            return ds.data.numpy()[:, None], np.asarray(ds.targets), 10
        if name in ("cifar10", "cifar100"):
            cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
            ds = cls(root, train=split == "train", download=download)
            return ds.data.transpose(0, 3, 1, 2), np.asarray(ds.targets), len(ds.classes)
        ds = datasets.SVHN(root, split=split, download=download)
        return ds.data, np.asarray(ds.labels), 10
    except Exception as e:   # offline download failure, or files missing with download=false
        files, url = SOURCES[name]
        raise FileNotFoundError(
            f"dataset '{name}' ({split}) is not available under {Path(root).resolve()}: "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}\n"
            f"Expected there: {files}\nGet them from: {url}\n"
            f"or run where there is a network with dataset.download=true.") from None


def _make(name: str, root: str, image_size: int, split: str, download: bool) -> ImageSet:
    images, labels, classes = _load(name, root, split, download)
    images_t = torch.from_numpy(np.ascontiguousarray(images))
    return ImageSet(resize_uint8(images_t, image_size), torch.from_numpy(labels.astype(np.int64)), classes,
                    f"{name}[{split}]")


SHAPES = {"mnist": (1, 10), "cifar10": (3, 10), "cifar100": (3, 100), "svhn": (3, 10)}   # channels, classes


def _register(name: str):
    channels, classes = SHAPES[name]

    @DATASETS.register(name, channels=channels, num_classes=classes)
    def build(*, root: str, image_size: int, split: str, download: bool) -> ImageSet:
        """The values live in conf/dataset/_torchvision.yaml."""
        return _make(name, root, image_size, split, download)
    build.__name__ = name
    return build


for _name in SHAPES:
    _register(_name)
