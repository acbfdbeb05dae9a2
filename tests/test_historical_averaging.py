"""Historical averaging (Salimans et al. 2016): each network is penalised by the squared distance of its
weights from their running mean over the past iterations."""
import json

import pytest
import torch

from conftest import run
from ganlab.regularizers.base import StepContext
from ganlab.regularizers.historical_averaging import HistoricalAveraging
from ganlab.track.stats import Stats


def context(phase):
    return StepContext(step=0, phase=phase, d=None, stats=Stats(), run_d=None)


def test_the_penalty_is_the_distance_from_the_mean_of_every_past_iterate():
    g, d = torch.nn.Linear(2, 1), torch.nn.Linear(3, 1)
    ha = HistoricalAveraging(weight=0.5)
    ha.setup(d, Stats(), [])
    ha.attach(g)
    assert ha.d_terms(context("d"))["historical_averaging"].item() == 0.0      # no history yet
    history = [d.weight.detach().clone()]
    for value in (1.0, 2.0, 4.0):
        with torch.no_grad():
            d.weight.fill_(value)
        ha.update(context("d"))
        history.append(d.weight.detach().clone())
    with torch.no_grad():
        d.weight.fill_(3.0)
    mean_w = torch.stack(history).mean(0)
    mean_b = d.bias.detach()                                                   # never moved
    term = ha.d_terms(context("d"))["historical_averaging"]
    assert term.item() == pytest.approx(0.5 * ((3.0 - mean_w) ** 2).sum().item(), rel=1e-5)
    assert torch.equal(ha.mean_d_1, mean_b)
    term.backward()                                                            # the gradient pulls toward the mean
    assert torch.allclose(d.weight.grad, 0.5 * 2 * (3.0 - mean_w))
    assert ha.g_terms(context("g"))["historical_averaging"].item() == 0.0     # G never moved


def test_only_the_chosen_networks_are_penalised_and_bad_settings_are_refused():
    ha = HistoricalAveraging(weight=1.0, networks=["d"])
    ha.setup(torch.nn.Linear(2, 1), Stats(), [])
    ha.attach(torch.nn.Linear(2, 1))
    assert ha.g_terms(context("g")) == {} and "historical_averaging" in ha.d_terms(context("d"))
    with pytest.raises(ValueError, match="networks from g, d"):
        HistoricalAveraging(networks=["critic"])
    with pytest.raises(ValueError, match="weight > 0"):
        HistoricalAveraging(weight=0.0)


def test_it_trains_penalising_both_networks_and_a_resume_continues_the_history(tmp_path):
    common = ["regularizer=[historical_averaging]", "train.ckpt_every=1"]
    summary, d = run(tmp_path, [*common, "train.steps=3"])
    rows = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["loss/d/historical_averaging"] == 0.0 and rows[-1]["loss/d/historical_averaging"] > 0
    assert rows[-1]["loss/g/historical_averaging"] > 0
    state = torch.load(d / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
    assert int(state["regs"][0]["t"]) == 4
    summary, _ = run(tmp_path, [*common, "train.steps=4", "resume=auto"])
    state = torch.load(d / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
    assert summary["step"] == 4 and int(state["regs"][0]["t"]) == 5
