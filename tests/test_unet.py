"""U-Net GAN: a discriminator with global and per-pixel logits, CutMix targets and its consistency loss."""
import pytest
import torch
import torch.nn as nn

from conftest import run
from ganlab.cli.build import model_pair
from ganlab.losses import BCELoss
from ganlab.models.base import DOut
from ganlab.models.layers import has_spectral_norm
from ganlab.models.unet import UNetDiscriminator
from ganlab.regularizers.base import StepContext, setup_all
from ganlab.regularizers.cutmix import CutMix, cutmix_mask
from ganlab.regularizers.diffaugment import DiffAugment
from ganlab.track.stats import Stats


@pytest.mark.parametrize("size", [16, 32, 64])
def test_unet_discriminator_gives_a_global_and_a_per_pixel_logit(size):
    g, d = model_pair("unet_gan", size, 3, 10, conditional=True, ch=8, d_attn=size // 4)
    z, y = torch.randn(4, g.z_dim), torch.randint(10, (4,))
    out = d(g(z, y), y)
    assert out.logits.shape == (4,) and out.pixel_logits.shape == (4, 1, size, size)
    assert out.features.shape == (4, d.features_dim)


def test_conditional_unet_projects_the_class_per_pixel():
    d = UNetDiscriminator(16, 3, num_classes=5, ch=8)
    x = torch.randn(2, 3, 16, 16)
    a, b = d(x, torch.tensor([0, 0])), d(x, torch.tensor([3, 3]))
    assert not torch.allclose(a.pixel_logits, b.pixel_logits) and not torch.allclose(a.logits, b.logits)


def test_unet_rejects_sizes_and_attention_it_cannot_make():
    with pytest.raises(ValueError, match="image_size=48"):
        UNetDiscriminator(48)
    with pytest.raises(ValueError, match="d_attn=5 is not an encoder resolution"):
        UNetDiscriminator(32, attn=5)


def test_the_pixel_map_sees_local_detail_through_the_skips():
    """A change in one corner moves the pixel logits near it more than those in the far corner."""
    torch.manual_seed(0)
    d = UNetDiscriminator(32, 3, ch=8).eval()
    x = torch.randn(1, 3, 32, 32)
    x2 = x.clone()
    x2[..., :4, :4] += 3.0
    delta = (d(x2).pixel_logits - d(x).pixel_logits).abs()[0, 0]
    assert delta[:4, :4].mean() > 3 * delta[-4:, -4:].mean()


def test_bce_on_a_unet_averages_the_global_and_the_pixel_terms():
    out = DOut(logits=torch.zeros(2), pixel_logits=torch.full((2, 1, 4, 4), 3.0))
    loss, _ = BCELoss().g(out)
    expected = 0.5 * (torch.nn.functional.softplus(torch.tensor(0.0)) + torch.nn.functional.softplus(torch.tensor(-3.0)))
    assert torch.isclose(loss, expected)


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


def test_unet_discriminator_matches_the_official_one():
    """boschresearch/unetgan BigGAN.py Unet_Discriminator at 128 px, ch 64, unconditional (D_unet_arch[128]):
    wide DBlocks straight from the image, the first without pre-activation, a plain 1x1 output conv. The
    official model has 31,481,667 parameters, 65 of them in a `linear` layer its forward never uses."""
    d = UNetDiscriminator(128, 3, 0, ch=64, init="normal")
    assert sum(p.numel() for p in d.parameters()) == 31_481_667 - 65
    assert [b.preactivation for b in d.down] == [False, True, True, True, True]
    assert type(d.pixel_out) is nn.Conv2d and not has_spectral_norm(d.pixel_out)


def test_the_unet_cutmix_recipe_trains(tmp_path):
    summary, run_dir = run(tmp_path, ["+experiment=unet_cutmix_digits", "model.ch=8", "train.steps=3",
                                      "train.n_critic=2", "regularizer.cutmix.warmup_epochs=0",
                                      "regularizer.cutmix.prob=1.0", "eval.every=0"], tiny_model=False)
    assert summary["status"] == "finished"
    row = summary["final"]
    # full_batch at probability 1: every D step is a mixing step, so D's loss is exactly the mix terms
    assert row["loss/d/cutmix"] > 0 and row["loss/d/bce"] > 0
    assert row["loss/d/total"] == pytest.approx(row["loss/d/cutmix"] + row["loss/d/cutmix_consistency"], rel=1e-5)


def test_the_unconditional_unet_generator_is_self_modulated_by_z():
    """boschresearch/unetgan BigGAN.py Generator with --unconditional: BigGAN's (non-deep) blocks whose BNs take
    gain 1 + MLP(z) and bias MLP(z) from the whole z (layers.py ccbn, self_modulation)."""
    g, _ = model_pair("unet_gan", 16, 1, ch=4, z_dim=16)
    assert type(g.blocks[0].bn1).__name__ == "SelfModulatedBatchNorm2d"
    z = torch.randn(4, 16)
    x = g(z)
    assert x.shape == (4, 1, 16, 16)
    g.blocks[0].bn1.gain[2].weight.data.zero_()     # z's route into the first BN, cut
    g.blocks[0].bn1.bias[2].weight.data.zero_()
    assert not torch.allclose(g(z), x)
