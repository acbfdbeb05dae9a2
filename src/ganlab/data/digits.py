"""scikit-learn's handwritten digits: 1,797 real 8x8 grey images in 10 classes, shipped inside
scikit-learn, so the default path needs no download."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from ganlab.data.base import ImageSet, resize_uint8
from ganlab.data.subsets import stratified_split
from ganlab.registry import DATASETS

SPLITS = ("all", "train", "test")


def digits_file() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits.csv.gz, the file its load_digits reads, read directly: importing scikit-learn
    costs about 2 s at every start. -> images (1797, 8, 8) with values 0..16, labels (1797,)."""
    spec = importlib.util.find_spec("sklearn")   # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("dataset=digits reads the digits file that ships inside scikit-learn: pip install scikit-learn")
    data = np.loadtxt(Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz", delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)


def digits_split(labels: torch.Tensor, split: str, test_fraction: float = 0.2, seed: int = 0) -> torch.Tensor:
    """Indices of a fixed, class-stratified train/test split (test = 20% of each class)."""
    if split not in SPLITS:
        raise ValueError(f"unknown digits split '{split}'; available: {', '.join(SPLITS)}")
    if split == "all":
        return torch.arange(len(labels))
    test, train = stratified_split(labels, test_fraction, seed)
    return test if split == "test" else train


@DATASETS.register("digits", fid_extractor="digits", channels=1, num_classes=10)   # a domain FID: no Inception download
def digits(image_size: int = 32, split: str = "all") -> ImageSet:
    pixels, target = digits_file()
    images = torch.from_numpy(pixels).float()                  # (1797, 8, 8), values 0..16
    images = (images * (255.0 / 16.0)).round().to(torch.uint8)[:, None]
    labels = torch.from_numpy(target).long()
    idx = digits_split(labels, split)
    return ImageSet(resize_uint8(images[idx], image_size), labels[idx], 10, f"digits[{split}]")
