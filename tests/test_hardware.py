"""Hardware settings train every recipe: hardware.compile=true, input-gradient penalties included (they run
D eagerly: a compiled graph has no double backward), and bf16 autocast with regularizer heads."""
import pytest
import torch
from torch.nn.utils import parametrize

from conftest import compose_cfg, distinct_recipes, options, preset_on_digits, run
from ganlab.cli.build import model_pair
from ganlab.models.layers import SelfAttention
from ganlab.registry import MODELS
from ganlab.train.hardware import Hardware

# aot_eager traces through dynamo and aot_autograd, where the double-backward limit lives, without
# inductor's code generation (seconds, not a minute, per preset on 2 cores).
FAST_COMPILE = ["hardware.compile=true", "hardware.compile_backend=aot_eager"]


@pytest.mark.parametrize("option", distinct_recipes())
def test_every_distinct_recipe_trains_two_steps_compiled(tmp_path, option):
    """The presets that stand for a recipe (conftest.distinct_recipes); test_config trains the others eagerly."""
    summary, run_dir = run(tmp_path, preset_on_digits(option) + FAST_COMPILE, tiny_model=False)
    assert summary["status"] == "finished" and summary["step"] == 2
    assert (run_dir / "checkpoints" / "last.pt").is_file()


def test_self_attention_with_spectral_norm_trains_compiled(tmp_path):
    """The presets that hold self-attention differ from the compiled presets above in sizes and in this. Every
    model builds it from models/layers.SelfAttention: attention_wgan_gp_digits compiles it without spectral norm,
    and BigGAN-deep, at its smallest, with it (as BigGAN and the U-Net GAN hold it) in G and D."""
    attention = {"g_attn": 8, "d_attn": 8}
    g, d = model_pair("biggan_deep", image_size=16, channels=1, num_classes=10, **{**MODELS.info("biggan_deep")["tiny"], **attention})
    assert all(any(isinstance(m, SelfAttention) and parametrize.is_parametrized(m.theta) for m in net.modules())
               for net in (g, d))
    summary, _ = run(tmp_path, ["model=biggan_deep", *[f"model.{k}={v}" for k, v in attention.items()], *FAST_COMPILE])
    assert summary["status"] == "finished" and summary["step"] == 2


def regularizers_no_recipe_covers() -> list[str]:
    covered = {r for o in distinct_recipes() for r in compose_cfg([f"+experiment={o}"]).get("regularizer") or {}}
    return sorted(set(options("regularizer")) - covered - {"r1"})   # r1: its own test below, a penalty every step


@pytest.mark.parametrize("name", regularizers_no_recipe_covers())
def test_every_regularizer_that_no_recipe_holds_trains_compiled(tmp_path, name):
    summary, _ = run(tmp_path, [f"regularizer=[diffaugment,{name}]", *FAST_COMPILE])
    assert summary["status"] == "finished" and summary["step"] == 2


def test_r1_trains_compiled(tmp_path):
    summary, _ = run(tmp_path, ["regularizer=[diffaugment,r1]", "regularizer.r1.every=1", *FAST_COMPILE])
    assert summary["status"] == "finished"
    assert summary["final"]["loss/d/r1"] > 0


def test_the_gradient_penalty_trains_under_inductor(tmp_path):
    """The default backend, as a user runs it: WGAN-GP's penalty backpropagates through D's input gradient."""
    summary, _ = run(tmp_path, ["+experiment=wgan_gp_digits", "train.steps=2", "hardware.compile=true"], tiny_model=True)
    assert summary["status"] == "finished"
    assert summary["final"]["loss/d/gp"] > 0


def test_an_unknown_compile_backend_is_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match="unknown hardware.compile_backend 'inductr'; available: .*inductor"):
        run(tmp_path, ["hardware.compile=true", "hardware.compile_backend=inductr"])
    assert not (tmp_path / "checkpoints").exists()


def test_spectral_norm_backpropagates_through_two_compiled_passes_under_inductor():
    """BigGAN's D (spectral norm on a 1x1 skip over the image's 3 channels) runs on reals and fakes before one
    backward, as a D step does; inductor used to save the small SN vector that the second pass updates."""
    _, d = model_pair("biggan", image_size=16, channels=3, num_classes=10, ch=4)
    d_fn = Hardware.resolve("cpu", compile=True).compiled(d)
    x, y = torch.randn(4, 3, 16, 16), torch.randint(10, (4,))
    for _ in range(2):
        (d_fn(x, y).logits.mean() - d_fn(-x, y).logits.mean()).backward()
    assert all(p.grad is not None for p in d.parameters())


@pytest.mark.parametrize("option", ["biggan_augself_apa_digits", "unet_cutmix_digits", "attention_wgan_gp_digits"])
def test_bf16_autocast_trains_the_regularizer_heads(tmp_path, option):
    """D's features leave run_d in fp32, like its logits: AugSelf's heads and the losses run outside autocast."""
    summary, _ = run(tmp_path, preset_on_digits(option) + ["hardware.precision=bf16", "model.ch=4"], tiny_model=False)
    assert summary["status"] == "finished" and summary["step"] == 2
