"""Reading run directories back for comparison: discovery, status, config differences, metrics,
and aggregation over seeds. Robust to partial runs: a crashed or still-running run is listed
with what it has, and unreadable metric lines are skipped and counted."""
from __future__ import annotations

import glob
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ganlab.track.jsonl import read_jsonl

RUNNING_WITHIN_S = 600          # no summary.json and a metrics line this recent: still running
IGNORED_KEYS = ("progress", "resume", "hardware.", "logger.", "train.log_every", "train.sample_every",
                "train.ckpt_every")
METRICS = ("fid", "is_mean", "kid", "precision", "recall")


@dataclass
class Run:
    path: Path
    config: dict = field(default_factory=dict)       # flattened
    status: str = "unknown"
    values: dict = field(default_factory=dict)       # fid_final, fid_best, ..., kimg, wall_s, img_s
    metrics: list = field(default_factory=list)      # metrics.jsonl rows
    evals: list = field(default_factory=list)        # eval.jsonl rows
    skipped_lines: int = 0


def is_run(d: Path) -> bool:
    return (d / ".hydra" / "config.yaml").is_file() or (d / "metrics.jsonl").is_file()


def find_runs(paths: list[str]) -> list[Path]:
    """Run directories under each PATH: a run, a multirun directory (every job), or a glob."""
    found: list[Path] = []
    for p in paths:
        matches = [Path(m) for m in sorted(glob.glob(p))] or [Path(p)]
        for m in matches:
            if not m.exists():
                raise FileNotFoundError(f"{m}: no such run or multirun directory")
            if is_run(m):
                found.append(m)
            else:
                found.extend(sorted((d.parent for d in m.rglob("metrics.jsonl") if is_run(d.parent)),
                                    key=lambda d: str(d)))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


def flatten(tree, prefix: str = "") -> dict:
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): json.dumps(tree) if isinstance(tree, (list, dict)) else tree}


def load_run(path: Path) -> Run:
    run = Run(path)
    cfg_file = path / ".hydra" / "config.yaml"
    if cfg_file.is_file():
        run.config = flatten(yaml.safe_load(cfg_file.read_text()) or {})
    run.metrics, bad_m = read_jsonl(path / "metrics.jsonl")
    run.evals, bad_e = read_jsonl(path / "eval.jsonl")
    run.skipped_lines = bad_m + bad_e
    summary = path / "summary.json"
    if summary.is_file():
        try:
            info = json.loads(summary.read_text())
            run.status = info.get("status", "unknown")
            run.values["wall_s"] = info.get("wall_time_s")
        except json.JSONDecodeError:
            run.status = "unreadable summary"
    else:
        recent = (path / "metrics.jsonl").is_file() and time.time() - (path / "metrics.jsonl").stat().st_mtime < RUNNING_WITHIN_S
        run.status = "running" if recent else ("crashed" if (path / "error.txt").is_file() else "stopped")
    if run.metrics:
        last = run.metrics[-1]
        run.values.update(kimg=last.get("kimg"), img_s=last.get("img_s"), step=last.get("step"))
        if run.values.get("wall_s") is None:   # no summary yet: the last metrics line's clock
            run.values["wall_s"] = last.get("time")
    for m in METRICS:
        vals = [e[m] for e in run.evals if isinstance(e.get(m), (int, float))]
        if vals:
            run.values[f"{m}_final"] = vals[-1]
            run.values[f"{m}_best"] = min(vals) if m in ("fid", "kid") else max(vals)
    return run


def differing_keys(runs: list[Run]) -> list[str]:
    keys = sorted({k for r in runs for k in r.config})
    out = []
    for k in keys:
        if any(k == i or k.startswith(i) for i in IGNORED_KEYS):
            continue
        if len({json.dumps(r.config.get(k), default=str) for r in runs}) > 1:
            out.append(k)
    return out


def mean_std(values: list) -> tuple[float, float, int]:
    nums = [v for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
    if not nums:
        return math.nan, math.nan, 0
    mu = sum(nums) / len(nums)
    sd = math.sqrt(sum((v - mu) ** 2 for v in nums) / (len(nums) - 1)) if len(nums) > 1 else 0.0
    return mu, sd, len(nums)


def group_runs(runs: list[Run], keys: list[str]) -> list[tuple[dict, list[Run]]]:
    """Runs with equal values of `keys`, in first-seen order: [(key values, runs)]."""
    groups: dict[str, tuple[dict, list[Run]]] = {}
    for r in runs:
        label = {k: r.config.get(k) for k in keys}
        groups.setdefault(json.dumps(label, default=str), (label, []))[1].append(r)
    return list(groups.values())
