"""The end of a sweep (ganlab-train -m): the jobs that failed are listed and the sweep exits 1.

A failed job does not stop the others (cli/train.py records it: summary.json `crashed` with the error, and
error.txt). Hydra runs this callback in the sweep's own process whatever the launcher (jobs may run in other
processes, under joblib or submitit), so it reads the jobs' summary.json files that this sweep wrote."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

FAILED: list[str] = []   # this process's failed sweep jobs, for ganlab-train's exit status (cli/train.py main)


class FailedJobs(Callback):
    def __init__(self) -> None:
        self.started = time.time()

    def on_multirun_start(self, config, **kwargs: Any) -> None:
        self.started = time.time()
        FAILED.clear()

    def on_multirun_end(self, config, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = []
        for path in sorted(sweep_dir.rglob("summary.json")):
            if path.stat().st_mtime < self.started - 1:   # an earlier sweep's job in the same folder
                continue
            try:
                summary = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                summary = {"status": "crashed", "error": f"unreadable {path.name}"}
            jobs.append((path.parent, summary))
        failed = [(d, s) for d, s in jobs if s.get("status") == "crashed"]
        FAILED[:] = [str(d) for d, _ in failed]
        if failed:
            print(f"[ganlab] {len(failed)} of {len(jobs)} sweep jobs failed:", file=sys.stderr)
            for d, s in failed:
                print(f"[ganlab]   {d}: {s.get('error') or 'no error recorded'}", file=sys.stderr)
