"""One self-contained HTML page for a set of runs (ganlab-report, ganlab-compare --html): the compare table
(sortable by clicking a header), the metrics against kimg for every run, and per run its loss curves
(with D(x) / D(G(z)) and regularizer state such as APA's p), its latest sample grid beside the real one,
the memorization pairs where measured, the doctor's findings, its protocol fingerprint and its provenance;
notes say what the table cannot (an eval.jsonl whose last line is cut, unreadable lines skipped). Images are embedded
as data URIs and the one script is inline: the file opens in a browser with no server and no network."""
from __future__ import annotations

import base64
import datetime
import html
import io
import json
from pathlib import Path

from ganlab.track.doctor import diagnose_run
from ganlab.track.runs import Run

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1500px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; white-space: nowrap; }
th { background: #f2f2f2; cursor: pointer; user-select: none; }
th.sorted-asc::after { content: " \\25B2"; } th.sorted-desc::after { content: " \\25BC"; }
.run { border-top: 2px solid #888; margin-top: 28px; padding-top: 8px; }
.grids { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
.grids figure { margin: 0; } figcaption { font-size: 12px; color: #555; }
img.pixel { image-rendering: pixelated; }
pre { background: #f7f7f7; padding: 6px; font-size: 12px; white-space: pre-wrap; max-width: 1400px; }
.note { color: #a15c00; }
"""

SCRIPT = """
document.querySelectorAll('table.sortable th').forEach((th, col) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0], asc = !th.classList.contains('sorted-asc');
  th.parentNode.querySelectorAll('th').forEach(h => h.classList.remove('sorted-asc', 'sorted-desc'));
  th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
  const key = r => { const t = r.cells[col].textContent.trim(), n = parseFloat(t); return isNaN(n) ? t : n; };
  [...body.rows].sort((a, b) => { const x = key(a), y = key(b);
    return (typeof x === typeof y ? (x > y) - (x < y) : typeof x === 'number' ? -1 : 1) * (asc ? 1 : -1);
  }).forEach(r => body.appendChild(r));
}));
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def image(path: Path | None, caption: str, width: int | None = None) -> str:
    if path is None or not Path(path).is_file():
        return ""
    style = f' style="width:{width}px"' if width else ""
    return (f'<figure><img class="pixel" src="{data_uri(Path(path).read_bytes())}"{style} alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def latest(run: Run, folder: str, pattern: str) -> Path | None:
    found = sorted((run.path / folder).glob(pattern))
    return found[-1] if found else None


def table(header: list[str], rows: list[dict]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(h, '-')))}</td>" for h in header) + "</tr>" for r in rows)
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def figure_png(fig) -> bytes:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def doctor_section(run: Run) -> str:
    """The doctor's findings in full: each signature, its evidence and what to try."""
    findings = diagnose_run(run)
    if not findings:
        return "<p>doctor: no known failure signature</p>"
    items = "".join(f"<li><b>{html.escape(f.signature)}</b>: {html.escape(f.evidence)}<br>try: "
                    f"{'; '.join(f'<code>{html.escape(t)}</code>' for t in f.try_next)}</li>" for f in findings)
    return f'<p class="note">doctor:</p><ul class="doctor">{items}</ul>'


def run_section(run: Run) -> str:
    prov = run.provenance or {}
    git = prov.get("git") or {}
    command = " ".join(prov.get("command") or []) or "-"
    protocol = json.dumps(run.protocol, indent=1, sort_keys=True) if run.protocol else "no evaluation"
    grid = latest(run, "samples", "step_*.png")
    parts = [
        f'<div class="run" id="{html.escape(run.path.name)}"><h3>{html.escape(str(run.path))}</h3>',
        f"<p>status {html.escape(run.status)}; commit {html.escape(str(git.get('commit') or '-')[:12])}"
        f"{' (dirty)' if git.get('dirty') else ''}; device {html.escape(str(prov.get('device', '-')))}</p>",
        f"<pre>{html.escape(command)}</pre>",
        doctor_section(run),
        '<div class="grids">',
        image(grid, f"samples, {grid.stem.replace('step_', 'step ').lstrip('0') if grid else ''}", 320),
        image(run.path / "samples" / "real.png", "real images", 320),
        image(latest(run, "eval", "memorization_step_*.png"), "closest generated / training pairs", 320),
        "</div>",
        image(run.path / "plots" / "losses.png", "losses, D(x) / D(G(z)), regularizer state", 1200),
        f"<details><summary>protocol {html.escape(str(run.protocol_hash or '-'))}</summary><pre>{html.escape(protocol)}</pre></details>",
        "</div>",
    ]
    return "\n".join(p for p in parts if p)


def render(runs: list[Run], header: list[str], rows: list[dict], notes: list[str], labels: list[str],
           title: str = "ganlab report") -> str:
    """The page as a string (see the module docstring)."""
    from ganlab.track.plots import comparison_figure
    fig = comparison_figure(runs, [k for k in labels if k != "seed"])
    curves = f'<img src="{data_uri(figure_png(fig))}" alt="metrics against kimg">' if fig is not None else \
        "<p>no evaluations in these runs</p>"
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    protocols = sorted({r.protocol_hash for r in runs if r.protocol_hash})
    return "\n".join([
        "<!DOCTYPE html>", f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>',
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{len(runs)} runs, written {stamp}; evaluation protocols: "
        f"{html.escape(', '.join(protocols) or 'none')}</p>",
        *[f'<p class="note">{html.escape(n)}</p>' for n in notes],
        "<h2>Runs</h2>", table(header, rows),
        "<h2>Metrics against kimg</h2>", curves,
        "<h2>Each run</h2>", *[run_section(r) for r in runs],
        f"<script>{SCRIPT}</script></body></html>"])
