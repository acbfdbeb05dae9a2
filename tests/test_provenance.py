"""provenance.json: its shape, a checkout's commit and diff, and no git at all."""
import json
import os
import subprocess

import torch

from conftest import run
from ganlab.track import provenance


def test_every_run_writes_provenance_json(tmp_path):
    _, d = run(tmp_path, ["train.steps=1"])
    p = json.loads((d / "provenance.json").read_text())
    assert set(p) == {"git", "versions", "pip_freeze", "device", "command", "host", "pid"}
    assert set(p["git"]) == {"commit", "dirty", "diff"}
    assert set(p["versions"]) == {"python", "torch", "cuda", "cudnn", "ganlab"}
    assert p["versions"]["torch"] == torch.__version__
    assert any(line.startswith("torch==") for line in p["pip_freeze"])
    assert p["device"].startswith("cpu: ") and isinstance(p["command"], list)
    assert p["pid"] == os.getpid() and p["host"]


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_git_commit_dirty_flag_and_small_diff(tmp_path, monkeypatch):
    git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git(tmp_path, "add", "a.py")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert provenance.git_info(tmp_path) == {"commit": head, "dirty": False, "diff": None}
    (tmp_path / "a.py").write_text("x = 2\n")
    info = provenance.git_info(tmp_path)
    assert info["commit"] == head and info["dirty"] is True and "+x = 2" in info["diff"]
    monkeypatch.setattr(provenance, "MAX_DIFF_BYTES", 10)
    assert provenance.git_info(tmp_path) == {"commit": head, "dirty": True, "diff": None}   # too large to keep


def test_outside_a_checkout_and_without_git(tmp_path, monkeypatch):
    assert provenance.git_info(tmp_path) == {"commit": None, "dirty": False, "diff": None}
    monkeypatch.setenv("PATH", str(tmp_path))   # no git executable at all
    assert provenance.git_info(tmp_path) == {"commit": None, "dirty": False, "diff": None}
