"""Every run says where its time went: summary.json's time_s, the eval line's time_s, compare's columns."""
import json
import time

from conftest import run
from ganlab.cli import compare
from ganlab.track.timing import Timer

SMALL_EVAL = ["eval=default", "eval.every=2", "eval.num_samples=64", "eval.kid_subset_size=20", "eval.fid_ci_resamples=5"]


def test_summary_and_eval_lines_account_for_their_time(tmp_path, capsys):
    t = time.perf_counter()
    summary, run_dir = run(tmp_path / "run", ["train.steps=2", *SMALL_EVAL])
    wall = time.perf_counter() - t
    parts = summary["time_s"]
    assert {"startup", "provenance", "train", "log", "samples", "eval", "checkpoints", "plots"} <= set(parts)
    assert parts["train"] > 0 and parts["eval"] > 0 and parts["startup"] > 0
    assert sum(parts.values()) - parts["startup"] < wall     # the parts do not overlap
    line = json.loads((run_dir / "eval.jsonl").read_text().splitlines()[-1])
    assert {"generate", "embed", "reference", "fid", "is", "kid", "pr", "dc", "class_acc", "class_recall", "d_acc"} <= set(line["time_s"])
    split = line["time_s"]                                    # the evaluation's own split sits inside its share
    assert sum(split.values()) <= parts["eval"] + 0.005 * len(split)   # (each part rounded to 0.01 s)
    out = tmp_path / "t.md"
    compare.main([str(run_dir), "--columns", "startup_s,train_s,eval_s", "--markdown", str(out)])
    header, _, row = out.read_text().splitlines()
    assert header.rstrip(" |").split(" | ")[-3:] == ["startup_s", "train_s", "eval_s"]
    assert row.rstrip(" |").split(" | ")[-3:] == [f"{parts[k]:.4g}" for k in ("startup", "train", "eval")]


def test_timer_accumulates_parts_and_prints_the_largest_first():
    timer = Timer()
    timer.add("eval", 1.0)
    timer.add("train", 3.0)
    timer.add("eval", 1.0)
    assert timer.rounded() == {"eval": 2.0, "train": 3.0}
    assert timer.line() == "time 5.0 s: train 3.0 (60%), eval 2.0 (40%)"
