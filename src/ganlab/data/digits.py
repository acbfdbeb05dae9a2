"""scikit-learn's handwritten digits: 1,797 real 8x8 grey images in 10 classes, shipped inside
scikit-learn, so the default path needs no download."""
from __future__ import annotations

import torch

from ganlab.data.base import ImageSet, resize_uint8
from ganlab.data.subsets import stratified_split
from ganlab.registry import DATASETS

SPLITS = ("all", "train", "test")


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
    from sklearn.datasets import load_digits

    raw = load_digits()
    images = torch.from_numpy(raw.images).float()             # (1797, 8, 8), values 0..16
    images = (images * (255.0 / 16.0)).round().to(torch.uint8)[:, None]
    labels = torch.from_numpy(raw.target).long()
    idx = digits_split(labels, split)
    return ImageSet(resize_uint8(images[idx], image_size), labels[idx], 10, f"digits[{split}]")
