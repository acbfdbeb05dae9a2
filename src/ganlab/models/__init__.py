"""Generators and discriminators, registered as model pairs where each is defined (every module here is
imported, so a new model file needs no import list): see models/base.py for the contract."""
from ganlab.models.base import DOut, sample_prior
from ganlab.registry import discover

discover(__name__)

__all__ = ["DOut", "sample_prior"]
