"""ganlab-import: official checkpoints ported to ganlab's models give the official outputs.

Each fixture (tests/fixtures/import/<source>_<model>.pt, numbers only) holds an official G and D state dict
at a small size, made with the official code and random weights, the inputs, and the official outputs in eval
mode, in train mode (one step: BatchNorm statistics and spectral-norm vectors update), and in eval mode after
that step. No official code is needed here. A fixture may hold only a G or only a D: unetgan's D is at 128 px
(the smallest its D_unet_arch has) and its G at 32 px, for which the fixture maker gave unetgan's G_arch
BigGAN-PyTorch's 32 px entry (its Generator code is the same at every size; 128 and 256 px were compared the same
way when the importer was written).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganlab.cli import import_, sample
from ganlab.cli.build import model_pair
from ganlab.cli.runs import load_models
from ganlab.importers import SOURCES
from ganlab.importers.common import FormatError, convert, power_sigma, sn_buffers
from ganlab.train.finetune import init_from

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "import").glob("*.pt"))
CLOSE = dict(rtol=1e-5, atol=5e-5)   # float32 round-off; a wrong layer differs by 1e-2 or more


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def ported(fx: dict):
    """ganlab's G and D (fixture settings) holding the fixture's official weights (None where it has none)."""
    s = fx["settings"]
    module = SOURCES[s["source"]]
    arch = module.ARCHS[s["model"]]
    g, _ = model_pair(s["model"], s["image_size"], 3, s["num_classes"], **s["overrides"])
    _, d = model_pair(s["model"], s.get("d_image_size", s["image_size"]), 3, s["num_classes"], **s["overrides"])
    for part, net in (("g", g), ("d", d)):
        if part in fx:
            state = fx[part][module.READ_KEY] if module.READ_KEY else fx[part]
            net.load_state_dict(convert(arch, net, state, part.upper(), f"{part.upper()}.pth"))
    return (g if "g" in fx else None), (d if "d" in fx else None)


def official_eval_rule(model: torch.nn.Module) -> None:
    """Give every spectral norm the eval-mode sigma of BigGAN-PyTorch's layers.SN for the state it is in: one
    power iteration from its u, which is U V^T _v for torch's vectors after a training step."""
    for m in model.modules():
        if hasattr(m, "parametrizations"):
            w, sn = m.parametrizations.weight.original.detach(), m.parametrizations.weight[0]
            big_u, _, vh = torch.linalg.svd(w.reshape(len(w), -1).double(), full_matrices=False)
            u = (big_u @ (vh @ sn._v.double())).float()
            sn._u, sn._v = sn_buffers(w, u, power_sigma(w, u))


def outputs(net, call, official_eval: bool) -> dict:
    """Outputs in eval mode, train mode (one step), then eval mode again (see official_eval_rule)."""
    out = {}
    with torch.no_grad():
        out["eval"] = call(net.eval())
        out["train"] = call(net.train())
        if official_eval:
            official_eval_rule(net)
        out["eval_after_train"] = call(net.eval())
    return out


