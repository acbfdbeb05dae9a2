"""Augmentations and penalties; importing this package registers them."""
from ganlab.regularizers import apa, augself, cutmix, diffaugment, diversity, lecam, penalties  # noqa: F401
from ganlab.regularizers.base import Regularizer, StepContext

__all__ = ["Regularizer", "StepContext"]
