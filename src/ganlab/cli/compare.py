"""ganlab-compare PATH...: a table (and optionally CSV, Markdown, a plot) over run directories.

PATH is a run directory, a multirun directory (all its jobs) or a glob. Runs are labelled by what
the user chose (Hydra group choices such as regularizer=[diffaugment] or +experiment=..., and the
keys set on the command line); the columns are the headline metrics (FID final with its bootstrap
interval, best FID, IS, precision, recall, kimg, wall time); --all shows the rest. The doctor column
is ganlab-doctor's verdict per run: "healthy" or the failure signatures it found. The git commit
is shown when runs differ in it. Runs measured under different evaluation protocols are refused
unless --allow-mixed protocol. --group-by aggregates seeds: mean ± seed sd (n), next to the FID's
sampling sd; with --baseline KEY=VALUE each group's gap to that group gets a Welch t-test, with
Holm's correction over the groups tested.
--html PATH writes the same table, the metric curves, each run's grids, losses, protocol and
provenance into one self-contained page (ganlab-report RUN... --out PATH is the same command).
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ganlab.cli.errors import command
from ganlab.errors import user_input
from ganlab.track.compare import (
    EXTRA,
    HEADLINE,
    SIGNALS,
    SOURCE,
    group_rows,
    label_columns,
    protocol_check,
    run_notes,
    run_rows,
    series_against,
)
from ganlab.track.runs import find_runs, load_run

OPTIONAL = EXTRA + SIGNALS   # the columns shown with --all, or one by one with --columns


def parser(prog: str = "ganlab-compare") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__)
    p.add_argument("paths", nargs="+")
    p.add_argument("--group-by", nargs="*", default=None, metavar="KEY",
                   help="aggregate runs equal in these labels (no KEY: every label column but seed)")
    p.add_argument("--baseline", metavar="KEY=VALUE", help="with --group-by: test each group's gap to this group")
    p.add_argument("--metric", default="fid_final", help="the value --baseline tests (default fid_final)")
    p.add_argument("--allow-mixed", choices=["protocol"], help="show runs measured under different protocols, marked")
    p.add_argument("--protocol", help="use the eval lines of this protocol hash (default: each run's latest)")
    p.add_argument("--all", action="store_true", help="every metric column and every differing config key")
    p.add_argument("--columns", default="", help=f"extra columns, comma-separated: {', '.join(OPTIONAL)}, or any key "
                   "of metrics.jsonl (its last logged value, e.g. reg/apa/p,loss/g/total)")
    p.add_argument("--sort", default=None, help=f"a column: {', '.join(SOURCE)}")
    p.add_argument("--csv", type=Path)
    p.add_argument("--markdown", type=Path)
    p.add_argument("--plot", type=Path)
    p.add_argument("--plot-against", nargs=2, metavar=("KEY", "PATH"),
                   help="plot --metric (mean and seed sd over runs equal in every other label) against the numeric "
                        "config key KEY, one line per group of the other labels (--group-by's, if given), into PATH")
    p.add_argument("--html", type=Path, help="write a self-contained HTML report of these runs")
    return p


def compared(a: argparse.Namespace, prog: str = "ganlab-compare"):
    """-> (runs, label columns, header, rows, note on mixed protocols): what every output shows."""
    with user_input():
        paths = find_runs(a.paths)
        if not paths:   # a user error: one line, exit 2
            raise FileNotFoundError(f"no run directory under {' '.join(a.paths)} (a run has .hydra/config.yaml or "
                                    "metrics.jsonl)")
        runs = [load_run(path, a.protocol) for path in paths]
    error, note = protocol_check(runs, a.allow_mixed == "protocol")
    if error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        raise SystemExit(2)
    labels = label_columns(runs, a.all)
    commits = {r.commit for r in runs}
    if len(commits) > 1:
        for r in runs:
            r.choices["commit"] = r.commit or "-"
        labels.append("commit")
    extra = [c for c in a.columns.split(",") if c]
    logged = {k for r in runs for k in r.values if "/" in k}   # any key of metrics.jsonl, by its own name
    unknown = [c for c in extra if c not in SOURCE and c not in logged]
    if unknown:
        raise SystemExit(f"{prog}: error: unknown --columns {unknown}; available: {', '.join(OPTIONAL)}, "
                         f"or any key these runs logged in metrics.jsonl ({', '.join(sorted(logged)[:8])}, ...)")
    columns = list(dict.fromkeys(HEADLINE + (OPTIONAL if a.all else []) + extra))
    if a.group_by is not None:
        keys = a.group_by or [k for k in labels if k != "seed"]
        baseline = tuple(a.baseline.split("=", 1)) if a.baseline else None
        if baseline and len(baseline) != 2:
            raise SystemExit(f"{prog}: error: --baseline needs KEY=VALUE, got '{a.baseline}'")
        try:
            rows = group_rows(runs, keys, columns, baseline, a.metric)
        except ValueError as e:
            raise SystemExit(f"{prog}: error: {e}") from None
        labels = keys
    else:
        mark = max({r.protocol_hash for r in runs if r.protocol_hash}, key=lambda h: sum(r.protocol_hash == h for r in runs)) if note else None
        rows = run_rows(runs, labels, columns, mark)
    if a.sort:
        if a.sort not in SOURCE and a.sort not in logged:
            raise SystemExit(f"{prog}: error: unknown --sort '{a.sort}'; available: {', '.join(SOURCE)}")
        rows.sort(key=lambda r: (math.isnan(v := r["_sort"].get(SOURCE.get(a.sort, a.sort), math.nan) or math.nan), v))
    fixed = ("run", "status", "doctor")   # the doctor's verdict beside the status: healthy, or its signatures
    header = [*fixed, *labels, *[c for c in rows[0] if c not in (*fixed, "_sort", *labels)
                                 and any(r.get(c, "-") != "-" for r in rows)]]
    return runs, labels, header, rows, note


@command("ganlab-compare")
def main(argv: list[str] | None = None) -> None:
    a = parser().parse_args(argv)
    runs, plot_labels, header, rows, note = compared(a)
    table = Table(title=f"{len(runs)} runs", show_lines=False, pad_edge=False, collapse_padding=True)
    for h in header:
        table.add_column(escape(h), overflow="fold")
    for r in rows:
        table.add_row(*[escape(r.get(h, "-")) for h in header])   # '[diffaugment]' is a label, not markup
    Console(width=None if sys.stdout.isatty() else (250 if a.all else 120)).print(table)
    for line in ([note] if note else []) + run_notes(runs):
        print(line)
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows([[r.get(h, "-") for h in header] for r in rows])
    if a.markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r.get(h, "-") for h in header) + " |" for r in rows]
        a.markdown.write_text("\n".join(lines) + "\n")
    if a.plot:
        from ganlab.track.plots import plot_comparison
        print(f"wrote {plot_comparison(runs, [k for k in plot_labels if k != 'seed'], a.plot)}")
    if a.plot_against:
        from ganlab.track.plots import plot_against
        key, path = a.plot_against
        try:
            lines = series_against(runs, plot_labels, key, a.metric)
        except ValueError as e:
            raise SystemExit(f"ganlab-compare: error: {e}") from None
        print(f"wrote {plot_against(lines, key, a.metric, Path(path))}")
    if a.html:
        write_report(a.html, runs, header, rows, note, plot_labels)


def write_report(path: Path, runs, header, rows, note, labels) -> None:
    from ganlab.track.report import render
    path.parent.mkdir(parents=True, exist_ok=True)
    notes = ([note] if note else []) + run_notes(runs)
    path.write_text(render(runs, header, rows, notes, labels, title=f"ganlab report: {len(runs)} runs"))
    print(f"wrote {path}")


@command("ganlab-report")
def report(argv: list[str] | None = None) -> None:
    """ganlab-report RUN_OR_SWEEP... --out report.html [any ganlab-compare option]: the HTML report alone."""
    p = parser("ganlab-report")
    p.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    a = p.parse_args(argv)
    runs, plot_labels, header, rows, note = compared(a, "ganlab-report")
    write_report(a.out, runs, header, rows, note, plot_labels)


if __name__ == "__main__":
    main()
