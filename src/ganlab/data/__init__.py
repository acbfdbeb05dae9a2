"""Datasets -> in-memory uint8 ImageSets; importing this package registers them."""
from ganlab.data import digits, folder, torchvision_sets  # noqa: F401
from ganlab.data.base import DeviceBatches, ImageSet, to_float, to_uint8

__all__ = ["DeviceBatches", "ImageSet", "to_float", "to_uint8"]
