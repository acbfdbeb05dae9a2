"""CutMix for the U-Net D (Schoenfeld et al. 2020): box masks, per-pixel targets, the consistency loss, its two modes."""
import pytest
import torch
import torch.nn as nn

from ganlab.models.base import DOut
from ganlab.regularizers.base import StepContext, setup_all
from ganlab.regularizers.cutmix import CutMix, cutmix_mask
from ganlab.regularizers.diffaugment import DiffAugment
from ganlab.track.stats import Stats


def solid_rectangle(region: torch.Tensor) -> bool:
    if not region.any():
        return True
    rows, cols = region.any(1).nonzero()[:, 0], region.any(0).nonzero()[:, 0]
    return bool(region[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all())


def test_cutmix_masks_are_boxes_inverted_half_the_time():
    masks = cutmix_mask(2000, 16, "cpu", torch.Generator().manual_seed(0))[:, 0]
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    plain = inverted = 0
    for m in masks:
        fake_box, real_box = solid_rectangle(m == 0), solid_rectangle(m == 1)
        assert fake_box or real_box          # one of the two regions is the box
        plain += fake_box and not real_box   # a fake box pasted into the real image
        inverted += real_box and not fake_box
    assert plain > 500 and inverted > 500 and abs(plain - inverted) < 0.2 * (plain + inverted)


class PointwiseD(nn.Module):
    """D_dec(x) = 10 * x_0 per pixel (a purely local map); D_enc = the image mean."""

    def __init__(self, leak: float = 0.0):
        super().__init__()
        self.leak = leak

    def forward(self, x, y=None):
        pixel = 10 * x[:, :1] + self.leak * x.mean((1, 2, 3), keepdim=True)
        return DOut(logits=x.mean((1, 2, 3)), pixel_logits=pixel)


def context(d, regs=()):
    real, fake = torch.ones(8, 3, 16, 16), -torch.ones(8, 3, 16, 16)

    def run_d(x, y, side, ctx, augment=True):
        params = {}
        for r in regs:
            x, p = r.augment(x)
            params.update(p)
        ctx.aug[side] = params
        return d(x, y)
    ctx = StepContext(step=10, phase="d", d=d, stats=Stats(), run_d=run_d, real=real, fake=fake)
    ctx.out_real, ctx.out_fake = d(real), d(fake)
    return ctx


def test_cutmix_targets_are_the_mask_per_pixel_and_fake_globally():
    terms = CutMix(mode="additive", warmup_epochs=0, consistency=0.0).d_terms(context(PointwiseD()))
    # pixel logits are +10 exactly where the mask says real, -10 where fake: the per-pixel BCE is ~0,
    # so what is left is the global "fake" term softplus(mean image) of the mixed images
    assert 0.3 < terms["cutmix"] < 1.4 and "cutmix_consistency" not in terms


def test_consistency_is_zero_for_a_local_decoder_and_positive_otherwise():
    torch.manual_seed(0)
    local = CutMix(mode="additive", warmup_epochs=0).d_terms(context(PointwiseD()))
    leaky = CutMix(mode="additive", warmup_epochs=0).d_terms(context(PointwiseD(leak=5.0)))
    assert local["cutmix_consistency"] < 1e-10 and leaky["cutmix_consistency"] > 0.1


def test_additive_mode_mixes_every_step_and_ramps_only_the_encoder_and_consistency_terms():
    """boschresearch/unetgan train_fns.py with training_scripts/train_celeba.sh (no full-batch mixup): the mix
    terms join every D step; min(1, epoch / warmup_epochs) scales the encoder-mix and consistency terms only."""
    reg = CutMix(mode="additive", warmup_epochs=20)

    def terms(epoch):
        torch.manual_seed(0)                           # the same masks at every epoch
        ctx = context(PointwiseD(leak=5.0))
        ctx.epoch = epoch
        return reg.d_terms(ctx), ctx
    (zero, _), (half, _), (full, ctx) = terms(0.0), terms(10.0), terms(40.0)
    assert ctx.adv_weight == 1.0                       # the normal real/fake terms stay
    pixel, encoder = zero["cutmix"], full["cutmix"] - zero["cutmix"]
    assert zero["cutmix_consistency"] == 0 and encoder > 0.1 and full["cutmix_consistency"] > 0.1
    assert half["cutmix"].item() == pytest.approx((pixel + 0.5 * encoder).item(), rel=1e-5)
    assert half["cutmix_consistency"].item() == pytest.approx(0.5 * full["cutmix_consistency"].item(), rel=1e-5)


def test_full_batch_mode_makes_some_d_steps_only_mix_and_consistency():
    """boschresearch/unetgan train_fns.py with training_scripts/train_ffhq.sh (--full_batch_mixup --slow_mixup):
    with probability 0.5 min(1, epoch / warmup_epochs) a D step is a mixing step whose loss is only the
    mix terms and the consistency; other D steps are normal ones."""
    reg = CutMix(mode="full_batch", prob=0.5, warmup_epochs=100)
    assert [reg.mix_probability(e) for e in (0, 50, 100, 1000)] == [0.0, 0.25, 0.5, 0.5]
    torch.manual_seed(0)
    mixed = 0
    for _ in range(300):
        ctx = context(PointwiseD())
        ctx.epoch = 200.0
        out = reg.d_terms(ctx)
        mixed += bool(out)
        assert (ctx.adv_weight, set(out)) in [(0.0, {"cutmix", "cutmix_consistency"}), (1.0, set())]
    assert 110 < mixed < 190
    ctx = context(PointwiseD())
    assert reg.d_terms(ctx) == {} and ctx.adv_weight == 1.0    # epoch 0: never


def test_cutmix_refuses_a_discriminator_without_pixel_logits_and_geometric_augmentation_at_build():
    ctx = context(PointwiseD())
    ctx.out_real = DOut(logits=torch.zeros(8))
    with pytest.raises(ValueError, match="per-pixel outputs \\(model=unet_gan\\)"):
        CutMix(mode="additive").d_terms(ctx)
    with pytest.raises(ValueError, match="cannot be combined with the geometric augmentation \\['translation'\\]"):
        setup_all([DiffAugment(policy=["color", "translation"]), CutMix()], PointwiseD(), Stats())
    setup_all([DiffAugment(policy=["color"]), CutMix()], PointwiseD(), Stats())    # colour moves no pixel
