"""U-Net GAN: a discriminator with global and per-pixel logits, its BCE, the self-modulated G, the recipe
(CutMix itself: test_cutmix.py)."""
import pytest
import torch
import torch.nn as nn

from conftest import run
from ganlab.cli.build import model_pair
from ganlab.losses import BCELoss
from ganlab.models.base import DOut
from ganlab.models.layers import has_spectral_norm
from ganlab.models.unet import UNetDiscriminator


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
