"""Checkpoints: atomic writes, weights_only loads, RNG capture and a config diff on resume."""
from __future__ import annotations

import os
from pathlib import Path

import torch


def save_atomic(state: dict, path: Path) -> None:
    """Write to a temporary file and rename, so a crash mid-write leaves the previous file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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


def load(path: Path, map_location="cpu") -> dict:
    return torch.load(resolve(path), map_location=map_location, weights_only=True)


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def flatten(tree, prefix: str = "") -> dict:
    """Nested dicts -> {"a.b.c": leaf}; an empty dict is a leaf of its own."""
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): tree}


def config_diff(old: dict, new: dict, keys: list[str]) -> list[str]:
    """Lines `key: old -> new` for the keys (prefixes) under `keys` that differ."""
    a, b = flatten(old), flatten(new)
    lines = []
    for k in sorted(set(a) | set(b)):
        if any(k == p or k.startswith(p + ".") for p in keys) and a.get(k, "<absent>") != b.get(k, "<absent>"):
            lines.append(f"  {k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}")
    return lines
