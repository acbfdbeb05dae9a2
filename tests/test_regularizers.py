"""DiffAugment, AugSelf, APA and LeCam, each on its own and inside the real trainer."""
import json

import pytest
import torch

from conftest import run
from ganlab.models.base import DOut
from ganlab.registry import MODELS
from ganlab.regularizers.apa import APA
from ganlab.regularizers.augself import AugSelf
from ganlab.regularizers.base import StepContext
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
    ctx = StepContext(step=0, phase="d", d=d, stats=stats, run_d=None, real=real, y_real=y, fake=fake, y_fake=y)
    ctx.aug = aug
    ctx.out_real, ctx.out_fake = d(real, y), d(fake, y)
    return ctx


def test_augself_heads_receive_gradients_and_join_d_optimizer(tmp_path):
    _, d = MODELS.build("biggan_deep", image_size=32, channels=1, ch=4, depth=1)
    reg = AugSelf(features_dim=d.features_dim)
    aug = DiffAugment(policy=["color", "translation", "cutout"])
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


def test_augself_without_augmentation_says_what_is_missing():
    _, d = MODELS.build("biggan_deep", image_size=32, channels=1, ch=4, depth=1)
    ctx = ctx_for(d, torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32), {})
    with pytest.raises(ValueError, match=r"augself needs an augmenting regularizer before it"):
        AugSelf(features_dim=d.features_dim).d_terms(ctx)


def drive_apa(sign: float, iterations: int = 40, batch: int = 8) -> float:
    apa = APA(target=0.6, kimg=0.1, interval=4)
    stats = Stats()
    apa.attach(stats)
    for step in range(iterations):
        logits = torch.full((batch,), sign) * torch.tensor([1.0] * 7 + [-1.0])   # 7 of 8 share the sign
        stats.report("d/sign_real", logits.sign())
        apa.update(StepContext(step=step, phase="g", d=None, stats=stats, run_d=None))
    return float(apa.p)


def test_apa_p_rises_when_d_is_confident_on_reals_and_falls_otherwise():
    assert drive_apa(+1.0) == pytest.approx(10 * 4 * 8 / 100, rel=1e-6)   # 10 adjustments of 32 images / 100
    assert drive_apa(-1.0) == 0.0                                         # clamped at 0
    apa = APA(p_init=0.5, kimg=1.0)
    stats = Stats()
    apa.attach(stats)
    for step in range(8):
        stats.report("d/sign_real", -torch.ones(8))
        apa.update(StepContext(step=step, phase="g", d=None, stats=stats, run_d=None))
    assert float(apa.p) == pytest.approx(0.5 - 2 * 32 / 1000)


def test_apa_replaces_reals_with_fakes_at_rate_p():
    apa = APA(p_init=0.5)
    real, fake = torch.zeros(4000, 1, 2, 2), torch.ones(4000, 1, 2, 2)
    ctx = StepContext(step=0, phase="d", d=None, stats=Stats(), run_d=None, fake=fake)
    mixed = apa.mix_real(real, ctx)
    assert mixed.mean().item() == pytest.approx(0.5, abs=0.03)


def test_apa_p_is_logged_and_survives_resume(tmp_path):
    over = ["regularizer=[apa]", "regularizer.apa.kimg=0.05", "regularizer.apa.interval=1",
            "train.log_every=2", "train.ckpt_every=2"]
    run(tmp_path / "a", ["train.steps=6", *over])
    run(tmp_path / "b", ["train.steps=4", *over])
    run(tmp_path / "b", ["train.steps=6", "resume=auto", *over])
    pa, pb = (torch.load(tmp_path / x / "checkpoints/last.pt", weights_only=True)["regs"][0]["p"] for x in "ab")
    assert float(pa) > 0 and torch.equal(pa, pb)
    rows = [json.loads(x) for x in (tmp_path / "a/metrics.jsonl").read_text().splitlines()]
    assert all("reg/apa/p" in r for r in rows)


def test_lecam_penalises_reals_above_the_fake_ema():
    from ganlab.regularizers.lecam import LeCam
    reg = LeCam(weight=1.0, start=0, decay=0.0)
    d = lambda x, y=None: DOut(x.flatten(1).mean(1))   # noqa: E731  (a D whose logit is the mean pixel)
    ctx = ctx_for(d, torch.full((2, 1, 2, 2), 2.0), torch.full((2, 1, 2, 2), -1.0), {})
    # with decay 0 the EMAs equal this batch: relu(2 - (-1))^2 + relu(2 - (-1))^2 = 18
    assert reg.d_terms(ctx)["lecam"].item() == pytest.approx(18.0)
