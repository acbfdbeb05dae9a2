"""Where a run's time went: seconds per named part, accumulated over the run (start-up, the training
loop, sample grids, evaluation, checkpoints, plots, provenance), written to summary.json as `time_s` and
printed as one line at the end. Evaluation lines carry their own split (generating, embedding, each metric)."""
from __future__ import annotations

import contextlib
import time
from collections import defaultdict


class Timer:
    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def __call__(self, part: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[part] += time.perf_counter() - t

    def add(self, part: str, seconds: float) -> None:
        self.seconds[part] += seconds

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in self.seconds.items()}

    def line(self) -> str:
        """'time 312.4 s: train 250.1 (80%), eval 30.2 (10%), ...', largest first."""
        total = sum(self.seconds.values()) or 1e-9
        parts = sorted(self.seconds.items(), key=lambda kv: -kv[1])
        return f"time {total:.1f} s: " + ", ".join(f"{k} {v:.1f} ({100 * v / total:.0f}%)" for k, v in parts)
