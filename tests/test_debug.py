"""The debug presets: +debug=fast, +debug=overfit (one fixed batch), +debug=profile (a trace)."""
import json

import pytest
import torch

from conftest import compose_cfg, run
from ganlab.cli.build import model_pair
from ganlab.registry import DATASETS
from ganlab.train import checkpoint as ckpt
from ganlab.train.debug import OneBatch


@pytest.mark.parametrize("preset,steps,overfit,profile", [("fast", 10, False, False), ("overfit", 500, True, False),
                                                          ("profile", 20, False, True)])
def test_debug_presets_compose(preset, steps, overfit, profile):
    cfg = compose_cfg([f"+debug={preset}"])
    assert (cfg.train.steps, cfg.debug.overfit, cfg.debug.profile) == (steps, overfit, profile)
    assert compose_cfg([]).debug == {"overfit": False, "profile": False}


def test_overfit_feeds_one_fixed_batch_and_resumes_with_it():
    class Counting:
        device = torch.device("cpu")
        def __init__(self):
            self.n = 0
        def next(self):
            self.n += 1
            return torch.full((2, 1, 4, 4), float(self.n)), torch.tensor([self.n, 0])
    one = OneBatch(Counting())
    first = one.next()
    assert all(torch.equal(one.next()[0], first[0]) for _ in range(3)) and one.batches.n == 1
    again = OneBatch(Counting())
    again.load_state_dict(one.state_dict())
    assert torch.equal(again.next()[0], first[0]) and torch.equal(again.next()[1], first[1]) and again.batches.n == 0


def test_overfit_trains_on_the_same_batch(tmp_path):
    summary, d = run(tmp_path, ["+debug=overfit", "train.steps=3"])
    assert summary["status"] == "finished"
    real, _ = ckpt.load(d)["data"]["batch"]
    assert real.shape == (8, 1, 16, 16)


def test_profile_writes_a_trace_and_prints_the_top_ops(tmp_path, capsys):
    run(tmp_path, ["+debug=profile", "train.steps=2"])
    trace = json.loads((tmp_path / "profile" / "trace.json").read_text())
    assert any(e.get("name", "").startswith("aten::conv") for e in trace["traceEvents"])
    out = capsys.readouterr().out
    assert "Self CPU" in out and "aten::" in out and "profile: trace written to" in out


def test_overfit_g_reproduces_the_batch(tmp_path):
    """After +debug=overfit, G's samples sit on the fixed batch: their nearest image among the batch and
    as many other digits of the same classes is a batch image (chance: one half)."""
    _, d = run(tmp_path, ["+debug=overfit", "train.steps=1000", "train.log_every=100", "train.sample_every=1000",
                          "train.ckpt_every=1000", "model.g_width=16", "model.d_width=16"], tiny_model=False)
    state = ckpt.load(d)
    real, y = state["data"]["batch"]
    data = DATASETS.build("digits", image_size=16)
    pool = data.images.float() / 127.5 - 1
    in_batch = torch.cdist(pool.flatten(1), real.flatten(1)).min(1).values < 1e-4
    others = torch.stack([pool[(data.labels == c) & ~in_batch][i] for i, c in enumerate(y.tolist())])
    g, _ = model_pair("dcgan", 16, 1, 10, g_width=16, d_width=16)
    g.load_state_dict(state["g"])
    g.eval()
    labels = y[torch.randint(len(y), (64,), generator=torch.Generator().manual_seed(0))]
    with torch.no_grad():
        fake = g(torch.randn(64, 100, generator=torch.Generator().manual_seed(1)), labels)
    nearest = torch.cdist(fake.flatten(1), torch.cat([real, others]).flatten(1)).argmin(1)
    assert (nearest < len(real)).float().mean() >= 0.9
