"""Unit values: EMA maths and its start, gradient penalty and R1 on a D with a known input gradient,
the stats channel with several readers, the LR schedules, LeCam over several steps."""
import pytest
import torch
import torch.nn as nn

from ganlab.models.base import DOut
from ganlab.registry import SCHEDULERS
from ganlab.regularizers.base import StepContext
from ganlab.regularizers.lecam import LeCam
from ganlab.regularizers.penalties import R1, GradientPenalty
from ganlab.track.stats import Stats
from ganlab.train.ema import EMA


def test_ema_is_a_copy_before_start_then_an_exponential_average():
    model = nn.BatchNorm1d(1)
    ema = EMA(model, decay=0.9, start=2)
    with torch.no_grad():
        model.weight.fill_(5.0)
        model.num_batches_tracked.fill_(3)
    ema.update(model, step=1)                                   # before start: a plain copy
    assert ema.model.weight.item() == 5.0 and ema.model.num_batches_tracked.item() == 3
    with torch.no_grad():
        model.weight.fill_(7.0)
        model.num_batches_tracked.fill_(4)
    ema.update(model, step=2)                                   # 0.9 * 5 + 0.1 * 7
    assert ema.model.weight.item() == pytest.approx(5.2, abs=1e-6)
    assert ema.model.num_batches_tracked.item() == 4           # integer buffers are copied
    ema.update(model, step=3)                                   # 0.9 * 5.2 + 0.1 * 7
    assert ema.model.weight.item() == pytest.approx(5.38, abs=1e-6)


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


def test_stats_readers_each_see_their_own_window():
    s = Stats()
    s.report("x", 100.0)                                        # no reader open: dropped
    s.open("log")
    s.open("apa", names=("d/sign_real",))
    s.report("x", torch.tensor([1.0, 3.0]))
    s.report("d/sign_real", torch.tensor([1.0, -1.0, 1.0, 1.0]))
    assert s.read("apa") == {"d/sign_real": pytest.approx(0.5)}
    s.report("d/sign_real", torch.tensor([-1.0, -1.0]))
    assert s.read("apa") == {"d/sign_real": pytest.approx(-1.0)}
    assert s.read_counts("log") == {"x": (pytest.approx(2.0), 2), "d/sign_real": (pytest.approx(0.0, abs=1e-9), 6)}
    assert s.read("log") == {}
    with pytest.raises(KeyError, match="stats reader 'nope' was never opened"):
        s.read("nope")


def test_stats_partial_sums_survive_a_checkpoint():
    s = Stats()
    s.open("log")
    s.report("x", torch.tensor([1.0, 2.0]))
    t = Stats()
    t.open("log")
    t.load_state_dict(s.state_dict())
    t.report("x", 6.0)
    assert t.read("log") == {"x": pytest.approx(3.0)}


def lrs(name, steps, stats=None, **kw):
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = SCHEDULERS.build(name, optimizer=opt, total_steps=steps, **kw)
    if stats is not None:
        sched.attach(stats, "loss/g/total")
    out = []
    for step in range(1, steps + 1):
        if stats is not None:
            stats.report("loss/g/total", float(step))         # a rising loss: never an improvement
        sched.on_step(step)
        out.append(opt.param_groups[0]["lr"])
    return out


def test_linear_schedule_is_constant_then_decays_to_the_final_factor():
    assert lrs("linear", 10, start=4, final_factor=0.1) == pytest.approx(
        [1, 1, 1, 1 - 0.9 * 0 / 6, 1 - 0.9 / 6, 1 - 0.9 * 2 / 6, 1 - 0.9 * 3 / 6, 1 - 0.9 * 4 / 6, 1 - 0.9 * 5 / 6, 0.1])
    assert lrs("none", 3) == [1.0, 1.0, 1.0]


def test_plateau_steps_on_its_own_window():
    # windows of 3 steps; the first sets the best, patience 1: the third window without improvement halves
    assert lrs("plateau", 9, stats=Stats(), window=3, patience=1, factor=0.5) == pytest.approx([1] * 6 + [1, 1, 0.5])
    with pytest.raises(ValueError, match="scheduler.window must be at least 1, got 0"):
        lrs("plateau", 3, window=0)


def test_lecam_emas_copy_before_start_then_average_and_the_penalty_follows_start():
    """LeCam(weight, decay, start), iterations counted from 1 (= step + 1): the EMAs are a plain copy
    before iteration `start`, an average from it on; the penalty applies after it."""
    reg = LeCam(weight=0.3, decay=0.9, start=2)

    def step(i, real, fake):
        ctx = StepContext(step=i, phase="d", d=None, stats=Stats(), run_d=None)
        ctx.out_real, ctx.out_fake = DOut(torch.full((4,), real)), DOut(torch.full((4,), fake))
        return reg.d_terms(ctx)

    assert step(0, 1.0, -1.0) == {}                                   # iteration 1: a copy, no penalty
    assert (reg.ema_real.item(), reg.ema_fake.item()) == pytest.approx((1.0, -1.0))
    assert step(1, 3.0, 1.0) == {}                                    # iteration 2 = start: averaged, no penalty
    assert (reg.ema_real.item(), reg.ema_fake.item()) == pytest.approx((1.2, -0.8))   # 0.9 * 1 + 0.1 * 3, ...
    lecam = step(2, 3.0, 2.0)["lecam"].item()                         # ema_real 1.38, ema_fake -0.52
    assert (reg.ema_real.item(), reg.ema_fake.item()) == pytest.approx((1.38, -0.52))
    assert lecam == pytest.approx(0.3 * ((3 + 0.52) ** 2 + 0.0))      # fake 2 > ema_real 1.38: no second term
    assert step(3, 0.0, 0.0)["lecam"].item() == pytest.approx(0.3 * ((0.9 * 0.52) ** 2 + (0.9 * 1.38) ** 2))


def test_trainer_settings_take_their_values_from_the_yaml_only():
    from conftest import compose_cfg
    from ganlab.config import EvalSchema, train_settings, validated
    from ganlab.train.settings import TrainSettings
    cfg = compose_cfg([])
    assert (train_settings(cfg).steps, train_settings(cfg).ema.start) == (cfg.train.steps, cfg.train.ema.start)
    assert validated(EvalSchema, cfg.eval, "eval").every == cfg.eval.every
    section = {k: v for k, v in dict(cfg.train).items() if k != "log_every"}
    with pytest.raises(ValueError, match=r"bad config in 'train.log_every': Missing mandatory value"):
        validated(TrainSettings, section, "train")
