"""Training plots from metrics.jsonl and eval.jsonl (plots/losses.png, plots/metrics.png)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

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
        fig.tight_layout()
        out.append(_save(fig, run_dir / "plots" / "losses.png"))
    evals, _ = read_jsonl(run_dir / "eval.jsonl")
    metrics = sorted({k for r in evals for k, v in r.items() if isinstance(v, (int, float)) and k not in ("step", "kimg", "num_samples")})
    if evals and metrics:
        fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.4), squeeze=False)
        for ax, k in zip(axes[0], metrics):
            _panel(ax, evals, [k], k)
        fig.tight_layout()
        out.append(_save(fig, run_dir / "plots" / "metrics.png"))
    return out


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_comparison(runs, keys: list[str], path: Path) -> Path:
    """One panel per metric (FID vs images seen, D and G losses vs step); one line per run,
    coloured by the group its differing keys put it in, labelled by those keys."""
    panels = [("eval", "fid", "kimg", "FID vs kimg"), ("metrics", "loss/d/total", "step", "D loss"),
              ("metrics", "loss/g/total", "step", "G loss")]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4))
    labels = [", ".join(f"{k.split('.')[-1]}={r.config.get(k)}" for k in keys if k != "seed") or r.path.name
              for r in runs]
    colours = {lab: f"C{i % 10}" for i, lab in enumerate(dict.fromkeys(labels))}
    for ax, (source, key, x, title) in zip(axes, panels):
        shown = set()
        for r, lab in zip(runs, labels):
            xs, ys = _series(r.evals if source == "eval" else r.metrics, key, x)
            if xs:
                ax.plot(xs, ys, color=colours[lab], lw=1.2, alpha=0.8, label=None if lab in shown else lab)
                shown.add(lab)
        ax.set_title(title)
        ax.set_xlabel(x)
        ax.grid(alpha=0.3)
        if shown:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, Path(path))
