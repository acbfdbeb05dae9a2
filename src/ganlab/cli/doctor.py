"""ganlab-doctor RUN [RUN ...]: the known failure signatures each run shows, with the evidence and what to try.

RUN is a run directory, or a multirun directory (every job in it), or a glob. Per run: each finding (the
signature, the statistic with its steps and values, then the overrides to try), or "no known failure
signature". Findings are not errors: the exit status is 0. A path that holds no run is one line and exit 2.
The thresholds, each with its reason: ganlab.track.doctor.LIMITS (--limits prints them).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ganlab.cli.errors import command
from ganlab.errors import user_input
from ganlab.track.doctor import LIMITS, diagnose_run
from ganlab.track.runs import find_runs, load_run


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganlab-doctor", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="*", metavar="RUN")
    p.add_argument("--limits", action="store_true", help="print every threshold with its reason")
    return p


@command("ganlab-doctor")
def main(argv: list[str] | None = None) -> None:
    a = parser().parse_args(argv)
    if a.limits:
        for key, lim in LIMITS.items():
            print(f"{key} = {lim.value:g}: {lim.why}")
    if not a.runs:
        if not a.limits:
            parser().error("give at least one RUN")
        return
    with user_input():
        paths = find_runs(a.runs)
        if not paths:
            raise FileNotFoundError(f"no run directory under {' '.join(a.runs)} (a run has .hydra/config.yaml or "
                                    "metrics.jsonl)")
        runs = [load_run(p) for p in paths]
    for i, run in enumerate(runs):
        findings = diagnose_run(run)
        shown = run.path.relative_to(Path.cwd()) if run.path.is_relative_to(Path.cwd()) else run.path
        print(("\n" if i else "") + f"{shown} ({run.status}, step {run.values.get('step', '-')}): "
              + (f"{len(findings)} finding(s)" if findings else "no known failure signature"))
        for f in findings:
            print(f"  {f.signature}: {f.evidence}")
            for t in f.try_next:
                print(f"    try {t}")


if __name__ == "__main__":
    main()
