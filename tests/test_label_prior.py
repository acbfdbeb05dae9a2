"""A conditional G on a class-imbalanced set: its labels drawn in the data's class proportions (train.label_prior=data,
eval.label_prior=data) instead of uniformly, so that FID compares like with like and D cannot tell fakes by label."""
import json

import pytest
import torch
import torch.nn as nn

from conftest import run, scoring
from ganlab.data.base import ImageSet, label_prior
from ganlab.data.digits import digits
from ganlab.metrics.domain import digits_extractor
from ganlab.metrics.evaluator import Evaluator
from ganlab.metrics.sampling import GSampler
from ganlab.models.base import sample_prior


def imbalanced_digits() -> ImageSet:
    """Digits with classes 0 and 1 whole and 10% of each other class: 0 and 1 are about 10x the others."""
    whole = digits(16, "train")
    keep = torch.cat([torch.nonzero(whole.labels == c).flatten()[: (None if c < 2 else 15)] for c in range(10)])
    return whole.subset(keep, "imbalanced digits")


class ClassCopier(nn.Module):
    """A perfect conditional 'generator': for label y, a training image of class y."""

    def __init__(self, data: ImageSet):
        super().__init__()
        self.data, self.z_dim, self.num_classes = data, 4, data.num_classes

    def forward(self, z, y):
        out = []
        for zi, yi in zip(z, y.tolist()):
            members = torch.nonzero(self.data.labels == yi).flatten()
            out.append(self.data.images[members[int(zi[0].abs() * 1e4) % len(members)]])
        return torch.stack(out).float() / 127.5 - 1


def test_the_data_prior_is_each_classs_share_and_needs_labels():
    data = imbalanced_digits()
    w = label_prior(data, "data")
    assert w.sum().item() == pytest.approx(1.0) and w[0] > 5 * w[5]
    assert label_prior(data, "uniform") is None
    with pytest.raises(ValueError, match="needs a labelled data set"):
        label_prior(ImageSet(data.images, None, 0, "unlabelled"), "data")
    with pytest.raises(ValueError, match="unknown label_prior 'balanced'"):
        label_prior(data, "balanced")


def test_training_draws_fake_labels_in_the_datas_proportions():
    w = torch.tensor([0.7, 0.2, 0.1], dtype=torch.float64)
    _, y = sample_prior(20000, 4, 3, "cpu", torch.Generator().manual_seed(0), class_weights=w)
    assert torch.bincount(y, minlength=3).double().div(20000).tolist() == pytest.approx(w.tolist(), abs=0.01)
    _, y = sample_prior(20000, 4, 3, "cpu", torch.Generator().manual_seed(0))
    assert torch.bincount(y, minlength=3).double().div(20000).tolist() == pytest.approx([1 / 3] * 3, abs=0.01)


def test_evaluation_labels_come_in_exact_proportions_in_a_mixed_order_and_the_protocol_says_so():
    g = nn.Module()
    g.z_dim, g.num_classes = 4, 3
    w = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    _, y = GSampler("running", class_weights=w).noise(1001, g, seed=0)
    assert torch.bincount(y).tolist() == [500, 300, 201] or torch.bincount(y).tolist() == [501, 300, 200]
    assert (y[:30] != y[0]).any()                                                   # not sorted by class
    assert GSampler("running", class_weights=w).protocol()["label_prior"] == "data"
    assert "label_prior" not in GSampler("running").protocol()                      # earlier protocols keep their hash
    _, y = GSampler("running").noise(9, g, seed=0)
    assert y.tolist() == [0, 1, 2] * 3


def test_a_perfect_conditional_g_scores_its_floor_only_when_sampled_in_the_datas_proportions():
    """Class-balanced samples of an imbalanced set are not the set: the real images themselves, drawn 1/10 per
    class, score far above the floor (the sprites: 896 against 70.8); drawn in the data's proportions, near it."""
    data = imbalanced_digits()
    fid = {}
    for prior in ("uniform", "data"):
        sampler = GSampler("running", 100, class_weights=label_prior(data, prior))
        ev = Evaluator(digits_extractor(), data, scoring(metrics=["fid"], num_samples=2000, fid_ci=0),
                       cache_key="imbalanced", sampler=sampler)
        fid[prior] = ev.evaluate(ClassCopier(data))
    floor = fid["data"]["fid_floor"]
    assert fid["data"]["fid"] < 1.5 * floor < fid["uniform"]["fid"] / 2
    assert fid["data"]["protocol_hash"] != fid["uniform"]["protocol_hash"]


def test_a_run_with_the_data_prior_trains_and_records_it(tmp_path):
    over = ["eval=default", "eval.every=2", "eval.num_samples=40", "eval.fid_ci=0", "eval.metrics=[fid]", "train.steps=2",
            "train.label_prior=data", "eval.label_prior=data"]
    _, d = run(tmp_path, over)
    last = json.loads((d / "eval.jsonl").read_text().splitlines()[-1])
    assert last["protocol"]["label_prior"] == "data" and last["fid"] > 0


def test_a_checkpoint_is_rescored_under_the_data_prior(tmp_path, capsys):
    """ganlab-evaluate RUN --set eval.label_prior=data: the same G, its labels in the data's proportions."""
    from ganlab.cli import evaluate as evaluate_cli
    over = ["eval=default", "eval.every=2", "eval.num_samples=40", "eval.fid_ci=0", "eval.metrics=[fid]", "train.steps=2"]
    _, d = run(tmp_path, over)
    from test_evaluation import save_config
    save_config(d, over)
    capsys.readouterr()
    evaluate_cli.main([str(d), "--device", "cpu", "--no-append", "--set", "eval.label_prior=data"])
    assert json.loads(capsys.readouterr().out)["protocol"]["label_prior"] == "data"
