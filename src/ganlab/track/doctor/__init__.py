"""The run doctor: the ways GAN training is known to fail, each recognised in what a run directory logged
(metrics.jsonl, eval.jsonl, .hydra/config.yaml, error.txt), with the evidence (the statistic, the steps, the
values) and what to try next in ganlab's own overrides. experiments/README.md found every signature by hand;
LIMITS (limits.py) holds every threshold with the measurement behind it. The doctor reads a run directory only and
never changes training; a healthy run yields no finding.

    diagnose(run_dir) -> [Finding]        verdict_lines(findings) -> the lines a run ends its console with

The signatures live by what they look at: losses.py (the loss terms, a critic's scores), discriminator.py (D and
ADA's/APA's controller), samples.py (the evaluations); reading.py reads a Run for them, and this module orders them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ganlab.track.doctor.discriminator import adaptive_p_idle, adaptive_p_runaway, d_overfitting, d_rejects_reals, d_too_weak
from ganlab.track.doctor.finding import Finding
from ganlab.track.doctor.limits import LIMITS, Limit, limit
from ganlab.track.doctor.losses import critic_drift, loss_diverged
from ganlab.track.doctor.samples import class_not_learned, collapse_in_class, fid_stalled
from ganlab.track.runs import Run, load_run

__all__ = ["LIMITS", "SIGNATURES", "Finding", "Limit", "diagnose", "diagnose_run", "limit", "verdict", "verdict_lines"]


# In the order a reader should take them: a broken loss or controller first, then what D does, then what shows in
# the samples (a class not learned is most often the consequence of one of the others).
SIGNATURES: tuple[Callable[[Run], Finding | None], ...] = (
    loss_diverged, adaptive_p_runaway, critic_drift, d_rejects_reals, adaptive_p_idle, d_overfitting,
    collapse_in_class, d_too_weak, fid_stalled, class_not_learned)


def diagnose_run(run: Run) -> list[Finding]:
    return [f for check in SIGNATURES if (f := check(run)) is not None]


def diagnose(run_dir: Path | str) -> list[Finding]:
    """The failure signatures a run directory shows; [] for a healthy run."""
    return diagnose_run(load_run(Path(run_dir)))


def verdict(findings: list[Finding]) -> str:
    """One word or a list of names, for a table column."""
    return ", ".join(f.signature for f in findings) if findings else "healthy"


def verdict_lines(findings: list[Finding], tries: int = 1) -> list[str]:
    """Short lines for the end of a training run's console output: each finding, its evidence and what to try."""
    if not findings:
        return ["doctor: no known failure signature"]
    lines = [f"doctor: {verdict(findings)}"]
    for f in findings:
        lines.append(f"  {f.signature}: {f.evidence}")
        lines += [f"    try {t}" for t in f.try_next[:tries]]
    return lines
