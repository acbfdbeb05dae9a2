"""Generators and discriminators, registered as model pairs."""
from ganlab.models import catalog  # noqa: F401  (registers the models)
from ganlab.models.base import DOut, sample_prior

__all__ = ["DOut", "sample_prior"]
