"""ADA (Karras et al. 2020): the official 'bgc' ops against hand-computed cases, the parameters it declares,
and the p controller it shares with APA, in the trainer."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

from conftest import run
from ganlab.regularizers.ada import ADA, BRIGHTNESS_STD, XINT_MAX
from ganlab.regularizers.augself import AugSelf
from ganlab.regularizers.base import setup_all
from ganlab.regularizers.cutmix import CutMix
from ganlab.track.stats import Stats


def images(n=32, c=3, size=16):
    return torch.randn(n, c, size, size, generator=torch.Generator().manual_seed(0))


def apply(ops, x, seed=0):
    torch.manual_seed(seed)
    return ADA(pipeline=ops, p_init=1.0).augment(x)


def test_a_flip_mirrors_the_image_exactly():
    x = images()
    y, params = apply(["xflip"], x)
    flipped = params["ada_geometric"][:, 0] == 1
    assert 0 < flipped.sum() < len(x)                                    # both cases drawn
    assert torch.allclose(y[flipped], x[flipped].flip(3), atol=1e-5) and torch.allclose(y[~flipped], x[~flipped], atol=1e-5)


def test_a_quarter_turn_is_rot90():
    x = images()
    y, params = apply(["rotate90"], x)
    quarters = (params["ada_geometric"][:, 1] * 3).round().long()
    assert set(quarters.tolist()) == {0, 1, 2, 3}
    for a, b, k in zip(x, y, quarters.tolist()):
        assert torch.allclose(b, torch.rot90(a, k, (1, 2)), atol=1e-5)


def test_an_integer_translation_shifts_with_reflection():
    x = images(size=16)
    y, params = apply(["xint"], x)
    t = ((params["ada_geometric"][:, 2:4] - 0.5) * 2 * XINT_MAX * 16).round().long()   # pixels (x, y)
    assert t.abs().max() == 2 and (t != 0).any()
    padded = F.pad(x, (2, 2, 2, 2), mode="reflect")
    for i, (tx, ty) in enumerate(t.tolist()):                                # content moves by +t
        want = padded[i, :, 2 - ty:2 - ty + 16, 2 - tx:2 - tx + 16]
        assert torch.allclose(y[i], want, atol=1e-5)


def test_brightness_adds_one_offset_to_every_channel():
    x = images()
    y, params = apply(["brightness"], x)
    q = params["ada_color"][:, 0].double()
    b = BRIGHTNESS_STD * math.sqrt(2) * torch.erfinv(2 * q - 1)              # back from the [0, 1] encoding
    assert torch.allclose((y - x).double(), b.view(-1, 1, 1, 1).expand_as(x), atol=1e-4) and b.abs().max() > 0.05


def test_p_zero_is_the_identity_and_p_one_is_differentiable():
    x = images(c=1).requires_grad_()
    y, params = ADA(p_init=0.0).augment(x)
    assert torch.allclose(y, x, atol=1e-5)
    assert set(params) == {"ada_geometric", "ada_color"} and params["ada_geometric"].shape == (32, 10)
    assert ((params["ada_geometric"] >= 0) & (params["ada_geometric"] <= 1)).all()
    y, _ = ADA(p_init=1.0).augment(x)
    y.square().sum().backward()
    assert x.grad.abs().sum() > 0 and not torch.allclose(y, x)


def test_augself_regresses_its_parameters_and_cutmix_refuses_its_geometry():
    from ganlab.cli.build import model_pair
    _, d = model_pair("biggan", image_size=16, channels=3, num_classes=0, ch=4)
    ada, augself = ADA(), AugSelf()
    setup_all([ada, augself], d, Stats())
    assert {k: h.out_features for k, h in augself.heads.items()} == {"ada_geometric": 10, "ada_color": 5}
    with pytest.raises(ValueError, match="cannot be combined with the geometric augmentation"):
        setup_all([ADA(), CutMix()], d, Stats())
    with pytest.raises(ValueError, match="unknown regularizer.ada.pipeline"):
        ADA(pipeline="bgcfnc")


def test_p_follows_the_sign_of_d_on_reals_and_is_checkpointed(tmp_path):
    run(tmp_path, ["regularizer=[ada]", "regularizer.ada.kimg=0.01", "regularizer.ada.interval=1",
                   "regularizer.ada.target=-1.5", "train.steps=3"])   # sign D(real) >= -1 > target: p rises
    p = [json.loads(x)["reg/ada/p"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines() if "reg/ada/p" in x]
    assert p == pytest.approx([0.8, 1.6, 2.4])    # + 8 reals / (0.01 kimg * 1000) after every iteration
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)
    assert state["regs"][0]["p"].item() == pytest.approx(p[-1])
