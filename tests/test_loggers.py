"""Loggers are a registry like every other group; a resumed run continues the same wandb run."""
import time

import pytest

from conftest import run
from ganlab.registry import LOGGERS


def test_loggers_are_registered_and_unknown_names_list_the_choices():
    assert {"jsonl", "wandb"} <= set(LOGGERS.names())
    with pytest.raises(ValueError, match=r"unknown logger 'tensorboard' \(logger=tensorboard\); available: .*jsonl"):
        LOGGERS.get("tensorboard")


def test_a_logger_setting_outside_its_section_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"logger=jsonl takes its settings under logger.jsonl; unexpected: logger.mode"):
        run(tmp_path, ["+logger.mode=offline"])


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
