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
