"""Runs that survive preemption: SIGTERM or SIGUSR1 finishes the step, writes last.pt, marks the run
preempted, and a resume continues bit for bit as if nothing had happened."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import run
from ganlab.train.trainer import Trainer
from test_trainer import assert_same_weights, weights

COMMON = ["train.steps=6", "train.ckpt_every=100", "train.log_every=1", "regularizer=[diffaugment]"]


def signal_at(monkeypatch, step: int, signum: int):
    """Send this process `signum` in the middle of iteration `step` (its D step)."""
    d_step = Trainer.d_step

    def with_signal(self):
        if self.step == step:
            os.kill(os.getpid(), signum)
        return d_step(self)
    monkeypatch.setattr(Trainer, "d_step", with_signal)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_a_signal_checkpoints_the_step_and_a_resume_loses_nothing(tmp_path, monkeypatch, signum):
    _, straight = run(tmp_path / "straight", COMMON)
    signal_at(monkeypatch, 2, signum)
    summary, stopped = run(tmp_path / "stopped", COMMON)
    assert (summary["status"], summary["step"], summary["signal"]) == ("preempted", 3, signal.Signals(signum).name)
    assert json.loads((stopped / "summary.json").read_text())["status"] == "preempted"
    assert signal.getsignal(signum) is signal.SIG_DFL                  # the handler before training is back
    monkeypatch.undo()
    resumed, _ = run(tmp_path / "stopped", [*COMMON, "resume=auto"])
    assert resumed["status"] == "finished" and resumed["step"] == 6
    assert_same_weights(weights(straight), weights(stopped))
    steps = [json.loads(line)["step"] for line in (stopped / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]                                 # every step logged once


def signalled_run(tmp_path, signum) -> tuple[subprocess.Popen, str]:
    """A long ganlab-train in its own process, sent `signum` once training has started; -> (process, stderr).
    hardware.tune=off: at 100,000 steps the tuner tries compile, and a cold inductor cache logs torch's CUDA_HOME
    warning to stderr (seen once in a fresh clone), which is not what these tests read."""
    exe = os.path.join(os.path.dirname(sys.executable), "ganlab-train")
    proc = subprocess.Popen([exe, "train.steps=100000", "train.ckpt_every=100000", "eval=none", "hardware=cpu",
                             "hardware.tune=off", "progress=false", "dataset.image_size=16", "model.g_width=8", "model.d_width=8",
                             "train.batch_size=8", f"hydra.run.dir={tmp_path}"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "samples" / "real.png").is_file() and time.time() < deadline:   # training has started
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signum)
    return proc, proc.communicate(timeout=120)[1]


def test_ganlab_train_exits_with_the_signal_after_checkpointing(tmp_path):
    proc, err = signalled_run(tmp_path, signal.SIGTERM)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert proc.returncode == -signal.SIGTERM and summary["status"] == "preempted" and summary["step"] > 0
    assert f"SIGTERM at step {summary['step']}: checkpoints/last.pt written" in err
    assert (tmp_path / "checkpoints" / "last.pt").is_file()


def test_ctrl_c_checkpoints_the_step_like_sigterm_and_a_resume_loses_nothing(tmp_path, monkeypatch):
    _, straight = run(tmp_path / "straight", COMMON)
    before = signal.getsignal(signal.SIGINT)   # Python's own handler; SIG_IGN in a pytest-xdist worker
    signal_at(monkeypatch, 2, signal.SIGINT)
    summary, stopped = run(tmp_path / "stopped", COMMON)
    assert (summary["status"], summary["step"], summary["signal"]) == ("interrupted", 3, "SIGINT")
    assert signal.getsignal(signal.SIGINT) is before     # the handler the run found is back
    monkeypatch.undo()
    resumed, _ = run(tmp_path / "stopped", [*COMMON, "resume=auto"])
    assert resumed["status"] == "finished" and resumed["step"] == 6
    assert_same_weights(weights(straight), weights(stopped))


def test_a_second_ctrl_c_stops_at_once(tmp_path, monkeypatch):
    d_step = Trainer.d_step

    def twice(self):
        if self.step == 2:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return d_step(self)
    monkeypatch.setattr(Trainer, "d_step", twice)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, COMMON)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["step"] == 2


def test_ganlab_train_on_ctrl_c_checkpoints_and_exits_130_in_one_line(tmp_path):
    proc, err = signalled_run(tmp_path, signal.SIGINT)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert proc.returncode == 130 and summary["status"] == "interrupted" and summary["step"] > 0
    assert err.splitlines() == [f"[ganlab] Ctrl-C at step {summary['step']}: checkpoints/last.pt written; the same "
                                f"command continues the run (resume=auto)"]
    assert torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["step"] == summary["step"]
