"""The always-on logger: one JSON object per line, appended and flushed."""
from __future__ import annotations

import json
import math
from pathlib import Path

from ganlab.registry import LOGGERS
from ganlab.track.atomic import appending, replacing


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/inf; keep them visible as strings
    return v


def _append(path: Path, row: dict) -> None:
    with appending(path) as f:   # a failed write (a full disk) leaves no half line
        f.write(json.dumps({k: _clean(v) for k, v in row.items()}) + "\n")


class JsonlLogger:
    """metrics.jsonl (a row per logged step) and eval.jsonl (a line per evaluation) in the run directory."""

    def __init__(self, run_dir: Path):
        self.path, self.eval_path = Path(run_dir) / "metrics.jsonl", Path(run_dir) / "eval.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, row: dict) -> None:
        _append(self.path, row)

    def log_images(self, name: str, path: Path, step: int) -> None:
        pass

    def log_eval(self, result: dict) -> None:
        _append(self.eval_path, result)

    def close(self) -> None:
        pass


@LOGGERS.register("jsonl")
def jsonl(run_dir: Path, config: dict, sweep: str | None = None) -> list:
    """Nothing beyond metrics.jsonl and eval.jsonl, which every run writes whatever loggers are listed."""
    return []


def read_jsonl(path: Path) -> tuple[list[dict], int]:
    """All readable rows of a .jsonl file and the number of unreadable lines skipped."""
    rows, bad = [], 0
    path = Path(path)
    if not path.is_file():
        return rows, bad
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad += 1
    return rows, bad


def drop_after(path: Path, step: int) -> int:
    """Remove the rows of a .jsonl log whose step is beyond `step` (what a killed run wrote after its
    last checkpoint), so a resumed run logs every step once. Unreadable lines are kept. -> rows dropped."""
    path = Path(path)
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] > step:
            dropped += 1
        else:
            kept.append(line)
    if dropped:
        with replacing(path) as tmp:
            tmp.write_text("".join(x + "\n" for x in kept))
    return dropped
