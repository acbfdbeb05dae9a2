"""DiffAugment, AugSelf, APA and LeCam, each on its own and inside the real trainer."""
import json

import pytest
import torch

from conftest import TINY, TINY_DCGAN, compose_cfg, run
from ganlab.cli.build import build, model_pair
from ganlab.models.base import DOut
from ganlab.regularizers.apa import APA
from ganlab.regularizers.augself import AugSelf
from ganlab.regularizers.base import StepContext, setup_all
from ganlab.regularizers.diffaugment import DiffAugment, cutout, translation
from ganlab.track.stats import Stats


def test_diffaugment_is_differentiable_and_its_parameters_stay_in_range():
    aug = DiffAugment(policy=["color", "translation", "cutout"])
    x = torch.rand(64, 3, 16, 16, requires_grad=True)
    y, params = aug.augment(x * 2 - 1)
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert {k: v.shape for k, v in params.items()} == {"color": (64, 3), "translation": (64, 2), "cutout": (64, 2)}
    for v in params.values():
        assert v.min() >= 0 and v.max() <= 1


def test_translation_shifts_with_zero_fill():
    x = torch.arange(16.0).view(1, 1, 4, 4) + 1
    torch.manual_seed(0)
    out, p = translation(x.repeat(50, 1, 1, 1), ratio=0.25)   # shifts in {-1, 0, 1}
    t = ((p - 0.5) * 2).round().long()                        # back to integer shifts
    for img, (ty, tx) in zip(out, t):
        expect = torch.zeros(4, 4)
        for i in range(4):
            for j in range(4):
                if 0 <= i - ty < 4 and 0 <= j - tx < 4:
                    expect[i, j] = x[0, 0, i - ty, j - tx]
        assert torch.equal(img[0], expect)


def test_cutout_zeroes_a_square_of_the_right_size_inside_the_image():
    out, p = cutout(torch.ones(200, 1, 8, 8), ratio=0.5)
    zeros = (out == 0).sum((1, 2, 3))
    assert zeros.max() == 16 and zeros.min() >= 4           # clipped at the borders, never bigger
    assert p.min() >= 0 and p.max() <= 1


def ctx_for(d, real, fake, aug, y=None):
    stats = Stats()
    ctx = StepContext(step=0, phase="d", d=d, stats=stats, run_d=lambda x, y, side, ctx, augment=True: d(x, y),
                      real=real, y_real=y, fake=fake, y_fake=y)
    ctx.aug = aug
    ctx.out_real, ctx.out_fake = d(real, y), d(fake, y)
    return ctx


def test_augself_heads_receive_gradients_and_join_d_optimizer(tmp_path):
    _, d = model_pair("biggan_deep", image_size=32, channels=1, ch=4, depth=1)
    aug = DiffAugment(policy=["color", "translation", "cutout"])
    reg = AugSelf()
    setup_all([aug, reg], d, Stats())
    real, fake = torch.rand(4, 1, 32, 32), torch.rand(4, 1, 32, 32)
    xr, pr = aug.augment(real)
    xf, pf = aug.augment(fake)
    ctx = ctx_for(d, real, fake, {"real": pr, "fake": pf})
    ctx.out_real, ctx.out_fake = d(xr), d(xf)
    reg.d_terms(ctx)["augself"].backward()
    assert all(h.parametrizations.weight.original.grad.abs().sum() > 0 for h in reg.heads.values())
    # inside the trainer, the heads are in D's optimizer
    run(tmp_path, ["model=biggan_deep", "model.ch=4", "model.depth=1", "dataset.image_size=32",
                   "regularizer=[diffaugment,augself]", "train.steps=1"], tiny_model=False)
    state = torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)
    n_heads = sum(1 for k in state["regs"][1] if k.endswith("original") or k.endswith("bias"))
    n_d = sum(1 for k in state["d"] if k.endswith("original") or k.endswith("bias") or k.endswith("gamma"))
    assert len(state["opt_d"]["param_groups"][0]["params"]) == n_d + n_heads


