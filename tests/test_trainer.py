"""The generic trainer: outputs of a run, resume exactness, atomic checkpoints, the non-finite guard,
accumulation, and regularizer hooks that plug in with no change to the trainer."""
import json
import math

import pytest
import torch

from conftest import run
from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import Regularizer
from ganlab.train import checkpoint as ckpt
from ganlab.train.trainer import NonFiniteLoss


def test_a_run_directory_describes_itself(tmp_path):
    summary, d = run(tmp_path, ["train.steps=3", "train.log_every=2"])
    assert summary["status"] == "finished" and summary["images_seen"] == 3 * 8
    rows = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 3]
    for key in ("loss/d/bce", "loss/d/real", "loss/d/fake", "loss/g/bce", "D(x)", "D(G(z))/d_step",
                "D(G(z))/before_g_step", "D(G(z))/after_g_step", "lr_g", "lr_d", "img_s", "kimg", "time"):
        assert key in rows[-1], key
    # D(x) is the mean sigmoid of D's real logits, loss/d/real their mean softplus(-l) = -log sigmoid(l):
    # by Jensen exp(-loss/d/real) <= D(x), equal only when every logit is the same
    assert math.exp(-rows[-1]["loss/d/real"]) < rows[-1]["D(x)"] < 1
    for f in ("samples/real.png", "samples/step_0000003.png", "plots/losses.png", "summary.json",
              "checkpoints/last.pt"):
        assert (d / f).is_file(), f
    state = torch.load(d / "checkpoints/last.pt", weights_only=True)
    assert state["step"] == 3 and {"g", "d", "ema", "opt_g", "opt_d", "rng", "regs", "data"} <= set(state)


def weights(run_dir):
    return torch.load(run_dir / "checkpoints/last.pt", weights_only=True)


def assert_same_weights(a, b, parts=("g", "d", "ema")):
    for part in parts:
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs"


def test_resume_gives_exactly_the_same_weights(tmp_path):
    common = ["train.log_every=2", "train.ckpt_every=3", "regularizer=[r1,diffaugment]", "regularizer.r1.every=3",
              "scheduler=plateau", "scheduler.patience=0", "scheduler.window=2", "scheduler.threshold=10.0"]
    # 3 steps, stop (off the log clock and in the middle of a plateau window), resume to 8 == 8 straight
    straight, d1 = run(tmp_path / "a", ["train.steps=8", *common])
    run(tmp_path / "b", ["train.steps=3", *common])
    resumed, d2 = run(tmp_path / "b", ["train.steps=8", "resume=auto", *common])
    assert resumed["step"] == 8
    a, b = weights(d1), weights(d2)
    assert_same_weights(a, b)
    assert a["opt_d"]["param_groups"][0]["lr"] == b["opt_d"]["param_groups"][0]["lr"] < 2e-4   # the plateau acted


def test_the_log_interval_does_not_change_training(tmp_path):
    """The D(G(z)) diagnostic after the G step runs DiffAugment on a forked RNG: log_every is free."""
    common = ["train.steps=20", "regularizer=[diffaugment]", "regularizer.diffaugment.policy=[color,translation,cutout]",
              "train.sample_every=100", "train.ckpt_every=100"]
    _, d1 = run(tmp_path / "a", [*common, "train.log_every=1"])
    _, d7 = run(tmp_path / "b", [*common, "train.log_every=7"])
    assert_same_weights(weights(d1), weights(d7))


def test_resume_drops_the_log_lines_a_killed_run_wrote_after_its_checkpoint(tmp_path):
    run(tmp_path, ["train.steps=3"])
    # as if killed at step 5 with the last checkpoint at step 3
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 4, "loss/d/total": 9.0}) + "\n" + json.dumps({"step": 5}) + "\n")
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps({"step": s, "fid": 50.0}) + "\n" for s in (2, 5)))
    run(tmp_path, ["train.steps=5", "resume=auto"])
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[3]["loss/d/total"] != 9.0
    assert [json.loads(x)["step"] for x in (tmp_path / "eval.jsonl").read_text().splitlines()] == [2]


