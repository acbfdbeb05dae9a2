"""Domain extractors: a small classifier trained on a labelled data set's own classes, whose features
give FID, KID, precision/recall and density/coverage, and whose logits give IS and class_acc.

Inception, VGG16, DINOv2 and CLIP need downloaded weights; this needs only the data. The classifier
is trained once on a seeded, class-stratified 80% of the set (fixed recipe, small random shifts) and
tested on the other 20%. It is cached under a hash of the recipe and of the data (images, labels),
and that hash and the held-out accuracy go into every result's protocol. A domain FID is comparable
between ganlab runs on the same data set, never to Inception FID numbers in papers.

  domain   trains on the run's whole training set (never a `fraction` of it, so that low-data runs and
           full runs share one extractor); dataset.labels=folders, or any labelled set.
  digits   the domain extractor of scikit-learn's digits (all 1,797 images, so the run's split does
           not change it): the default for dataset=digits.
"""
from __future__ import annotations

import hashlib
import json

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from tqdm import tqdm

from ganlab.data.subsets import stratified_split
from ganlab.errors import ConfigError
from ganlab.metrics.extractors import Extractor, cache_dir, making
from ganlab.registry import EXTRACTORS

RECIPE = {"version": 2, "size": 32, "epochs": 20, "lr": 1e-3, "batch": 64, "seed": 0, "shift": 2, "width": 32,
          "test_fraction": 0.2, "max_images": 50000}


class DomainNet(nn.Module):
    """(B, C, 32, 32) in [-1, 1] -> (features (B, 128), logits (B, classes))."""

    def __init__(self, channels: int, classes: int, width: int = 32):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(channels, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.features = nn.Linear(4 * w * 16, 128)
        self.classify = nn.Linear(128, classes)

    def forward(self, x):
        f = self.features(self.body(x))
        return f, self.classify(F.relu(f))


def to_input(x: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float (B, channels, size, size) in [-1, 1] (grey <-> RGB as needed)."""
    x = x.float()
    if x.shape[1] != channels:
        x = x.mean(1, keepdim=True).expand(-1, channels, -1, -1)
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x / 127.5 - 1


def labelled(data) -> tuple[torch.Tensor, torch.Tensor]:
    """All images (at most RECIPE's max_images, a seeded draw) and their labels, or one clear error."""
    if not data.num_classes:
        raise ConfigError(
            f"eval.extractor=domain trains a classifier on the data set's classes, but {data.name} has no labels. "
            f"Put the images in class subfolders and set dataset.labels=folders, or use eval.extractor=inception "
            f"(eval.inception_weights=PATH offline), dinov2 or clip, or eval=none to train without FID.")
    n = len(data)
    idx = torch.arange(n) if n <= RECIPE["max_images"] else \
        torch.randperm(n, generator=torch.Generator().manual_seed(RECIPE["seed"]))[:RECIPE["max_images"]].sort().values
    return data.take(idx)


def fingerprint(images: torch.Tensor, labels: torch.Tensor, classes: int) -> str:
    """A hash of the recipe and the data: the classifier's cache key and its weights id."""
    h = hashlib.sha1(json.dumps(RECIPE, sort_keys=True).encode())
    h.update(f"{tuple(images.shape)} {classes}".encode())
    h.update(images.contiguous().numpy().tobytes())
    h.update(labels.numpy().tobytes())
    return h.hexdigest()[:12]


def train_classifier(images: torch.Tensor, labels: torch.Tensor, classes: int, progress: bool = True) -> tuple[DomainNet, float]:
    """Train on a stratified (1 - test_fraction) of the images; -> the net and its held-out accuracy."""
    r = RECIPE
    gen = torch.Generator().manual_seed(r["seed"])
    torch.manual_seed(r["seed"])
    test, train = stratified_split(labels, r["test_fraction"], r["seed"])
    channels = images.shape[1]
    x, y = to_input(images[train], channels, r["size"]), labels[train]
    net = DomainNet(channels, classes, r["width"])
    opt = torch.optim.Adam(net.parameters(), lr=r["lr"])
    s = r["shift"]
    for _ in tqdm(range(r["epochs"]), desc=f"domain classifier ({len(x)} images, {classes} classes)", unit="epoch",
                  disable=not progress, leave=False):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), r["batch"]):
            idx = perm[i:i + r["batch"]]
            dx, dy = torch.randint(-s, s + 1, (2,), generator=gen).tolist()   # small shifts: robust features
            loss = F.cross_entropy(net(torch.roll(x[idx], (dy, dx), (2, 3)))[1], y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        logits = torch.cat([net(to_input(b, channels, r["size"]))[1] for b in images[test].split(500)])
    return net, (logits.argmax(1) == labels[test]).float().mean().item()


def load_classifier(data, progress: bool = True) -> tuple[DomainNet, float, str]:
    """The cached classifier of this data set (trained on first use): the net, held-out accuracy, hash."""
    images, labels = labelled(data)
    key = fingerprint(images, labels, data.num_classes)
    path = cache_dir() / f"domain-classifier-{key}.pt"
    net = DomainNet(images.shape[1], data.num_classes, RECIPE["width"])
    with making(path):
        if path.is_file():
            state = torch.load(path, weights_only=True)
            net.load_state_dict(state["weights"])
            return net.eval(), state["test_accuracy"], key
        net, acc = train_classifier(images, labels, data.num_classes, progress)
        from ganlab.train.checkpoint import save_atomic
        save_atomic({"weights": net.state_dict(), "test_accuracy": acc, "recipe": RECIPE, "data": data.name}, path)
    return net, acc, key


class DomainFeatureExtractor(FeatureExtractorBase):
    """The classifier as a torch-fidelity extractor: features "128" (FID/KID/PR) and "logits" (IS)."""

    def __init__(self, net: DomainNet, features_list=("128", "logits")):
        super().__init__("ganlab-domain", list(features_list))
        self.net, self.channels = net, net.body[0].in_channels
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

    def forward(self, x: torch.Tensor):
        feats, logits = self.net(to_input(x, self.channels, RECIPE["size"]))
        out = {"128": feats, "logits": logits}
        return tuple(out[f] for f in self.features_list)


def domain_extractor_of(data, name: str, device="cpu", progress: bool = True) -> Extractor:
    net, acc, key = load_classifier(data, progress)
    return Extractor(name, DomainFeatureExtractor(net), device, None, weights=f"domain-{key}",
                     resize=f"bilinear-antialias-{RECIPE['size']}", classes=data.num_classes, accuracy=acc)


@EXTRACTORS.register("domain")
def domain_extractor(device="cpu", dataset=None, **_) -> Extractor:
    if dataset is None:
        raise ConfigError("eval.extractor=domain needs the training set it is trained on")
    return domain_extractor_of(dataset, "domain", device)


@EXTRACTORS.register("digits")
def digits_extractor(device="cpu", **_) -> Extractor:
    from ganlab.data.digits import digits
    return domain_extractor_of(digits(RECIPE["size"], "all"), "digits", device)