def test_augself_regresses_what_the_augmenters_declare_and_fails_at_build_without_one():
    _, d = model_pair("biggan_deep", image_size=32, channels=1, ch=4, depth=1)
    reg = AugSelf()
    setup_all([DiffAugment(policy=["translation"]), reg], d, Stats())
    assert {k: h.out_features for k, h in reg.heads.items()} == {"translation": 2}
    with pytest.raises(ValueError, match=r"augself needs an augmenting regularizer in the list"):
        setup_all([AugSelf()], d, Stats())


def test_every_d_pass_goes_through_run_d(tmp_path):
    """AugSelf's clean pass and the input-gradient penalties used to call D directly, outside autocast."""
    cfg = compose_cfg(TINY + TINY_DCGAN + ["regularizer=[diffaugment,augself,r1]", "regularizer.r1.every=1",
                                           "train.steps=2"])
    trainer = build(cfg, tmp_path)
    inside, seen = [False], []
    run_d = trainer.run_d

    def counting_run_d(*args, **kwargs):
        inside[0] = True
        try:
            return run_d(*args, **kwargs)
        finally:
            inside[0] = False
    trainer.run_d = counting_run_d
    trainer.d.register_forward_pre_hook(lambda module, args: seen.append(inside[0]))
    trainer.fit()
    assert len(seen) >= 2 * (2 + 2 + 1) and all(seen)   # per step: real, fake, 2 clean passes, r1; then the G step


def test_apa_pseudo_reals_are_the_previous_g_output_with_the_reals_labels():
    """EndlessSora/DeceiveD training/loss.py: pseudo_data is the Gmain phase's output, detached; each real is
    replaced with probability p and keeps real_c. Not the D step's own fakes."""
    apa = APA(p_init=1.0)
    g_out, d_fakes, real = torch.full((6, 1, 2, 2), 0.5), -torch.ones(6, 1, 2, 2), torch.ones(6, 1, 2, 2)
    apa.update(StepContext(step=0, phase="g", d=None, stats=Stats(), run_d=None, fake=g_out.requires_grad_()))
    labels = torch.arange(6)
    ctx = StepContext(step=1, phase="d", d=None, stats=Stats(), run_d=None, real=real, y_real=labels,
                      fake=d_fakes, y_fake=torch.zeros(6, dtype=torch.long))
    mixed = apa.mix_real(real, ctx)
    assert torch.equal(mixed, g_out.detach()) and not mixed.requires_grad
    assert torch.equal(ctx.y_real, labels)


def test_apa_draws_fresh_noise_only_when_there_is_no_previous_output_and_p_is_positive():
    real = torch.ones(4, 1, 2, 2)
    calls = []

    def generate(n):
        calls.append(n)
        return torch.zeros(n, 1, 2, 2), None, None
    ctx = StepContext(step=0, phase="d", d=None, stats=Stats(), run_d=None, real=real, generate=generate)
    assert torch.equal(APA(p_init=0.0).mix_real(real, ctx), real) and calls == []
    assert torch.equal(APA(p_init=1.0).mix_real(real, ctx), torch.zeros(4, 1, 2, 2)) and calls == [4]


def test_in_training_no_pseudo_real_is_also_scored_as_fake_in_its_d_step(tmp_path):
    cfg = compose_cfg(TINY + TINY_DCGAN + ["regularizer=[apa]", "regularizer.apa.p_init=0.5", "train.steps=4"])
    trainer = build(cfg, tmp_path)
    apa, checked = trainer.regs[0], []
    mix_real = apa.mix_real

    def checking_mix_real(real, ctx):
        labels, previous = ctx.y_real.clone(), apa.pseudo
        mixed = mix_real(real, ctx)
        replaced = (mixed != real).flatten(1).any(1)
        same_as_d_fake = (mixed[:, None] == ctx.fake[None]).flatten(2).all(2).any(1)   # (B,)
        assert not same_as_d_fake.any() and torch.equal(ctx.y_real, labels)
        if previous is not None:
            assert torch.equal(mixed[replaced], previous[replaced])
        checked.append(int(replaced.sum()))
        return mixed
    apa.mix_real = checking_mix_real
    trainer.fit()
    assert len(checked) == 4 and sum(checked) > 0


