"""LeCam (Tseng et al. 2021): its EMAs, its start and its penalty."""
import pytest
import torch

from conftest import d_context
from ganlab.models.base import DOut
from ganlab.regularizers.base import StepContext
from ganlab.regularizers.lecam import LeCam
from ganlab.track.stats import Stats


def test_lecam_emas_copy_before_start_then_average_and_the_penalty_follows_start():
    """LeCam(weight, decay, start), iterations counted from 0 (= step, as google/lecam-gan's run_train.py): the
    EMAs are a plain copy before iteration `start`, an average from it on; the penalty applies after it
    (third_party/utils.py ema_losses: decay 0 while itr < start_itr; train_fns.py: the penalty while itr > start_itr)."""
    reg = LeCam(weight=0.3, decay=0.9, start=1)

    def step(i, real, fake):
        ctx = StepContext(step=i, phase="d", d=None, stats=Stats(), run_d=None)
        ctx.out_real, ctx.out_fake = DOut(torch.full((4,), real)), DOut(torch.full((4,), fake))
        return reg.d_terms(ctx)

    assert step(0, 1.0, -1.0) == {}                                   # iteration 0: a copy, no penalty
    assert (reg.ema_real.item(), reg.ema_fake.item()) == pytest.approx((1.0, -1.0))
    assert step(1, 3.0, 1.0) == {}                                    # iteration 1 = start: averaged, no penalty
    assert (reg.ema_real.item(), reg.ema_fake.item()) == pytest.approx((1.2, -0.8))   # 0.9 * 1 + 0.1 * 3, ...
    lecam = step(2, 3.0, 2.0)["lecam"].item()                         # ema_real 1.38, ema_fake -0.52
    assert (reg.ema_real.item(), reg.ema_fake.item()) == pytest.approx((1.38, -0.52))
    assert lecam == pytest.approx(0.3 * ((3 + 0.52) ** 2 + 0.0))      # fake 2 > ema_real 1.38: no second term
    assert step(3, 0.0, 0.0)["lecam"].item() == pytest.approx(0.3 * ((0.9 * 0.52) ** 2 + (0.9 * 1.38) ** 2))


def test_lecam_penalises_reals_above_the_fake_ema():
    from ganlab.regularizers.lecam import LeCam
    reg = LeCam(weight=1.0, start=0, decay=0.0)
    d = lambda x, y=None: DOut(x.flatten(1).mean(1))   # noqa: E731  (a D whose logit is the mean pixel)
    ctx = d_context(d, torch.full((2, 1, 2, 2), 2.0), torch.full((2, 1, 2, 2), -1.0), {})
    ctx.step = 1                                       # the penalty applies after iteration `start`
    # with decay 0 the EMAs equal this batch: relu(2 - (-1))^2 + relu(2 - (-1))^2 = 18
    assert reg.d_terms(ctx)["lecam"].item() == pytest.approx(18.0)
