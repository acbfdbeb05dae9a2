"""Fine-tuning: init_from loads G, D and EMA weights; FreezeD keeps D's first blocks fixed."""
import pytest
import torch

from conftest import run
from ganlab.cli.build import model_pair
from ganlab.train import checkpoint as ckpt
from ganlab.train.finetune import frozen_parameters, init_from


def test_init_from_loads_g_d_and_ema(tmp_path):
    run(tmp_path / "src", ["train.steps=2", "train.ema.start=0"])
    state = ckpt.load(tmp_path / "src")
    g, d = model_pair("dcgan", image_size=16, channels=1, num_classes=10, conditional=True, g_width=8, d_width=8)
    ema, _ = model_pair("dcgan", image_size=16, channels=1, num_classes=10, conditional=True, g_width=8, d_width=8)
    fresh = init_from(tmp_path / "src", g, d, ema)
    assert fresh == {"g": [], "d": [], "ema": []}
    for module, part in ((g, "g"), (d, "d"), (ema, "ema")):
        for k, v in module.state_dict().items():
            assert torch.equal(v, state[part][k]), f"{part}.{k}"
    assert not torch.equal(state["g"]["net.0.weight"], state["ema"]["net.0.weight"])   # EMA is its own copy


def test_init_from_keeps_fresh_tensors_of_another_shape_and_names_them(tmp_path):
    run(tmp_path / "src", ["train.steps=1"])
    g, d = model_pair("dcgan", image_size=16, channels=1, num_classes=0, g_width=8, d_width=8)   # unconditional
    fresh = init_from(tmp_path / "src", g, d, None)
    assert fresh == {"g": ["net.0.weight"], "d": []}     # z only: the first layer has fewer input channels
    with pytest.raises(FileNotFoundError, match="init_from=.*nowhere"):
        init_from(tmp_path / "nowhere", g, d, None)


def test_freeze_d_keeps_the_first_blocks_of_a_fine_tuned_run(tmp_path):
    run(tmp_path / "src", ["train.steps=2"])
    source = ckpt.load(tmp_path / "src")
    run(tmp_path / "dst", ["train.steps=3", f"init_from={tmp_path / 'src'}", "train.freeze_d=1"])
    after = ckpt.load(tmp_path / "dst")
    assert after["step"] == 3                                           # a new run: its own step count
    assert torch.equal(after["d"]["net.0.weight"], source["d"]["net.0.weight"])     # block 1: frozen
    assert torch.equal(after["d"]["net.0.bias"], source["d"]["net.0.bias"])
    assert not torch.equal(after["d"]["net.2.weight"], source["d"]["net.2.weight"])  # block 2 trains
    assert not torch.equal(after["g"]["net.0.weight"], source["g"]["net.0.weight"])
    n_d = len(after["opt_d"]["param_groups"][0]["params"])
    assert n_d == len([k for k in source["d"] if "running" not in k and "num_batches" not in k]) - 2


def test_freeze_d_beyond_the_blocks_names_the_choices():
    _, d = model_pair("dcgan", image_size=16, channels=1, g_width=8, d_width=8)
    with pytest.raises(ValueError, match=r"train.freeze_d=3: this discriminator has 2 blocks; choose 0..2"):
        frozen_parameters(d, 3)
    assert all(not p.requires_grad for p in frozen_parameters(d, 2))