def test_apa_p_rises_when_d_overfits_a_tiny_subset(tmp_path):
    summary, run_dir = run(tmp_path, ["loss=bce", "dataset.fraction=0.02", "regularizer=[apa]",
                                      "regularizer.apa.kimg=2", "train.steps=240", "train.log_every=40",
                                      "train.sample_every=1000", "train.ckpt_every=1000"])
    p = [json.loads(x).get("reg/apa/p") for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert p[0] >= 0 and p[-1] > 0.1 and summary["final"]["reg/apa/sign_real"] > 0.6


def test_apa_p_is_logged_and_survives_resume(tmp_path):
    over = ["regularizer=[apa]", "regularizer.apa.kimg=0.05", "regularizer.apa.interval=1",
            "train.log_every=2", "train.ckpt_every=2"]
    run(tmp_path / "a", ["train.steps=6", *over])
    run(tmp_path / "b", ["train.steps=4", *over])
    run(tmp_path / "b", ["train.steps=6", "resume=auto", *over])
    sa, sb = (torch.load(tmp_path / x / "checkpoints/last.pt", weights_only=True) for x in "ab")
    pa, pb = sa["regs"][0]["p"], sb["regs"][0]["p"]
    assert float(pa) > 0 and torch.equal(pa, pb)
    # the pseudo-reals (the previous G output) are checkpointed too, so the resumed run mixes the same images
    assert all(torch.equal(sa["g"][k], sb["g"][k]) for k in sa["g"])
    rows = [json.loads(x) for x in (tmp_path / "a/metrics.jsonl").read_text().splitlines()]
    assert all("reg/apa/p" in r for r in rows)


def test_lecam_penalises_reals_above_the_fake_ema():
    from ganlab.regularizers.lecam import LeCam
    reg = LeCam(weight=1.0, start=0, decay=0.0)
    d = lambda x, y=None: DOut(x.flatten(1).mean(1))   # noqa: E731  (a D whose logit is the mean pixel)
    ctx = ctx_for(d, torch.full((2, 1, 2, 2), 2.0), torch.full((2, 1, 2, 2), -1.0), {})
    # with decay 0 the EMAs equal this batch: relu(2 - (-1))^2 + relu(2 - (-1))^2 = 18
    assert reg.d_terms(ctx)["lecam"].item() == pytest.approx(18.0)


def test_lecam_copies_until_start_then_decays_and_penalises_only_after_it():
    """google/lecam-gan third_party/utils.py ema_losses (decay 0 while itr < start_itr) and train_fns.py
    (the penalty only while itr > start_itr; itr counts from 1, so itr = step + 1)."""
    from ganlab.regularizers.lecam import LeCam
    reg = LeCam(weight=1.0, decay=0.9, start=3)
    d = lambda x, y=None: DOut(x.flatten(1).mean(1))   # noqa: E731
    history = []
    for step, (r, f) in enumerate([(1.0, -1.0), (2.0, -2.0), (3.0, -3.0), (4.0, -4.0)]):
        ctx = ctx_for(d, torch.full((2, 1, 2, 2), r), torch.full((2, 1, 2, 2), f), {})
        ctx.step = step
        terms = reg.d_terms(ctx)
        history.append((round(reg.ema_real.item(), 4), round(reg.ema_fake.item(), 4), sorted(terms)))
    assert history[:2] == [(1.0, -1.0, []), (2.0, -2.0, [])]        # plain copies, no penalty
    assert history[2] == (2.1, -2.1, [])                            # itr 3: decay 0.9, still no penalty
    assert history[3] == (2.29, -2.29, ["lecam"])                   # itr 4 > start: penalised
    # relu(4 - (-2.29))^2 + relu(2.29 - (-4))^2
    assert terms["lecam"].item() == pytest.approx(2 * 6.29 ** 2, rel=1e-4)
