import json
import math

import pytest
import torch

from ganlab.losses import BCELoss, HingeLoss, WassersteinLoss
from ganlab.models.base import DOut

REAL = DOut(torch.tensor([2.0, -1.0]))
FAKE = DOut(torch.tensor([0.5, -3.0]))


def sp(x):
    return math.log1p(math.exp(x))


def test_bce_is_non_saturating_logistic():
    d, stats = BCELoss().d(REAL, FAKE)
    want = (sp(-2) + sp(1)) / 2 + (sp(0.5) + sp(-3)) / 2
    assert d.item() == pytest.approx(want, rel=1e-6)
    assert stats["real"].item() == pytest.approx((sp(-2) + sp(1)) / 2, rel=1e-6)
    g, _ = BCELoss().g(FAKE)
    assert g.item() == pytest.approx((sp(-0.5) + sp(3)) / 2, rel=1e-6)


def test_hinge():
    d, _ = HingeLoss().d(REAL, FAKE)
    assert d.item() == pytest.approx((0 + 2) / 2 + (1.5 + 0) / 2)
    g, _ = HingeLoss().g(FAKE)
    assert g.item() == pytest.approx(1.25)


def test_wasserstein():
    d, _ = WassersteinLoss().d(REAL, FAKE)
    assert d.item() == pytest.approx(-0.5 + (-1.25))
    g, _ = WassersteinLoss().g(FAKE)
    assert g.item() == pytest.approx(1.25)


def test_pixel_logits_are_averaged_with_the_global_term():
    pix_r = torch.full((2, 1, 4, 4), 3.0)
    pix_f = torch.full((2, 1, 4, 4), -2.0)
    d, _ = HingeLoss().d(DOut(REAL.logits, pix_r), DOut(FAKE.logits, pix_f))
    # global: 1.0 + 0.75; pixels: relu(1-3)=0, relu(1-2)=0
    assert d.item() == pytest.approx(0.5 * (1.0 + 0.0) + 0.5 * (0.75 + 0.0))


def test_one_sided_label_smoothing_moves_only_d_s_target_on_real_images():
    smooth, plain = BCELoss(real_label=0.9), BCELoss()
    _, stats = smooth.d(REAL, FAKE)
    want = (0.9 * sp(-2) + 0.1 * sp(2) + 0.9 * sp(1) + 0.1 * sp(-1)) / 2
    assert stats["real"].item() == pytest.approx(want, rel=1e-6)
    assert stats["fake"].item() == pytest.approx(plain.d(REAL, FAKE)[1]["fake"].item())      # never the fake side
    assert smooth.g(FAKE)[0].item() == pytest.approx(plain.g(FAKE)[0].item())                # nor G's loss
    with pytest.raises(ValueError, match="loss.real_label must be in"):
        BCELoss(real_label=0.3)


def test_label_smoothing_is_a_loss_option(tmp_path):
    from conftest import run
    run(tmp_path, ["loss=bce", "loss.real_label=0.9"])
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(r["loss/d/real"] > 0 for r in rows if "loss/d/real" in r)
