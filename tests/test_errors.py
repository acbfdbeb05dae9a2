"""User errors are one line on stderr with exit status 2; bugs keep their traceback; HYDRA_FULL_ERROR=1
shows every trace."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ganlab_train_here
from ganlab.cli.errors import command
from ganlab.errors import ConfigError, user_input


def fails_with(exc, inside_user_input=False):
    @command("ganlab-x")
    def main():
        if inside_user_input:
            with user_input():
                raise exc
        raise exc
    return main


@pytest.mark.parametrize("exc,inside", [(ConfigError("dataset.root=/x: no such folder"), False),
                                        (ValueError("dataset.root=/x: no such folder"), True),
                                        (FileNotFoundError("dataset.root=/x: no such folder"), True)])
def test_a_user_error_is_one_line_and_exit_2(capsys, monkeypatch, exc, inside):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as e:
        fails_with(exc, inside)()
    assert e.value.code == 2
    assert capsys.readouterr().err == "ganlab-x: error: dataset.root=/x: no such folder\n"


@pytest.mark.parametrize("exc,inside", [(ValueError("a bug"), False), (RuntimeError("a bug"), True),
                                        (KeyError("a bug"), True)])
def test_a_bug_keeps_its_traceback(monkeypatch, exc, inside):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(type(exc), match="a bug"):
        fails_with(exc, inside)()


def test_hydra_full_error_shows_the_trace_of_a_user_error(monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ConfigError):
        fails_with(ConfigError("bad"))()


def ganlab_train(args, cwd, env=None):
    exe = Path(sys.executable).with_name("ganlab-train")
    return subprocess.run([str(exe), *args, "hardware=cpu", f"hydra.run.dir={cwd}/run"], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def test_ganlab_train_bad_value_is_one_line_and_exit_2(tmp_path):
    """The console script end to end, in a process of its own: its exit status and all of its stderr."""
    out = ganlab_train(["train.batch_size=-4"], tmp_path, {"HYDRA_FULL_ERROR": "0"})
    assert out.returncode == 2
    assert out.stderr == "ganlab-train: error: train.batch_size must be a positive integer, got -4\n"


def test_ganlab_train_unknown_option_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    assert ganlab_train_here(monkeypatch, "model=bigan", "hardware=cpu", f"hydra.run.dir={tmp_path}/run") == 2
    err = capsys.readouterr().err
    assert err.startswith("ganlab-train: error: In 'train': Could not find 'model/bigan'") and len(err.splitlines()) == 1
    assert "dcgan" in err and "Config search path" not in err and "Traceback" not in err


def test_ganlab_train_with_hydra_full_error_keeps_the_trace(tmp_path, monkeypatch):
    """HYDRA_FULL_ERROR=1: the error leaves main() (Python prints its traceback and exits 1), from where the value
    is checked."""
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ConfigError, match="train.batch_size must be a positive integer, got -4") as e:
        ganlab_train_here(monkeypatch, "train.batch_size=-4", "hardware=cpu", f"hydra.run.dir={tmp_path}/run")
    assert e.traceback[-1].path.name == "domains.py"
