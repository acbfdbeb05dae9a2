"""Augmentations and penalties; every module here is imported, so each regularizer registers itself."""
from ganlab.registry import discover
from ganlab.regularizers.base import Regularizer, StepContext

discover(__name__)

__all__ = ["Regularizer", "StepContext"]
