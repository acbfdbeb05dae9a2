"""provenance.json: where a run came from. Cheap (no subprocess but git, with a timeout) and robust
outside a git checkout (commit null). The shape, which ganlab-compare reads:

    {"git": {"commit": str|null, "dirty": bool, "diff": str|null},
     "versions": {"python", "torch", "cuda", "cudnn", "ganlab"},
     "pip_freeze": ["name==version", ...], "device": str, "command": [argv...], "host": str, "pid": int}
"""
from __future__ import annotations

import importlib.metadata as md
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

MAX_DIFF_BYTES = 64 * 1024      # a larger diff is left out (dirty stays true)
SOURCE = Path(__file__).resolve().parents[1]   # the ganlab package: its checkout is what ran


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None   # no git, or it hung
    return out.stdout if out.returncode == 0 else None


def git_info(source: Path = SOURCE) -> dict:
    commit = _git(["rev-parse", "HEAD"], source)
    if commit is None:
        return {"commit": None, "dirty": False, "diff": None}
    status = _git(["status", "--porcelain"], source) or ""
    diff = _git(["diff", "HEAD"], source) if status.strip() else None
    if diff is not None and len(diff.encode()) > MAX_DIFF_BYTES:
        diff = None
    return {"commit": commit.strip(), "dirty": bool(status.strip()), "diff": diff or None}


def versions() -> dict:
    try:
        ganlab = md.version("ganlab")
    except md.PackageNotFoundError:
        ganlab = None
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": str(cudnn) if cudnn is not None else None, "ganlab": ganlab}


def pip_freeze() -> list[str]:
    """`pip freeze` from the installed distributions' metadata (no subprocess)."""
    names = {(d.metadata["Name"] or "?", d.version) for d in md.distributions()}
    return sorted((f"{n}=={v}" for n, v in names), key=str.lower)


def device_name(device) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"{device.type}: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def collect(device, command: list[str] | None = None) -> dict:
    return {"git": git_info(), "versions": versions(), "pip_freeze": pip_freeze(),
            "device": device_name(device), "command": list(sys.argv if command is None else command),
            "host": platform.node(), "pid": os.getpid()}


def write(run_dir: Path, device, command: list[str] | None = None) -> Path:
    path = Path(run_dir) / "provenance.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(collect(device, command), indent=2))
    return path
