"""Training plots from metrics.jsonl and eval.jsonl (plots/losses.png, plots/metrics.png)."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ganlab.track.atomic import replacing  # noqa: E402
from ganlab.track.jsonl import read_jsonl  # noqa: E402


def _series(rows: list[dict], key: str, x: str = "step"):
    pts = [(r[x], r[key]) for r in rows if isinstance(r.get(key), (int, float)) and x in r]
    return [p[0] for p in pts], [p[1] for p in pts]


def _panel(ax, rows, keys, title, x="step"):
    for k in keys:
        xs, ys = _series(rows, k, x)
        if xs:
            ax.plot(xs, ys, label=k, lw=1.2)
    ax.set_title(title)
    ax.set_xlabel(x)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7)


def plot_run(run_dir: Path) -> list[Path]:
    run_dir = Path(run_dir)
    out = []
    rows, _ = read_jsonl(run_dir / "metrics.jsonl")
    if rows:
        keys = sorted({k for r in rows for k in r})
        d_keys = [k for k in keys if k.startswith("loss/d/")]
        g_keys = [k for k in keys if k.startswith("loss/g/")]
        prob_keys = [k for k in keys if k.startswith("D(")]
        other = [k for k in keys if k.startswith("reg/") or k.startswith("lr_")]
        fig, axes = plt.subplots(1, 4, figsize=(18, 3.8))
        _panel(axes[0], rows, d_keys, "discriminator losses")
        _panel(axes[1], rows, g_keys, "generator losses")
        _panel(axes[2], rows, prob_keys, "D(x), D(G(z)) (sigmoid of logits)")
        _panel(axes[3], rows, other, "learning rates and regularizer state")
        fig.subplots_adjust(left=0.045, right=0.99, bottom=0.14, top=0.92, wspace=0.26)   # fixed: a third of tight_layout's cost
        out.append(_save(fig, run_dir / "plots" / "losses.png"))
    evals, _ = read_jsonl(run_dir / "eval.jsonl")
    if evals:
        fig = metric_grid([(evals, None, "C0")])
        if fig is not None:
            out.append(_save(fig, run_dir / "plots" / "metrics.png"))
    return out


# (title, keys, band: key of a [lo, hi] list or of a std, constant reference line)
PANELS = [("FID (band: bootstrap CI, dashed: real-vs-real floor)", ["fid"], "fid_ci", "fid_floor"),
          ("IS (band: ± std over splits)", ["is_mean"], "is_std", None),
          ("KID", ["kid"], "kid_std", None),
          ("precision / recall", ["precision", "recall"], None, None),
          ("density / coverage", ["density", "coverage"], None, None),
          ("memorization: fraction of copies", ["mem_fraction"], None, None),
          ("D accuracy (real vs fake)", ["d_accuracy"], None, None),
          ("class accuracy / recall", ["class_acc", "class_recall"], None, None)]
# what D did between evaluations (metrics.jsonl), shown beside the metrics in a comparison over images seen
SIGNAL_PANELS = [("E[sign D(real)] (training)", ["d/sign_real"], None, None),
                 ("adaptive p", ["reg/apa/p", "reg/ada/p"], None, None)]


def _band(rows, key, band, x):
    pts = [(r[x], r[key], r[band]) for r in rows if isinstance(r.get(key), (int, float)) and band in r and x in r]
    lo = [b[0] if isinstance(b, list) else v - b for _, v, b in pts]
    hi = [b[1] if isinstance(b, list) else v + b for _, v, b in pts]
    return [p[0] for p in pts], lo, hi


def metric_grid(series: list[tuple[list[dict], str | None, str]], x: str = "step", panels=PANELS):
    """A compact grid of the panels that have data: one line per (rows, label, colour) series."""
    panels = [p for p in panels if any(_series(rows, k, x)[0] for rows, _, _ in series for k in p[1])]
    if not panels:
        return None
    cols = min(3, len(panels))
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.0 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    shared = sum(1 for _, label, _ in series if label) > 1   # several runs: one legend under the panels
    for ax, (title, keys, band, floor) in zip(axes.flat, panels):
        for rows, label, colour in series:
            for i, k in enumerate(keys):
                xs, ys = _series(rows, k, x)
                if not xs:
                    continue
                name = (label if i == 0 else None) if shared else \
                    " ".join(filter(None, [label, k if len(keys) > 1 else None])) or None
                ax.plot(xs, ys, color=colour, ls=("-", "--")[i % 2] if len(keys) > 1 else "-", lw=1.3, label=name,
                        marker="o" if len(xs) <= 30 else None, ms=3)   # a run evaluated once is one point
                if band:
                    bx, lo, hi = _band(rows, k, band, x)
                    if bx:
                        ax.fill_between(bx, lo, hi, color=colour, alpha=0.18, lw=0)
            if floor:
                fx, fy = _series(rows, floor, x)
                if fy:
                    ax.axhline(fy[-1], color=colour, ls=":", lw=1)
        values = [y for line in ax.lines for y in line.get_ydata()]
        if values and min(values) > 0 and max(values) / min(values) > 50:
            ax.set_yscale("log")                                          # runs orders of magnitude apart
        styles = ", ".join(f"{('solid', 'dashed')[i % 2]}: {k}" for i, k in enumerate(keys)) if shared and len(keys) > 1 else ""
        ax.set_title(f"{title} ({styles})" if styles else title, fontsize=9)
        ax.set_xlabel(x, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if not shared and any(line.get_label() and not line.get_label().startswith("_") for line in ax.lines):
            ax.legend(fontsize=6)
    if not shared:
        fig.tight_layout()
        return fig
    entries = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    height = 0.22 * len(entries) + 0.3                                   # inches for the legend's lines
    fig.set_figheight(fig.get_figheight() + height)
    fig.legend(list(entries.values()), list(entries), loc="lower left", fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, height / fig.get_figheight(), 1, 1))
    return fig


def _save(fig, path: Path) -> Path:
    try:
        with replacing(path) as tmp:   # never a truncated PNG (a full disk)
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)
    return path


def comparison_figure(runs, keys: list[str]):
    """The metrics grid of plot_run over images seen, one colour per label (the differing choices), with what D
    did in training (E[sign D(real)], an adaptive p) beside it; None when no run has an evaluation."""
    labels = [", ".join(f"{k.split('.')[-1]}={r.label(k)}" for k in keys if k != "seed" and r.label(k) is not None)
              or r.path.name for r in runs]   # a key this run's config lacks (another model's width) says nothing
    distinct = list(dict.fromkeys(labels))
    palette = plt.get_cmap("tab20" if len(distinct) > 10 else "tab10")   # no two labels share a colour up to 20
    colours = {lab: palette(i % palette.N) for i, lab in enumerate(distinct)}
    shown, series = set(), []
    for r, lab in zip(runs, labels):
        series.append((r.evals + r.metrics, None if lab in shown else lab, colours[lab]))
        shown.add(lab)
    if not any(r.evals for r in runs):
        return None
    return metric_grid(series, x="kimg", panels=PANELS + SIGNAL_PANELS)


def plot_against(lines: dict[str, dict[float, list[float]]], x_key: str, metric: str, path: Path) -> Path:
    """One line per group: the mean of `metric` at each x, with error bars of one seed sd (n > 1); a log x axis
    when x spans more than 10x, a log y axis when the means do."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    xs_all, means_all = [], []
    for i, (label, by_x) in enumerate(lines.items()):
        xs = sorted(by_x)
        means = [sum(by_x[x]) / len(by_x[x]) for x in xs]
        sds = [(sum((v - m) ** 2 for v in by_x[x]) / (len(by_x[x]) - 1)) ** 0.5 if len(by_x[x]) > 1 else 0.0
               for x, m in zip(xs, means)]
        n = sorted({len(by_x[x]) for x in xs})
        ax.errorbar([x * (1 + 0.03 * (i - len(lines) / 2)) for x in xs], means, yerr=sds, marker="o", ms=4, capsize=3,
                    color=f"C{i % 10}", label=f"{label} (n={'/'.join(map(str, n))})")
        xs_all += xs
        means_all += means
    if xs_all and min(xs_all) > 0 and max(xs_all) / min(xs_all) > 10:
        ax.set_xscale("log")
    if means_all and min(means_all) > 0 and max(means_all) / min(means_all) > 10:
        ax.set_yscale("log")
    ax.set_xlabel(x_key)
    ax.set_ylabel(f"{metric} (mean, bars: seed sd)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_comparison(runs, keys: list[str], path: Path) -> Path:
    fig = comparison_figure(runs, keys)
    if fig is None:
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.text(0.5, 0.5, "no evaluations in these runs", ha="center")
        ax.axis("off")
    return _save(fig, Path(path))
