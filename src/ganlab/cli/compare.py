"""ganlab-compare PATH...: a table (and optionally CSV, Markdown, a plot) over run directories.

PATH is a run directory, a multirun directory (all its jobs) or a glob. Rows show each run's
status, the config keys that differ between the runs (only those), final/best metrics, images
seen, wall time and img/s. --group-by (default: every differing key but seed) aggregates seeds
as mean ± std (n).
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ganlab.cli.errors import command
from ganlab.errors import user_input
from ganlab.track.runs import METRICS, differing_keys, find_runs, group_runs, load_run, mean_std

COLUMNS = [f"{m}_{w}" for m in METRICS for w in ("final", "best")] + ["kimg", "wall_s", "img_s"]


def fmt(v) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.4g}"
    return "-" if v is None else str(v)


def rows_for(runs, keys, group_by):
    """Table rows (dicts of strings) and their numeric values, per run or per group."""
    if group_by is None:
        return [{"run": r.path.name, "status": r.status, **{k: fmt(r.config.get(k)) for k in keys},
                 **{c: fmt(r.values.get(c)) for c in COLUMNS}, "_sort": r.values} for r in runs]
    rows = []
    for label, members in group_runs(runs, group_by):
        row = {"run": f"{len(members)} runs", "status": ",".join(sorted({m.status for m in members})),
               **{k: fmt(v) for k, v in label.items()}, "_sort": {}}
        for c in COLUMNS:
            mu, sd, n = mean_std([m.values.get(c) for m in members])
            row[c] = "-" if n == 0 else (f"{mu:.4g} ± {sd:.2g} (n={n})" if n > 1 else f"{mu:.4g}")
            row["_sort"][c] = mu
        rows.append(row)
    return rows


@command("ganlab-compare")
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ganlab-compare", description=__doc__)
    p.add_argument("paths", nargs="+")
    p.add_argument("--group-by", nargs="*", default=None, metavar="KEY",
                   help="aggregate runs equal in these keys (given with no KEY: every differing key but seed)")
    p.add_argument("--sort", default=None, help=f"a column: {', '.join(COLUMNS)}")
    p.add_argument("--csv", type=Path)
    p.add_argument("--markdown", type=Path)
    p.add_argument("--plot", type=Path)
    a = p.parse_args(argv)
    with user_input():
        runs = [load_run(path) for path in find_runs(a.paths)]
    if not runs:
        raise SystemExit(f"no runs found under {' '.join(a.paths)}")
    keys = differing_keys(runs)
    group_by = None
    if a.group_by is not None:
        group_by = a.group_by or [k for k in keys if k != "seed"]
        keys = group_by
    rows = rows_for(runs, keys, group_by)
    if a.sort:
        if a.sort not in COLUMNS:
            raise SystemExit(f"unknown --sort '{a.sort}'; available: {', '.join(COLUMNS)}")
        rows.sort(key=lambda r: (math.isnan(v := r["_sort"].get(a.sort, math.nan) or math.nan), v))
    header = ["run", "status", *keys, *[c for c in COLUMNS if any(r[c] != "-" for r in rows)]]
    table = Table(title=f"{len(runs)} runs", show_lines=False)
    for h in header:
        table.add_column(h, overflow="fold")
    for r in rows:
        table.add_row(*[r[h] for h in header])
    Console(width=None if sys.stdout.isatty() else 250).print(table)   # piped: never fold columns
    skipped = sum(r.skipped_lines for r in runs)
    if skipped:
        print(f"skipped {skipped} unreadable metrics line(s)")
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows([[r[h] for h in header] for r in rows])
    if a.markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r[h] for h in header) + " |" for r in rows]
        a.markdown.write_text("\n".join(lines) + "\n")
    if a.plot:
        from ganlab.track.plots import plot_comparison
        plot_comparison(runs, keys if group_by is None else group_by, a.plot)


if __name__ == "__main__":
    main()