def test_resume_refuses_a_checkpoint_from_a_different_config(tmp_path):
    run(tmp_path, ["train.steps=1"])
    with pytest.raises(ValueError, match=r"config differs in keys that matter:\n  loss.name: 'bce' -> 'hinge'"):
        run(tmp_path, ["train.steps=2", "loss=hinge", "resume=auto"])


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nowhere"):
        run(tmp_path, [f"resume={tmp_path}/nowhere.pt"])


def test_a_crash_mid_write_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    ckpt.save_atomic({"step": 1, "w": torch.ones(3)}, path)

    def broken_save(obj, f, *a, **k):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_atomic({"step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    state = torch.load(path, weights_only=True)
    assert state["step"] == 1 and torch.equal(state["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]   # no temporary file left


@REGULARIZERS.register("test_poison")
class Poison(Regularizer):
    """A toy regularizer registered only in this test file: returns NaN from step `at` on."""
    def __init__(self, at: int = 2):
        super().__init__()
        self.at = at

    def d_terms(self, ctx):
        return {"poison": torch.tensor(float("nan") if ctx.step >= self.at else 0.0)}


def test_non_finite_loss_stops_with_the_term_and_step_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLoss, match=r"loss/d/poison = nan at step 3"):
        run(tmp_path, ["train.steps=5", "+regularizer.test_poison.at=2"])
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "crashed"
    assert torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)["step"] == 2


@REGULARIZERS.register("test_probe")
class Probe(Regularizer):
    """Counts every hook call and owns a parameter, to show hooks plug in with no trainer edit."""
    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(1, 1)
        self.register_buffer("calls", torch.zeros(5))

    def augment(self, x):
        self.calls[0] += 1
        return x, {"probe": torch.zeros(len(x), 1)}

    def mix_real(self, real, ctx):
        self.calls[1] += 1
        return real

    def d_terms(self, ctx):
        self.calls[2] += 1
        assert ctx.aug["real"]["probe"].shape[1] == 1
        return {"probe": self.head(torch.ones(1, 1)).pow(2).sum()}

    def g_terms(self, ctx):
        self.calls[3] += 1
        return {}

    def update(self, ctx):
        self.calls[4] += 1


def test_regularizer_hooks_run_and_its_parameters_join_d_optimizer(tmp_path):
    run(tmp_path, ["train.steps=2", "train.n_critic=2", "train.accum_d=3", "train.accum_g=2",
                   "+regularizer.test_probe={}"])
    state = torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)
    calls = state["regs"][0]["calls"].tolist()
    d_batches = 2 * 2 * 3
    # augment: every D input (2 per D micro-batch, + G micro-batches); the diagnostic after the G step
    # also augments, but buffers changed inside a diagnostic are restored
    assert calls[1:] == [d_batches, d_batches, 2 * 2, 2]
    assert calls[0] == 2 * d_batches + 2 * 2
    n_d_params = len(state["opt_d"]["param_groups"][0]["params"])
    assert n_d_params == len([k for k in state["d"] if "running" not in k and "num_batches" not in k
                              and not k.endswith("_u") and not k.endswith("_v")]) + 2


def test_accumulation_and_critic_steps_count_images(tmp_path):
    summary, _ = run(tmp_path, ["train.steps=2", "train.n_critic=3", "train.accum_d=2"])
    assert summary["images_seen"] == 2 * 3 * 2 * 8


def test_plateau_lowers_the_learning_rate(tmp_path):
    summary, d = run(tmp_path, ["train.steps=6", "scheduler=plateau", "scheduler.patience=0",
                                "scheduler.threshold=10.0", "scheduler.window=2"])
    rows = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    # windows end at steps 2, 4, 6; with a relative threshold of 10 no loss counts as an improvement and
    # patience is 0, so each window halves the rate (a row logs the rate after its step's schedule)
    assert [r["lr_d"] for r in rows] == pytest.approx([2e-4, 1e-4, 1e-4, 5e-5, 5e-5, 2.5e-5], rel=1e-9)


def test_epochs_set_the_steps_from_the_data_the_batch_and_the_d_steps(run_tiny):
    # 36 images (2% of digits), 8 reals per D step, 2 D steps per iteration: ceil(36 / 16) = 3 iterations
    summary, _ = run_tiny(["dataset.fraction=0.02", "train.epochs=1", "train.steps=999", "train.n_critic=2"])
    assert summary["steps"] == 3 and summary["step"] == 3 and summary["images_seen"] == 48
