"""The debug presets: +debug=fast, +debug=overfit (one fixed batch), +debug=profile (a trace)."""
import json

import pytest
import torch

from conftest import compose_cfg, run
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
