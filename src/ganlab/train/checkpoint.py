"""Checkpoints: atomic writes, weights_only loads, RNG capture and a config diff on resume."""
from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path

import torch

from ganlab.errors import BadFile
from ganlab.nested import flatten
from ganlab.track.atomic import replacing


def save_atomic(state: dict, path: Path) -> None:
    """Write to a temporary file and rename, so a crash mid-write (or a full disk: NoSpace) leaves the previous
    file intact."""
    with replacing(Path(path)) as tmp, open(tmp, "wb") as f:   # our handle: closed (its space freed) on failure
        torch.save(state, f)


def resolve(path: Path, names: tuple[str, ...] = ("last.pt",), what: str = "") -> Path:
    """A .pt file, a run directory or its checkpoints/ folder -> the checkpoint file: the first of `names`
    that exists there. `what` (e.g. "resume=RUN: ") starts the error when there is none."""
    path = Path(path)
    if path.is_file():
        return path
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    for name in names:
        if (folder / name).is_file():
            return folder / name
    expected = " or ".join(f"{path}/checkpoints/{n}" for n in names)
    raise FileNotFoundError(f"{what}no checkpoint at {path} (expected {expected}, or a .pt file)")


def load(path: Path, map_location="cpu", option: str = "", fresh: str = "") -> dict:
    """A ganlab checkpoint, loaded with weights_only=True (a pickle never runs code here). Any file that does
    not load is a BadFile naming the file, what is wrong with it and what to do: `option` is how the user
    names another checkpoint (e.g. "resume="), `fresh` how to go on without one (e.g. "resume=null")."""
    path = resolve(path)
    try:
        with warnings.catch_warnings():   # torch's warnings about an odd pickle protocol say nothing useful here
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:   # garbage makes torch's unpickler raise almost any type (IndexError, KeyError, ...)
        raise BadFile(f"{path}: {problem(path, e)}; {_instead(path, option, fresh)}") from None
    if not isinstance(state, dict) or "g" not in state:
        found = ", ".join(map(str, list(state)[:6])) if isinstance(state, dict) else type(state).__name__
        raise BadFile(f"{path}: not a ganlab checkpoint (no 'g' entry; found: {found or 'nothing'}); for an official "
                      f"model's weights use ganlab-import; {_instead(path, option, fresh)}")
    return state


def problem(path: Path, e: BaseException) -> str:
    """What is wrong with a checkpoint torch could not load, in a few words (never torch's advice to load
    it with weights_only=False)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))   # torch bolds part of its message with ANSI codes
    if path.stat().st_size == 0:
        return "the file is empty (0 bytes)"
    unsafe = re.search(r"GLOBAL (\S+)", text)
    if unsafe:
        return (f"it holds a Python object ({unsafe.group(1)}) that would run code when unpickled; ganlab loads "
                f"only tensors (weights_only=True) and did not run it")
    if isinstance(e, EOFError) or "central directory" in text or "zip archive" in text:
        return "the file is truncated or corrupt (not a complete checkpoint archive)"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = next((line for line in lines if line.startswith("Unsupported")), None) or \
        (f"{type(e).__name__}: {lines[0]}" if lines and not isinstance(e, pickle.UnpicklingError) else "")
    return f"not a PyTorch checkpoint{f' ({detail})' if detail else ''}"


def _instead(path: Path, option: str, fresh: str) -> str:
    """Another checkpoint next to `path` (best.pt first), and how to use it or go on without one."""
    others = sorted((p for p in path.parent.glob("*.pt") if p != path and p.stat().st_size > 0),
                    key=lambda p: (p.name != "best.pt", -p.stat().st_mtime))
    use = f"use another checkpoint ({option}{others[0]})" if others else \
        f"use another checkpoint{f' ({option}PATH)' if option else ''}"
    return f"{use}, or {fresh}" if fresh else use


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# Keys ganlab added after checkpoints existed, with the value that computes what runs without the key computed:
# a checkpoint without the key resumes under that value.
ADDED_KEYS = {"train.label_prior": "uniform"}


def config_diff(old: dict, new: dict, keys: list[str]) -> list[str]:
    """Lines `key: old -> new` for the keys (prefixes) under `keys` that differ."""
    a, b = {**ADDED_KEYS, **flatten(old)}, flatten(new)
    lines = []
    for k in sorted(set(a) | set(b)):
        if any(k == p or k.startswith(p + ".") for p in keys) and a.get(k, "<absent>") != b.get(k, "<absent>"):
            lines.append(f"  {k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}")
    return lines
