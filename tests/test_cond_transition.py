"""Transitional conditioning: unconditional until `start`, the class faded in by `end`, in G, its EMA copy and D."""
import copy
import json

import pytest
import torch

from conftest import run
from ganlab.cli.build import model_pair
from ganlab.registry import MODELS
from ganlab.regularizers.base import StepContext, setup_all
from ganlab.regularizers.cond_transition import CondTransition
from ganlab.track.stats import Stats


def attached(model="biggan"):
    torch.manual_seed(0)   # a fresh G in eval mode saturates its tanh; some draws give two classes equal images
    g, d = model_pair(model, image_size=16, channels=1, num_classes=10, conditional=True, **MODELS.info(model)["tiny"])
    reg = CondTransition(start=2, end=6)
    setup_all([reg], d, Stats(), g)
    return reg, g.eval(), d.eval()


def at(reg, step):
    reg.update(StepContext(step=step - 1, phase="d", d=None, stats=Stats(), run_d=None))


@pytest.mark.parametrize("model", ["biggan", "dcgan", "biggan_deep", "unet_gan", "attention_wgan"])
def test_the_class_is_off_before_start_and_fully_on_after_end(model):
    reg, g, d = attached(model)
    plain_g, plain_d = copy.deepcopy(g), copy.deepcopy(d)
    z, x = torch.randn(2, g.z_dim), torch.randn(2, 1, 16, 16)
    a, b = torch.tensor([0, 0]), torch.tensor([7, 7])
    at(reg, 2)                                       # lambda 0: G and D ignore the class
    assert reg.lam.item() == 0.0
    assert torch.allclose(g(z, a), g(z, b)) and torch.allclose(d(x, a).logits, d(x, b).logits)
    at(reg, 4)
    assert reg.lam.item() == pytest.approx(0.5)
    assert not torch.allclose(g(z, a), g(z, b))
    at(reg, 9)                                       # after end: the plain conditional networks
    assert reg.lam.item() == 1.0
    for plain in (plain_g, plain_d):                 # the same weights without the hooks
        for m in plain.modules():
            m._forward_hooks.clear()
    assert torch.allclose(g(z, b), plain_g(z, b)) and torch.allclose(d(x, b).logits, plain_d(x, b).logits)


def test_the_ema_copy_follows_the_same_schedule():
    reg, g, _ = attached()
    ema = copy.deepcopy(g)                           # what train/ema.py does after the build
    z = torch.randn(2, g.z_dim)
    at(reg, 0)
    assert torch.allclose(ema(z, torch.tensor([0, 0])), ema(z, torch.tensor([7, 7])))
    at(reg, 9)
    assert not torch.allclose(ema(z, torch.tensor([0, 0])), ema(z, torch.tensor([7, 7])))


def test_an_unconditional_model_is_refused():
    g, d = model_pair("dcgan", image_size=16, channels=1, num_classes=0, g_width=8, d_width=8)
    with pytest.raises(ValueError, match="cond_transition: D has no class embedding"):
        setup_all([CondTransition(start=0, end=10)], d, Stats(), g)


def test_it_trains_and_logs_lambda(tmp_path):
    summary, run_dir = run(tmp_path, ["regularizer=[cond_transition]", "regularizer.cond_transition.start=1",
                                      "regularizer.cond_transition.end=3", "train.steps=4"])
    lam = [r["reg/cond_transition/lambda"] for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())]
    assert summary["status"] == "finished" and lam == sorted(lam) and lam[-1] == 1.0 and lam[0] < 1.0

