"""Feature extractors for FID / IS / KID / precision-recall, as torch-fidelity extractors.

Each takes uint8 images (B, C, H, W) and returns (features (B, F), logits (B, K)):
  inception, vgg16, dinov2, clip: torch-fidelity's extractors (metrics/pretrained.py).
  digits     a small digit classifier that ganlab trains once on the digits train split (fixed seed)
             and caches under a hash of its recipe. Its FID is a *domain* FID on 128-d features:
             comparable between ganlab runs on digits, never to Inception FID numbers in papers.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_fidelity import register_feature_extractor
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from ganlab.registry import EXTRACTORS


def cache_dir() -> Path:
    return Path(os.environ.get("GANLAB_CACHE", Path.home() / ".cache" / "ganlab"))


# ---- digits ----------------------------------------------------------------------------------
DIGITS_RECIPE = {"version": 1, "size": 32, "epochs": 20, "lr": 1e-3, "batch": 64, "seed": 0, "shift": 2, "width": 32}


class DigitNet(nn.Module):
    """(B, 1, 32, 32) in [-1, 1] -> (features (B, 128), logits (B, 10))."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.features = nn.Linear(4 * w * 16, 128)
        self.classify = nn.Linear(128, 10)

    def forward(self, x):
        f = self.features(self.body(x))
        return f, self.classify(F.relu(f))


def _prepare_digits(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (B, C, H, W) -> grey float (B, 1, size, size) in [-1, 1]."""
    x = x.float()
    if x.shape[1] == 3:
        x = x.mean(1, keepdim=True)
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x / 127.5 - 1


def train_digit_net(recipe: dict = DIGITS_RECIPE) -> tuple[DigitNet, float]:
    """Train the classifier on the digits train split; returns it and its test-split accuracy."""
    from ganlab.data.digits import digits
    gen = torch.Generator().manual_seed(recipe["seed"])
    torch.manual_seed(recipe["seed"])
    tr, te = digits(recipe["size"], "train"), digits(recipe["size"], "test")
    x, y = _prepare_digits(tr.images, recipe["size"]), tr.labels
    net = DigitNet(recipe["width"])
    opt = torch.optim.Adam(net.parameters(), lr=recipe["lr"])
    s = recipe["shift"]
    for _ in range(recipe["epochs"]):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), recipe["batch"]):
            idx = perm[i:i + recipe["batch"]]
            dx, dy = torch.randint(-s, s + 1, (2,), generator=gen).tolist()  # small shifts: robust features
            xb = torch.roll(x[idx], (dy, dx), (2, 3))
            loss = F.cross_entropy(net(xb)[1], y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = (net(_prepare_digits(te.images, recipe["size"]))[1].argmax(1) == te.labels).float().mean().item()
    return net, acc


def load_digit_net() -> tuple[DigitNet, float]:
    """The cached classifier (trained on first use; the cache key is a hash of the recipe)."""
    path = cache_dir() / f"digits-classifier-{recipe_hash()}.pt"
    net = DigitNet(DIGITS_RECIPE["width"])
    if path.is_file():
        state = torch.load(path, weights_only=True)
        net.load_state_dict(state["weights"])
        return net.eval(), state["test_accuracy"]
    net, acc = train_digit_net()
    from ganlab.train.checkpoint import save_atomic
    save_atomic({"weights": net.state_dict(), "test_accuracy": acc, "recipe": DIGITS_RECIPE}, path)
    return net, acc


class DigitsFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity extractor "ganlab-digits": features "128" (FID/KID/PR) and "logits" (IS)."""

    def __init__(self, name: str = "ganlab-digits", features_list=("128", "logits"), **kwargs):
        super().__init__(name, list(features_list))
        self.net, self.test_accuracy = load_digit_net()
        self.requires_grad_(False)

    @staticmethod
    def get_provided_features_list():
        return ("128", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits", "fid": "128", "kid": "128", "prc": "128"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return (torch.rand(1, 1, 32, 32) * 255).to(torch.uint8)

    def forward(self, x: torch.Tensor):
        feats, logits = self.net(_prepare_digits(x, DIGITS_RECIPE["size"]))
        out = {"128": feats, "logits": logits}
        return tuple(out[f] for f in self.features_list)


register_feature_extractor("ganlab-digits", DigitsFeatureExtractor)


# ---- the common interface ----------------------------------------------------------------------
class Extractor:
    """Calls a torch-fidelity extractor in batches: uint8 (N, C, H, W) -> {'features' (N, F), 'logits'
    (N, K) or None} as float64 on the CPU. `weights` (a short hash of the weights) and `resize` (the
    filter and size the network applies) go into every result's protocol."""

    def __init__(self, name: str, fidelity: FeatureExtractorBase, device, channels_needed: int | None,
                 weights: str = "", resize: str = "", classes: int = 0):
        self.name, self.fidelity, self.device, self.channels_needed = name, fidelity.to(device).eval(), device, channels_needed
        self.weights, self.resize = weights, resize
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


def recipe_hash() -> str:
    return hashlib.sha1(json.dumps(DIGITS_RECIPE, sort_keys=True).encode()).hexdigest()[:12]


@EXTRACTORS.register("digits")
def digits_extractor(device="cpu", **_) -> Extractor:
    return Extractor("digits", DigitsFeatureExtractor(), device, None, weights=f"recipe-{recipe_hash()}",
                     resize="bilinear-antialias-32", classes=10)


from ganlab.metrics import pretrained  # noqa: E402,F401  (registers inception, vgg16, dinov2, clip)
