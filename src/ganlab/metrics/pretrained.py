"""The pretrained extractors, all torch-fidelity 0.4's own code; ganlab only finds the weights.

  inception  TF 2015-12-05 Inception-v3 port: pool3 2048-d + unbiased logits (FID, IS, KID).
  vgg16      torchvision's ImageNet VGG16 cut after fc2, torch-fidelity's P/R default: its layer for
             "prc" is fc2_relu (4096-d), 224 px TF1-bilinear resize + ImageNet normalisation.
  dinov2     facebookresearch/dinov2 through torch.hub (FD-DINOv2, Stein et al. 2023 use ViT-L/14).
  clip       OpenAI CLIP image tower (ViT-L/14 by default).
  The explicit variants (dinov2-vit-s-14, clip-vit-b-32, ...) are registered under their
  torch-fidelity names.

Weights come from a local file (eval.inception_weights / eval.vgg16_weights / eval.extractor_weights)
or torch.hub's cache; these machines have no internet, so a missing file stops with one message that
names the file, both places, and the ways to go on without it. The weights file's hash goes into the
protocol, so numbers from different weights never look comparable.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
from pathlib import Path

import torch
from torch_fidelity.feature_extractor_clip import MODEL_METADATA as CLIP_MODELS
from torch_fidelity.feature_extractor_clip import MODEL_URLS as CLIP_URLS
from torch_fidelity.feature_extractor_clip import FeatureExtractorCLIP
from torch_fidelity.feature_extractor_dinov2 import MODEL_METADATA as DINO_MODELS
from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3
from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16

from ganlab.metrics.extractors import Extractor
from ganlab.registry import EXTRACTORS
from ganlab.weights import check_path, hub_file, missing

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
VGG16_FILE, VGG16_URL = "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth"
DINO_URL = "https://dl.fbaipublicfiles.com/dinov2/{m}/{m}_pretrain.pth"
DINO_REPO = "facebookresearch/dinov2"
DEFAULT_VARIANT = {"dinov2": "dinov2-vit-l-14", "clip": "clip-vit-l-14"}
WAYS_OUT = ("Or go on without it: eval=none trains without FID, or eval.extractor=... picks another "
            "extractor (domain needs no download on a labelled data set: it trains a classifier on its classes; "
            "inception, vgg16, dinov2, clip).")


@functools.lru_cache(maxsize=16)
def _sha(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()[:12]


def weights_id(path: str | Path | None, fallback: str) -> str:
    """A short sha256 of the weights file actually used, or `fallback` when it is not on disk."""
    if path is None or not Path(path).is_file():
        return fallback
    st = Path(path).stat()
    return _sha(str(Path(path).resolve()), st.st_size, st.st_mtime)


@EXTRACTORS.register("inception")
def inception_extractor(device="cpu", inception_weights: str | None = None, **_) -> Extractor:
    check_path("eval.inception_weights", inception_weights)
    try:
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                          feature_extractor_weights_path=inception_weights)
    except Exception as e:  # offline: the download fails
        raise missing("Inception-v3 (FID/IS/KID)", URL_INCEPTION_V3,
                      "eval.inception_weights", e, WAYS_OUT) from None
    return Extractor("inception", net, device, 3, weights_id(inception_weights or hub_file(INCEPTION_FILE), "6726825d"),
                     "tf1-bilinear-299")


@EXTRACTORS.register("vgg16")
def vgg16_extractor(device="cpu", vgg16_weights: str | None = None, **_) -> Extractor:
    check_path("eval.vgg16_weights", vgg16_weights)
    layer = FeatureExtractorVGG16.get_default_feature_layer_for_metric("prc")
    try:
        net = FeatureExtractorVGG16("vgg16", [layer], feature_extractor_weights_path=vgg16_weights)
    except Exception as e:
        raise missing("VGG16 (precision/recall)", VGG16_URL, "eval.vgg16_weights", e,
                      "(Or eval.pr_extractor=inception for StudioGAN-style P/R on pool3.)\n" + WAYS_OUT) from None
    return Extractor(f"vgg16:{layer}", net, device, 3, weights_id(vgg16_weights or hub_file(VGG16_FILE), "397923af"),
                     "tf1-bilinear-224")


def _dinov2(variant: str):
    def build(device="cpu", extractor_weights: str | None = None, **_) -> Extractor:
        check_path("eval.extractor_weights", extractor_weights)
        model = DINO_MODELS[variant]
        file = f"{model}_pretrain.pth"
        load = torch.hub.load

        def from_file(repo, name, *a, **k):   # torch-fidelity 0.4 takes no path for DINOv2: load it here
            net = load(repo, name, *a, pretrained=False, **k)
            net.load_state_dict(torch.load(extractor_weights, map_location="cpu", weights_only=True))
            return net

        patch = (mock_attr(torch.hub, "load", from_file) if extractor_weights else contextlib.nullcontext())
        try:
            with patch:
                net = FeatureExtractorDinoV2(variant, ["dinov2"])
        except Exception as e:
            repo_dir = Path(torch.hub.get_dir()) / "facebookresearch_dinov2_main"
            raise missing(f"DINOv2 {variant}", DINO_URL.format(m=model), "eval.extractor_weights", e,
                          f"DINOv2's model code comes from torch.hub too: clone github.com/{DINO_REPO} to {repo_dir}.\n"
                          + WAYS_OUT) from None
        return Extractor(variant, net, device, 3, weights_id(extractor_weights or hub_file(file), variant), "tf1-bilinear-224")
    return build


def _clip(variant: str):
    def build(device="cpu", extractor_weights: str | None = None, **_) -> Extractor:
        check_path("eval.extractor_weights", extractor_weights)
        file = f"{variant}-{CLIP_MODELS[variant]['hash']}.pt"
        try:
            net = FeatureExtractorCLIP(variant, ["clip"], feature_extractor_weights_path=extractor_weights, verbose=False)
        except Exception as e:
            raise missing(f"CLIP {variant}", CLIP_URLS[variant], "eval.extractor_weights", e, WAYS_OUT, file) from None
        return Extractor(variant, net, device, 3, weights_id(extractor_weights or hub_file(file), CLIP_MODELS[variant]["hash"][:12]),
                         f"tf1-bilinear-{net.resolution}")
    return build


@contextlib.contextmanager
def mock_attr(obj, name: str, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


for _v in DINO_MODELS:
    EXTRACTORS.register(_v)(_dinov2(_v))
for _v in CLIP_MODELS:
    EXTRACTORS.register(_v)(_clip(_v))
for _short, _v in DEFAULT_VARIANT.items():
    EXTRACTORS.register(_short)(_dinov2(_v) if _short == "dinov2" else _clip(_v))
