"""Stopping cleanly when a scheduler asks. A cluster stops a job with SIGTERM (SLURM preemption or its time
limit, submitit, kill) or warns it with SIGUSR1 (sbatch --signal=USR1@60), not with kill -9.

While the trainer runs, the handler only records the signal. The trainer finishes the iteration it is in,
agrees with every rank to stop at that step, writes last.pt atomically, marks summary.json `preempted` and
returns. The handlers in place before are then restored, and `forward()` hands them the signal: by default
the process ends with it (exit status 143 for SIGTERM), under submitit the job is requeued. The requeued
job (or the same command run again) continues from last.pt with resume=auto, losing no step.

Ctrl-C (SIGINT) is recorded the same way: the step finishes, last.pt is written and the run is marked
`interrupted`; ganlab-train then exits with status 130. A second Ctrl-C stops at once (KeyboardInterrupt),
for a step or an evaluation that takes too long."""
from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


class StopRequest:
    """A context manager that records SIGTERM / SIGUSR1 / SIGINT (main thread only: elsewhere it records
    nothing); a second SIGINT raises KeyboardInterrupt."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._record) for s in SIGNALS}
        return self

    def _record(self, signum, frame) -> None:
        if signum == signal.SIGINT and self.signum == signal.SIGINT:
            raise KeyboardInterrupt   # the second Ctrl-C: stop now, without the checkpoint
        self.signum = signum

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}

    @property
    def name(self) -> str | None:
        return signal.Signals(self.signum).name if self.signum is not None else None


def forward(name: str | None) -> None:
    """Raise the recorded signal again, now for the handler that was there before training."""
    if name:
        signal.raise_signal(getattr(signal, name))
