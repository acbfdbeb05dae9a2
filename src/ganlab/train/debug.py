"""Debug modes behind the `debug/` presets: overfit one fixed batch, profile a few steps.

+debug=overfit feeds D the same real batch at every step (OneBatch), so a healthy G/D pair
reproduces that batch; +debug=profile wraps training in torch.profiler, writes a Chrome trace
to RUN_DIR/profile/trace.json and prints the top operations.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import torch


class OneBatch:
    """A batch source that returns its first batch forever (the data's own sampler draws it once)."""

    def __init__(self, batches):
        self.batches = batches
        self.batch = None

    @property
    def data(self):
        return self.batches.data   # the data set (the trainer counts epochs over it)

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.batch is None:
            self.batch = self.batches.next()
        return self.batch

    def preview(self, n: int) -> torch.Tensor:
        return self.next()[0][:n]

    def state_dict(self) -> dict:
        return {"batch": [t.cpu() if t is not None else None for t in self.next()]}

    def load_state_dict(self, state: dict) -> None:
        real, y = state["batch"]
        device = self.batches.device if hasattr(self.batches, "device") else real.device
        self.batch = (real.to(device), y.to(device) if y is not None else None)


@contextlib.contextmanager
def profiled(run_dir: Path, rows: int = 15):
    """Profile the block (CPU, and CUDA when there is a GPU); trace to RUN_DIR/profile/trace.json."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=activities) as prof:
        yield prof
    path = Path(run_dir) / "profile" / "trace.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    prof.export_chrome_trace(str(path))
    sort = "self_cuda_time_total" if torch.cuda.is_available() else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=sort, row_limit=rows)
    (path.parent / "top_ops.txt").write_text(table + "\n")
    print(table)
    print(f"profile: trace written to {path} (open in chrome://tracing or https://ui.perfetto.dev)")
