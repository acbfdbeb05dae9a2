"""Datasets -> in-memory uint8 ImageSets; every module here is imported, so each dataset registers itself."""
from ganlab.data.base import DeviceBatches, ImageSet, to_float, to_uint8
from ganlab.registry import discover

discover(__name__)

__all__ = ["DeviceBatches", "ImageSet", "to_float", "to_uint8"]
