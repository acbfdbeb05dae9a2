"""Attention WGAN-GP: attention U-Net generator, attention critic, the recipe (its diversity loss: test_diversity.py)."""
import pytest
import torch
import torch.nn as nn

from conftest import run
from ganlab.cli.build import model_pair
from ganlab.models.attention_unet import AttentionGate, AttentionUNetGenerator
from ganlab.models.layers import SelfAttention


@pytest.mark.parametrize("size,attn", [(16, 8), (32, 16), (64, 32), (32, 0)])
def test_attention_unet_generator_makes_images(size, attn):
    g = AttentionUNetGenerator(size, 3, num_classes=10, ch=8, attn=attn)
    x = g(torch.randn(4, g.z_dim), torch.randint(10, (4,)))
    assert x.shape == (4, 3, size, size) and x.abs().max() <= 1
    assert (g.attn is not None) == bool(attn)


def test_attention_unet_rejects_sizes_and_attention_it_cannot_make():
    with pytest.raises(ValueError, match="image_size=24"):
        AttentionUNetGenerator(24)
    with pytest.raises(ValueError, match="g_attn=4 is not a decoder resolution"):
        AttentionUNetGenerator(32, attn=4)


def test_attention_gates_weight_the_skips_between_zero_and_one():
    gate = AttentionGate(4, 4)
    skip, h = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    out = gate(skip, h)
    ratio = out / skip
    assert ratio.min() >= 0 and ratio.max() <= 1
    assert not torch.allclose(ratio[..., :1, :1], ratio[..., -1:, -1:])   # per-pixel, not one scalar


def test_closing_the_gates_changes_the_image():
    torch.manual_seed(0)
    g = AttentionUNetGenerator(16, 1, ch=8, attn=0).eval()
    z = torch.randn(2, g.z_dim)
    before = g(z)
    for gate in g.gates:
        nn.init.zeros_(gate.psi.weight)
        nn.init.constant_(gate.psi.bias, -50.0)   # sigmoid ~ 0: the skips are cut
    assert not torch.allclose(before, g(z), atol=1e-4)


def test_the_attention_critic_has_self_attention_and_no_normalisation():
    _, d = model_pair("attention_wgan", 32, 3, ch=8, d_ch=8)
    kinds = {type(m).__name__ for m in d.modules()}
    assert "SelfAttention" in kinds and not any("Norm" in k for k in kinds)
    assert not any("parametrizations" in name for name, _ in d.named_parameters())   # no spectral norm
    assert any(isinstance(m, SelfAttention) for m in d.modules())


def test_the_attention_wgan_gp_recipe_trains(tmp_path):
    summary, _ = run(tmp_path, ["+experiment=attention_wgan_gp_digits", "train.steps=2", "train.n_critic=2",
                                "eval.every=0"], tiny_model=False)
    assert summary["status"] == "finished"
    assert summary["final"]["loss/g/feature_diversity"] > 0 and summary["final"]["loss/d/gp"] > 0
