"""Evaluation: metric values against independent computations, caching, protocol, commands."""
import json
from unittest import mock

import numpy as np
import pytest
import scipy.linalg
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.metric_isc import isc_features_to_metric

from conftest import run, scoring
from ganlab.cli import evaluate as evaluate_cli
from ganlab.cli import sample as sample_cli
from ganlab.data.base import ImageSet
from ganlab.data.digits import digits
from ganlab.metrics.domain import digits_extractor
from ganlab.metrics.evaluator import Evaluator
from ganlab.metrics.extractors import Extractor
from ganlab.metrics.reference import fid_from_features
from ganlab.models.dcgan import DCGANGenerator
from ganlab.registry import EXTRACTORS


def frechet_numpy(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_matches_an_independent_frechet_distance():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(500, 16, generator=gen, dtype=torch.float64)
    b = torch.randn(400, 16, generator=gen, dtype=torch.float64) * 1.3 + 0.2
    assert fid_from_features(a, b) == pytest.approx(frechet_numpy(a.numpy(), b.numpy()), rel=1e-4)


def test_inception_score_matches_a_direct_computation():
    logits = torch.randn(1000, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3
    p = torch.softmax(logits, 1).numpy()
    scores = []
    for chunk in np.array_split(p, 1):
        py = chunk.mean(0, keepdims=True)
        scores.append(np.exp((chunk * (np.log(chunk) - np.log(py))).sum(1).mean()))
    got = isc_features_to_metric(logits, splits=1, shuffle=False)["inception_score_mean"]
    assert got == pytest.approx(scores[0], rel=1e-6)


def test_the_digits_classifier_is_accurate():
    assert digits_extractor().accuracy > 0.95


class CountingExtractor(Extractor):
    calls = 0

    def __call__(self, images, batch_size=250):
        chunks = images.split(batch_size) if torch.is_tensor(images) else list(images)
        CountingExtractor.calls += sum(len(c) for c in chunks)
        return super().__call__(chunks, batch_size)


def test_reference_features_are_cached_and_protocol_recorded():
    ref = digits(16, "all")
    digits_ext = digits_extractor()
    ext = CountingExtractor("digits", digits_ext.fidelity, "cpu", None, weights=digits_ext.weights,
                            resize="bilinear-antialias-32", classes=10, accuracy=digits_ext.accuracy)
    g = DCGANGenerator(z_dim=8, image_size=16, channels=1, width=4, num_classes=10)
    ev = Evaluator(ext, ref, scoring(num_samples=100, kid_subset_size=50), cache_key="test-cache", device="cpu")
    first = ev.evaluate(g, None)
    assert CountingExtractor.calls == len(ref) + 100
    ev2 = Evaluator(ext, ref, scoring(num_samples=100, kid_subset_size=50), cache_key="test-cache", device="cpu")
    ev2.evaluate(g, None)
    assert CountingExtractor.calls == len(ref) + 200          # no second pass over the real images
    import torch_fidelity
    assert first["protocol"] == {"extractor": "digits", "weights": digits_ext.weights, "resize": "bilinear-antialias-32",
                                 "extractor_accuracy": round(digits_ext.accuracy, 4), "num_samples": 100, "reference_n": len(ref), "pr_features": "digits",
                                 "g_mode": "batch", "g_batch_size": 50, "truncation": None,
                                 "torch_fidelity": torch_fidelity.__version__}
    assert first["fid"] > first["fid_floor"] > 0
    # an untrained G's blobs all look like one class to the digit classifier: IS ~ 1; a "generator"
    # that returns real digits scores far higher (about 6: 10 splits of 10 images) and far better FID/PR
    real = ev.evaluate(RealDigits(ref), None)
    assert first["is_mean"] < 1.5 and real["is_mean"] > 4
    assert real["fid"] < first["fid"] / 5 and real["precision"] > first["precision"] + 0.3
    lo, hi = first["fid_ci"]
    assert lo < hi and lo < first["fid"] * 1.5 and hi > first["fid"] * 0.8


def test_scoring_given_images_records_their_own_protocol_and_leaves_the_evaluators_intact():
    ref = digits(16, "all")
    ev = Evaluator(digits_extractor(), ref, scoring(metrics=["fid"], num_samples=100, fid_ci=0), cache_key="test-cache")
    before = dict(ev.protocol)
    out = ev.evaluate_images(ref.images[::2])
    assert out["protocol"]["source"] == "images" and out["protocol"]["num_samples"] == len(ref.images[::2])
    assert not any(k.startswith("g_") for k in out["protocol"]) and out["fid"] < 100
    assert ev.protocol == before and ev.evaluate(DCGANGenerator(z_dim=8, image_size=16, channels=1, width=4))["protocol"] == before


class RealDigits(torch.nn.Module):
    """Returns the reference's own images in order, shaped like a generator's output."""
    z_dim, num_classes = 8, 0

    def __init__(self, ref):
        super().__init__()
        self.images, self.pos = ref.images, 0

    def forward(self, z, y=None):
        idx = torch.arange(self.pos, self.pos + len(z)) % len(self.images)
        self.pos += len(z)
        return self.images[idx].float() / 127.5 - 1


def test_conditional_sampling_is_class_balanced():
    g = DCGANGenerator(z_dim=8, image_size=16, channels=1, width=4, num_classes=10)
    ev = Evaluator(digits_extractor(), digits(16), scoring(num_samples=30))
    z, labels = ev.sampler.noise(30, g, ev.seed)
    assert z.shape == (30, 8) and torch.bincount(labels).tolist() == [3] * 10


def random_inception_weights(path):
    with mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None), \
         mock.patch("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url", lambda *a, **k: {}):
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"])
    torch.save(net.state_dict(), path)


def test_inception_path_runs_offline_from_a_local_weights_file(tmp_path):
    """Plumbing only: random weights give meaningless numbers, but the whole path runs."""
    weights = tmp_path / "inception.pth"
    random_inception_weights(weights)
    ext = EXTRACTORS.build("inception", device="cpu", inception_weights=str(weights))
    test = digits(16, "test")
    few = ImageSet(test.images[:12], test.labels[:12], 10, "digits[test][:12]")   # Inception at 299 px is slow on CPU
    ev = Evaluator(ext, few, scoring(metrics=["fid", "is", "kid"], num_samples=10, kid_subset_size=10, batch_size=10,
                                   fid_ci=0), cache_key="inception-plumbing")   # no 2048-d bootstrap on CPU
    out = ev.evaluate(DCGANGenerator(z_dim=8, image_size=16, channels=1, width=4), None)
    assert np.isfinite(out["fid"]) and out["protocol"]["extractor"] == "inception"


def test_missing_inception_weights_say_which_file_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    def offline(*a, **k):
        raise OSError("network unreachable")
    monkeypatch.setattr("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url", offline)
    with pytest.raises(FileNotFoundError, match=r"weights-inception-2015-12-05-6726825d\.pth(.|\n)*eval\.inception_weights"):
        EXTRACTORS.build("inception", device="cpu")


def test_training_evaluates_writes_eval_jsonl_and_best_checkpoint(tmp_path):
    summary, d = run(tmp_path, ["eval=default", "eval.every=1", "eval.num_samples=60", "eval.kid_subset_size=50",
                                "train.steps=2"])
    rows = [json.loads(x) for x in (d / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for key in ("fid", "fid_floor", "is_mean", "is_std", "kid", "precision", "recall", "d_accuracy",
                "d_precision", "d_recall", "protocol"):
        assert key in rows[0], key
    assert rows[0]["protocol"]["reference"] == "digits:train"
    assert (d / "checkpoints/best.pt").is_file() and summary["best_eval"]["fid"] == min(r["fid"] for r in rows)
    assert (d / "plots/metrics.png").is_file()


def test_evaluate_and_sample_commands(tmp_path, capsys):
    _, d = run(tmp_path / "run", ["train.steps=1"])
    (d / ".hydra").mkdir()
    from omegaconf import OmegaConf

    from conftest import TINY, TINY_DCGAN, compose_cfg
    OmegaConf.save(compose_cfg(TINY + TINY_DCGAN + ["train.steps=1"]), d / ".hydra/config.yaml")
    evaluate_cli.main([str(d), "--num-samples", "40", "--device", "cpu"])
    line = json.loads((d / "eval.jsonl").read_text().splitlines()[-1])
    assert line["protocol"]["num_samples"] == 40 and "fid" in line
    sample_cli.main([str(d), "--n", "20", "--out", str(tmp_path / "png"), "--device", "cpu"])
    assert len(list((tmp_path / "png").glob("class_*/*.png"))) == 20
    npz = np.load(tmp_path / "png/samples.npz")
    assert npz["images"].shape == (20, 16, 16, 1) and npz["images"].dtype == np.uint8
    sample_cli.main([str(d), "--grid", "--out", str(tmp_path / "grid"), "--device", "cpu"])
    assert (tmp_path / "grid/grid.png").is_file()


class TinyVGG(torch.nn.Module):
    """torchvision's VGG16 shape where torch-fidelity touches it: `classifier` of 7 with fc2 at index 3."""

    def __init__(self, *a, **k):
        super().__init__()
        nn = torch.nn
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, stride=8), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.classifier = nn.Sequential(nn.Linear(16, 12), nn.ReLU(), nn.Dropout(), nn.Linear(12, 6), nn.ReLU(),
                                        nn.Dropout(), nn.Linear(6, 3))

    def forward(self, x):
        return self.classifier(self.features(x))


def test_vgg16_pr_extractor_runs_from_a_local_weights_file(tmp_path, monkeypatch):
    """Plumbing with random weights through torch-fidelity's FeatureExtractorVGG16 (fc2 after ReLU)."""
    import torchvision
    fc2_relu = []

    def vgg16(*a, **k):     # the extractor's network, with ReLU(fc2) recorded
        net = TinyVGG()
        net.classifier[3].register_forward_hook(lambda m, i, o: fc2_relu.append(torch.relu(o).detach().clone()))
        return net
    monkeypatch.setattr(torchvision.models, "vgg16", vgg16)
    torch.save(TinyVGG().state_dict(), tmp_path / "vgg16.pth")
    ext = EXTRACTORS.build("vgg16", device="cpu", vgg16_weights=str(tmp_path / "vgg16.pth"))
    out = ext(digits(16, "test").images[:5])
    assert out["features"].shape == (5, 6) and out["logits"] is None
    assert torch.allclose(out["features"].float(), torch.cat(fc2_relu).float().reshape(5, 6), atol=1e-5)
    assert ext.name == "vgg16:fc2_relu" and len(ext.weights) == 12 and ext.resize == "tf1-bilinear-224"


def test_missing_vgg16_and_dinov2_weights_name_the_file_both_places_and_the_way_out(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*a, **k):
        raise OSError("network unreachable")
    monkeypatch.setattr("torch_fidelity.feature_extractor_vgg16.torchvision_load_pretrained_vgg16", offline)
    with pytest.raises(FileNotFoundError, match=r"vgg16-397923af\.pth(.|\n)*hub/checkpoints(.|\n)*eval\.vgg16_weights"
                                                r"(.|\n)*eval=none(.|\n)*eval\.extractor="):
        EXTRACTORS.build("vgg16", device="cpu")
    monkeypatch.setattr(torch.hub, "load", offline)
    with pytest.raises(FileNotFoundError, match=r"dinov2_vitl14_pretrain\.pth(.|\n)*eval\.extractor_weights"
                                                r"(.|\n)*facebookresearch_dinov2_main(.|\n)*eval=none"):
        EXTRACTORS.build("dinov2", device="cpu")


def test_inception_offline_message_offers_eval_none_and_another_extractor(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url",
                        mock.Mock(side_effect=OSError("network unreachable")))
    with pytest.raises(FileNotFoundError, match=r"hub/checkpoints/weights-inception(.|\n)*eval=none trains without FID"
                                                r"(.|\n)*eval\.extractor=\.\.\. picks another extractor"):
        EXTRACTORS.build("inception", device="cpu")


def tiny_vit():
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 4, 14, stride=14), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def test_dinov2_and_clip_run_through_torch_fidelity_with_random_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "load", lambda repo, name, *a, **k: tiny_vit())
    images = digits(16, "test").images[:3]
    dino = EXTRACTORS.build("dinov2", device="cpu")
    assert dino.name == "dinov2-vit-l-14" and dino(images)["features"].shape == (3, 4)
    torch.save(tiny_vit().state_dict(), tmp_path / "dino.pth")           # a local weights file is loaded
    local = EXTRACTORS.build("dinov2-vit-s-14", device="cpu", extractor_weights=str(tmp_path / "dino.pth"))
    assert torch.equal(local.fidelity.model[0].weight, torch.load(tmp_path / "dino.pth")["0.weight"])
    from torch_fidelity.feature_extractor_clip import CLIPVisual
    visual = CLIPVisual(embed_dim=8, image_resolution=224, vision_layers=1, vision_width=64, vision_patch_size=32)
    state = {**visual.state_dict(), "text_projection": torch.zeros(16, 8)}
    monkeypatch.setattr("torch_fidelity.feature_extractor_clip.load_state_dict_from_url",
                        lambda *a, **k: mock.Mock(state_dict=lambda: dict(state)))
    clip = EXTRACTORS.build("clip", device="cpu")
    assert clip.name == "clip-vit-l-14" and clip(images)["features"].shape == (3, 8)
