"""The always-on logger: one JSON object per line, appended and flushed."""
from __future__ import annotations

import json
import math
from pathlib import Path


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/inf; keep them visible as strings
    return v


class JsonlLogger:
    def __init__(self, run_dir: Path, filename: str = "metrics.jsonl"):
        self.path = Path(run_dir) / filename
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, row: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({k: _clean(v) for k, v in row.items()}) + "\n")

    def log_images(self, name: str, path: Path, step: int) -> None:
        pass

    def log_eval(self, result: dict) -> None:
        pass   # the trainer writes eval.jsonl itself

    def close(self) -> None:
        pass


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
