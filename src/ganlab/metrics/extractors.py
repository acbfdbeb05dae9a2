"""Feature extractors for FID / IS / KID / precision-recall, as torch-fidelity extractors.

Each takes uint8 images (B, C, H, W) and returns (features (B, F), logits (B, K)):
  inception, vgg16, dinov2, clip: torch-fidelity's extractors (metrics/pretrained.py).
  domain, digits: a small classifier that ganlab trains once on a labelled data set's own classes
             (metrics/domain.py). Its FID is a *domain* FID on 128-d features: comparable between
             ganlab runs on that data set, never to Inception FID numbers in papers.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase


def cache_dir() -> Path:
    return Path(os.environ.get("GANLAB_CACHE", Path.home() / ".cache" / "ganlab"))


@contextmanager
def making(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`'s cache entry while it is checked and made, so that runs in
    parallel (multirun jobs, test workers) make it once: the others wait, then load it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:   # no POSIX locks (Windows): parallel runs may each make the entry
        yield
        return
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# ---- the common interface ----------------------------------------------------------------------
class Extractor:
    """Calls a torch-fidelity extractor in batches: uint8 (N, C, H, W) -> {'features' (N, F), 'logits'
    (N, K) or None} as float64 on the CPU. `weights` (a short hash of the weights) and `resize` (the
    filter and size the network applies) go into every result's protocol, and so does `accuracy`, a
    domain classifier's held-out accuracy."""

    def __init__(self, name: str, fidelity: FeatureExtractorBase, device, channels_needed: int | None,
                 weights: str = "", resize: str = "", classes: int = 0, accuracy: float | None = None):
        self.name, self.fidelity, self.device, self.channels_needed = name, fidelity.to(device).eval(), device, channels_needed
        self.weights, self.resize, self.accuracy = weights, resize, accuracy
        self.classes = classes   # > 0: its logits classify the training set's own classes (class_acc can use them)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor | Iterable[torch.Tensor], batch_size: int = 250) -> dict:
        """images: one uint8 tensor (split into batch_size chunks) or an iterable of uint8 chunks."""
        feats, logits = [], []
        for chunk in (images.split(batch_size) if torch.is_tensor(images) else images):
            chunk = chunk.to(self.device)
            if self.channels_needed == 3 and chunk.shape[1] == 1:
                chunk = chunk.expand(-1, 3, -1, -1)
            out = self.fidelity(chunk)
            feats.append(out[0].float().cpu())
            if len(out) > 1:
                logits.append(out[1].float().cpu())
        return {"features": torch.cat(feats).double(), "logits": torch.cat(logits).double() if logits else None}

