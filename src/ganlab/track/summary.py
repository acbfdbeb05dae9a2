"""summary.json: what a run did, written when it stops (finished, preempted, interrupted or crashed)."""
from __future__ import annotations

import json
from pathlib import Path

from ganlab.track.atomic import replacing
from ganlab.track.jsonl import read_jsonl


def previous_wall_time(run_dir: Path) -> float:
    """The wall time that the run's earlier segments (before a resume) recorded."""
    path = Path(run_dir) / "summary.json"
    return json.loads(path.read_text()).get("wall_time_s", 0.0) if path.is_file() else 0.0


def summarize(run_dir: Path, status: str, *, step: int, steps: int, images_seen: int, wall_time_s: float,
              final: dict, time_s: dict, signal: str | None = None, error: str | None = None) -> dict:
    """The summary of a run from its counters and its eval.jsonl: the final and the best evaluation."""
    evals, _ = read_jsonl(Path(run_dir) / "eval.jsonl")
    return {
        "status": status, "step": step, "steps": steps, "images_seen": images_seen,
        "wall_time_s": round(wall_time_s, 2), "final": final,
        "final_eval": evals[-1] if evals else None,
        "best_eval": min((e for e in evals if "fid" in e), key=lambda e: e["fid"], default=None),
        "time_s": time_s,
        **({"signal": signal} if signal and status in ("preempted", "interrupted") else {}),
        **({"error": error} if error else {}),   # why a crashed run stopped, in one line
    }


def write(run_dir: Path, summary: dict) -> None:
    with replacing(Path(run_dir) / "summary.json") as tmp:   # never a truncated summary.json (a full disk)
        tmp.write_text(json.dumps(summary, indent=2))
