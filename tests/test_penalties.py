"""Gradient penalty and R1 on a D whose input gradient is known; the drift term on known scores."""
import pytest
import torch
import torch.nn as nn

from ganlab.models.base import DOut
from ganlab.regularizers.base import StepContext
from ganlab.regularizers.penalties import R1, Drift, GradientPenalty
from ganlab.track.stats import Stats


class LinearD(nn.Module):
    """D(x) = sum(a * x): its input gradient is `a` everywhere, of norm ||a|| = 2 for a = ones(1, 2, 2)."""
    def forward(self, x, y=None):
        return DOut(logits=x.sum((1, 2, 3)))


def penalty_ctx(step=0):
    real, fake = torch.randn(4, 1, 2, 2), torch.randn(4, 1, 2, 2)
    d = LinearD()
    return StepContext(step=step, phase="d", d=d, stats=Stats(), run_d=lambda x, y, side, ctx, augment=True, eager=False: d(x, y),
                       real=real, fake=fake)


def test_gradient_penalty_of_a_linear_critic():
    ctx = penalty_ctx()
    ctx.stats.open("log")
    gp = GradientPenalty(weight=10.0, target=1.0).d_terms(ctx)["gp"]
    assert gp.item() == pytest.approx(10.0 * (2.0 - 1.0) ** 2, rel=1e-6)
    assert ctx.stats.read("log")["reg/gradient_penalty/grad_norm"] == pytest.approx(2.0, rel=1e-6)
    assert GradientPenalty(weight=10.0, target=2.0).d_terms(penalty_ctx())["gp"].item() == pytest.approx(0.0, abs=1e-10)


def test_r1_of_a_linear_critic_is_lazy_and_scaled_by_its_interval():
    r1 = R1(gamma=0.01, every=16)
    assert r1.d_terms(penalty_ctx(step=32))["r1"].item() == pytest.approx(0.5 * 0.01 * 16 * 4.0, rel=1e-6)
    assert r1.d_terms(penalty_ctx(step=33)) == {}


def test_the_drift_term_pulls_the_real_scores_toward_zero():
    """weight * E[C(x)^2] on the reals only: the scores 60 and 70 of a drifted critic, not the fakes' 0."""
    ctx = penalty_ctx()
    ctx.out_real = DOut(logits=torch.tensor([60.0, 70.0], requires_grad=True))
    ctx.out_fake = DOut(logits=torch.zeros(2))
    term = Drift(weight=0.001).d_terms(ctx)["drift"]
    assert term.item() == pytest.approx(0.001 * (60.0 ** 2 + 70.0 ** 2) / 2, rel=1e-6)
    term.backward()
    assert ctx.out_real.logits.grad.tolist() == pytest.approx([0.001 * 60.0, 0.001 * 70.0], rel=1e-6)
