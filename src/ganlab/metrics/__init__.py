"""Evaluation: FID/IS/KID/PR through torch-fidelity, and the feature extractors they run on. Every module here
is imported, so each extractor registers itself where it is defined (domain.py: domain, digits; pretrained.py:
inception, vgg16, dinov2, clip) and extractors.py, their common base, imports none of them."""
from ganlab.registry import discover

discover(__name__)