def d_call(fx: dict):
    s, i = fx["settings"], fx["inputs"]
    # D reads stored uint8 images, or the official G's eval-mode images
    x = i["x_u8"].float() / 127.5 - 1 if "x_u8" in i else fx["g_out"]["eval"]
    if "d_image_size" in s:
        x = F.interpolate(x, scale_factor=s["d_image_size"] // s["image_size"])
    y = i["y_d"] if s["num_classes"] else None

    def call(d):
        o = d(x, y)
        return {"logits": o.logits, "pixel_logits": o.pixel_logits}
    return call


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_ported_networks_give_the_official_outputs(path):
    fx = load(path)
    s, i = fx["settings"], fx["inputs"]
    g, d = ported(fx)
    rule = s["sn_eval"] == "power_iteration"
    got = outputs(g, lambda g: g(i["z"], i["y"] if s["num_classes"] else None), rule) if g else {}
    for mode, want in fx.get("g_out", {}).items():
        torch.testing.assert_close(got[mode], want, **CLOSE, msg=lambda m, mode=mode: f"G {mode}: {m}")
    got = outputs(d, d_call(fx), rule) if d else {}
    for mode, want in fx.get("d_out", {}).items():
        for key, value in want.items():
            torch.testing.assert_close(got[mode][key], value, **CLOSE, msg=lambda m, w=f"D {mode} {key}": f"{w}: {m}")


@pytest.mark.parametrize("path", [p for p in FIXTURES if load(p)["settings"]["sn_eval"] == "power_iteration"],
                         ids=lambda p: p.stem)
def test_after_a_training_step_only_the_spectral_norm_eval_rule_differs(path):
    """torch's eval mode uses the sigma of the last training step; BigGAN-PyTorch's runs one more power
    iteration. At import both modes are exact; after ganlab trains a step, only that rule separates them."""
    fx = load(path)
    g, d = ported(fx)
    got = outputs(g, lambda g: g(fx["inputs"]["z"], fx["inputs"].get("y")), False) if g else outputs(d, d_call(fx), False)
    want = fx["g_out" if g else "d_out"]["eval_after_train"]
    got, want = (got["eval_after_train"], want) if g else (got["eval_after_train"]["logits"], want["logits"])
    assert (got - want).abs().max() > 1e-3


def write_files(fx: dict, tmp_path: Path, g_name: str = "G_ema.pth") -> tuple[Path, Path]:
    g_file, d_file = tmp_path / g_name, tmp_path / "D.pth"
    torch.save(fx["g"], g_file)
    d = fx["d"]
    if "best_fid" in d:   # as StudioGAN's D file: a numpy scalar next to the weights
        d = {**d, "best_fid": np.float64(d["best_fid"])}
    torch.save(d, d_file)
    return g_file, d_file


SAME_SIZE = [p for p in FIXTURES if "g" in load(p) and "d" in load(p) and "d_image_size" not in load(p)["settings"]]


def cli_args(fx: dict, g_file: Path, out: Path, *extra: str) -> list[str]:
    s = fx["settings"]
    return ["--from", s["source"], str(g_file), "--model", s["model"], "--out", str(out), "dataset=cifar10",
            "dataset.download=false", f"dataset.root={out.parent / 'no-data'}", f"dataset.image_size={s['image_size']}",
            *[f"model.{k}={v}" for k, v in s["overrides"].items()], *extra]


@pytest.mark.parametrize("path", SAME_SIZE, ids=[p.stem for p in SAME_SIZE])
def test_the_cli_writes_a_run_that_samples_and_initialises_without_the_dataset(tmp_path, path):
    fx = load(path)
    g_file, d_file = write_files(fx, tmp_path)
    out = tmp_path / "run"
    import_.main(cli_args(fx, g_file, out, "--d", str(d_file)))
    cfg, data, g, d, state, *_ = load_models(out, "cpu", need_data=False)
    assert data is None and state["ema"] is not None and state["imported"]["source"] == fx["settings"]["source"]
    with torch.no_grad():
        torch.testing.assert_close(g.eval()(fx["inputs"]["z"], fx["inputs"]["y"]), fx["g_out"]["eval"], **CLOSE)
    sample.main([str(out), "--grid", "--per-class", "2", "--device", "cpu", "--out", str(tmp_path / "grid")])
    assert (tmp_path / "grid" / "grid.png").is_file()
    fresh = init_from(out, g, d, None, "cpu")
    assert fresh == {"g": [], "d": []}


def test_without_d_the_run_has_none_and_init_from_starts_d_afresh(tmp_path):
    fx = load(FIXTURES[0])
    g_file, _ = write_files(fx, tmp_path, "G.pth")
    out = tmp_path / "run"
    import_.main(cli_args(fx, g_file, out))
    _, _, g, d, state, *_ = load_models(out, "cpu", need_data=False)
    assert d is None and state["ema"] is None   # "G.pth": the raw G, no EMA weights
    _, d = model_pair(fx["settings"]["model"], fx["settings"]["image_size"], 3, fx["settings"]["num_classes"],
                      **fx["settings"]["overrides"])
    assert init_from(out, g, d, None, "cpu")["d"] == sorted(d.state_dict())


def error_of(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as e:
        import_.main(argv)
    assert e.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_wrong_files_fail_with_one_line_naming_the_file_and_what_was_expected(tmp_path, capsys):
    fx = load(FIXTURES[0])
    g_file, d_file = write_files(fx, tmp_path)
    out = tmp_path / "run"
    message = error_of(capsys, cli_args(fx, d_file, out))                       # a D given as G
    assert str(d_file) in message and "looks like the D file" in message and "generator" in message
    message = error_of(capsys, cli_args(fx, g_file, out, "--d", str(g_file)))   # a G given as D
    assert "looks like the G file" in message and "discriminator" in message
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "random.pth")
    message = error_of(capsys, cli_args(fx, tmp_path / "random.pth", out))
    assert "random.pth" in message and "expected a BigGAN-PyTorch generator" in message
    torch.save({"g": {}, "d": {}, "config": {}}, tmp_path / "last.pt")           # a ganlab checkpoint
    assert "this is a ganlab checkpoint" in error_of(capsys, cli_args(fx, tmp_path / "last.pt", out))
    torch.save({"model": torch.nn.Linear(2, 2)}, tmp_path / "pickled.pth")      # needs code to unpickle
    message = error_of(capsys, cli_args(fx, tmp_path / "pickled.pth", out))
    assert "pickled.pth" in message and "weights_only=True" in message
    message = error_of(capsys, cli_args(fx, g_file, out, "model.ch=8"))        # settings that do not fit
    assert str(g_file) in message and "has shape" in message and "model.ch" in message
    assert not out.exists()


def test_the_official_file_must_fit_the_model_and_source():
    fx = load(FIXTURES[0])
    g, _ = model_pair("biggan", 32, 3, 5, ch=4, z_dim=16, g_attn=0)
    with pytest.raises(FormatError, match="have no place in ganlab's model"):   # the official G has attention
        convert(SOURCES["biggan-pytorch"].ARCHS["biggan"], g, fx["g"], "G", "G.pth")
    with pytest.raises(ValueError, match="unknown --from 'bigan'; available: biggan-pytorch"):
        import_.run("bigan", Path("G.pth"), "biggan", [], Path("out"))


def test_settings_no_shape_shows_come_from_the_source(tmp_path, capsys):
    """StudioGAN's D shortcut reads ReLU(x) (its in-place ReLU): model.d_relu_skip=true, set by the importer; a
    command line saying otherwise is refused, and the flag is the only thing between the two D outputs."""
    fx = load(next(p for p in FIXTURES if p.stem == "studiogan_biggan"))
    g_file, d_file = write_files(fx, tmp_path)
    overrides = [a for a in cli_args(fx, g_file, tmp_path / "run") if not a.startswith("model.d_relu_skip")]
    message = error_of(capsys, overrides + ["--d", str(d_file), "model.d_relu_skip=false"])
    assert "model.d_relu_skip=false does not fit" in message and "model.d_relu_skip=true" in message
    import_.main(overrides + ["--d", str(d_file)])
    cfg, *_ = load_models(tmp_path / "run", "cpu", need_data=False)
    assert cfg.model.d_relu_skip is True and cfg.model.bn_eps == 1e-4 and cfg.model.g_cond == "hier"
    _, d = ported(fx)
    want = fx["d_out"]["eval"]["logits"]
    with torch.no_grad():
        torch.testing.assert_close(d_call(fx)(d.eval())["logits"], want, **CLOSE)
        for block in d.blocks:
            block.relu_skip = False
        assert (d_call(fx)(d)["logits"] - want).abs().max() > 1e-2
