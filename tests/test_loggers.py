"""Loggers are a list group over a registry like every other group (metrics.jsonl and eval.jsonl always);
a resumed run continues the same wandb run and the same TensorBoard event files, with no step twice."""
import json
import shutil
import time

import pytest

from conftest import run
from ganlab.registry import LOGGERS


def test_loggers_are_registered_and_unknown_names_list_the_choices():
    assert {"jsonl", "wandb", "tensorboard"} <= set(LOGGERS.names())
    with pytest.raises(ValueError, match=r"unknown logger 'tensorbord' \(logger=tensorbord\); available: .*tensorboard"):
        LOGGERS.get("tensorbord")


def test_a_logger_setting_outside_its_section_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"logger.mode='offline' is not a logger's settings; .*logger=\[jsonl,tensorboard\]"):
        run(tmp_path, ["+logger.mode=offline"])
    assert not (tmp_path / "checkpoints").exists()


def scalars(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


def test_tensorboard_beside_jsonl_writes_the_same_scalars_grids_eval_and_config(tmp_path):
    summary, d = run(tmp_path, ["logger=[jsonl,tensorboard]", "train.steps=2", "eval=default", "eval.every=2",
                                "eval.num_samples=60", "eval.kid_subset_size=50"])
    rows = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    events = scalars(d)
    tags = events.Tags()
    assert [(e.step, pytest.approx(e.value)) for e in events.Scalars("loss/d/total")] == [(r["step"], r["loss/d/total"]) for r in rows]
    assert {"D(x)", "lr_g", "img_s"} <= set(tags["scalars"])
    fid = json.loads((d / "eval.jsonl").read_text().splitlines()[-1])["fid"]
    assert [(e.step, pytest.approx(e.value)) for e in events.Scalars("eval/fid")] == [(2, fid)]
    assert [e.step for e in events.Images("samples")] == [1, 2]
    assert "config/text_summary" in tags["tensors"]


def test_a_resumed_run_appends_to_the_tensorboard_files_without_a_step_twice(tmp_path):
    tb = ["logger=[jsonl,tensorboard]", "logger.tensorboard.flush_secs=1"]
    run(tmp_path, [*tb, "train.steps=2"])
    shutil.copy(tmp_path / "checkpoints" / "last.pt", tmp_path / "step2.pt")
    run(tmp_path, [*tb, "train.steps=4", "resume=auto"])          # then killed, say: steps 3 and 4 are logged again
    run(tmp_path, [*tb, "train.steps=4", f"resume={tmp_path / 'step2.pt'}"])
    assert [e.step for e in scalars(tmp_path).Scalars("loss/d/total")] == [1, 2, 3, 4]


def test_a_resumed_run_continues_the_same_wandb_run(tmp_path):
    wandb = ["logger=wandb", "logger.wandb.mode=offline"]
    run(tmp_path, [*wandb, "train.steps=1"])
    run_id = (tmp_path / "wandb_run_id").read_text().strip()
    time.sleep(1.1)   # wandb names an offline run's folder by the second it starts: two in one second would share it
    run(tmp_path, [*wandb, "train.steps=2", "resume=auto"])
    runs = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 2
    assert [p.name.rsplit("-", 1)[-1] for p in runs] == [run_id, run_id]
    assert (tmp_path / "wandb_run_id").read_text().strip() == run_id
