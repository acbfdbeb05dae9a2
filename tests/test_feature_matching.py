"""Feature matching (Salimans et al. 2016): G's loss is the distance between the mean D features of real
and generated images, alone (the official code) or beside the adversarial term."""
import json

import pytest
import torch

from conftest import run
from ganlab.models.base import DOut
from ganlab.regularizers.base import StepContext
from ganlab.regularizers.feature_matching import FeatureMatching
from ganlab.track.stats import Stats


class FeatureD(torch.nn.Module):
    """features = the image's per-channel means; logits = their sum."""
    features_dim = 3

    def forward(self, x, y=None):
        f = x.mean((2, 3))
        return DOut(f.sum(1), features=f)


@pytest.mark.parametrize("distance", ["abs", "square"])
def test_the_term_is_the_distance_between_mean_features(distance):
    d, fm = FeatureD(), FeatureMatching(weight=2.0, distance=distance)
    fm.setup(d, Stats(), [])
    run_d = lambda x, y, side, ctx, augment=True: d(x, y)   # noqa: E731
    real, fake = torch.randn(8, 3, 4, 4), torch.randn(8, 3, 4, 4)
    fm.d_terms(StepContext(step=0, phase="d", d=d, stats=Stats(), run_d=run_d, real=real))
    ctx = StepContext(step=0, phase="g", d=d, stats=Stats(), run_d=run_d, fake=fake)
    ctx.out_fake = d(fake)
    term = fm.g_terms(ctx)["feature_matching"]
    diff = real.mean((0, 2, 3)) - fake.mean((0, 2, 3))
    want = diff.abs().mean() if distance == "abs" else diff.pow(2).mean()
    assert term.item() == pytest.approx(2.0 * want.item(), rel=1e-5)
    assert ctx.adv_weight == 0.0                                  # G's whole loss, as the official code


def rows(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "loss/g/feature_matching" in r]


def test_alone_or_beside_the_adversarial_term_in_the_trainer(tmp_path):
    run(tmp_path / "alone", ["regularizer=[feature_matching]"])
    for r in rows(tmp_path / "alone"):
        assert r["loss/g/total"] == pytest.approx(r["loss/g/feature_matching"], rel=1e-5)
    run(tmp_path / "both", ["regularizer=[feature_matching]", "regularizer.feature_matching.adversarial=true"])
    for r in rows(tmp_path / "both"):
        assert r["loss/g/total"] == pytest.approx(r["loss/g/feature_matching"] + r["loss/g/bce"], rel=1e-5)
    assert rows(tmp_path / "both")
