"""What ganlab-compare shows: label columns from the user's choices, headline metrics, the doctor's verdict,
the protocol guard, and the two noises (sampling: each FID's bootstrap interval; seed: the spread across seeds),
with a Welch test of each group's gap to a baseline group (Holm-corrected over the groups); and the notes the
table cannot hold (an eval.jsonl whose last line is cut, unreadable lines skipped)."""
from __future__ import annotations

import json
import math
from collections import Counter

from scipy import stats as scipy_stats
from scipy.stats import norm

from ganlab.metrics.protocol import differing
from ganlab.track.doctor import diagnose_run, verdict
from ganlab.track.runs import Run, differing_keys, mean_std

HEADLINE = ["fid", "fid_best", "is", "precision", "recall", "kimg", "wall"]
EXTRA = ["fid_best_kimg", "fid_train", "kid", "density", "coverage", "class_acc", "class_recall", "mem_fraction", "img_s", "step",
         "startup_s", "train_s", "eval_s"]
SIGNALS = ["sign_real", "apa_p", "apa_p_max", "ada_p", "ada_p_max"]   # the training log: D's confidence, APA/ADA's p
SOURCE = {"fid": "fid_final", "fid_best": "fid_best", "fid_best_kimg": "fid_best_kimg", "fid_train": "fid_train_final",
          "is": "is_mean_final",
          "precision": "precision_final", "recall": "recall_final", "kimg": "kimg", "wall": "wall_s", "kid": "kid_final",
          "density": "density_final", "coverage": "coverage_final", "class_acc": "class_acc_final",
          "class_recall": "class_recall_final", "mem_fraction": "mem_fraction_final", "img_s": "img_s", "step": "step",
          "startup_s": "time_startup", "train_s": "time_train", "eval_s": "time_eval",
          "sign_real": "sign_real_late", "apa_p": "apa_p_final", "apa_p_max": "apa_p_max",
          "ada_p": "ada_p_final", "ada_p_max": "ada_p_max"}


def fmt(v, digits: int = 4) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.{digits}g}"
    return "-" if v is None else str(v)


def fmt_wall(s) -> str:
    if not isinstance(s, (int, float)):
        return "-"
    return f"{s / 3600:.1f}h" if s >= 3600 else (f"{s / 60:.1f}m" if s >= 60 else f"{s:.0f}s")


def label_columns(runs: list[Run], show_all: bool = False) -> list[str]:
    """The group choices that differ between runs, then the leaf keys that differ and are not
    implied by a choice (under a differing group, or constant within every combination of the
    differing choices) unless set on the command line. --all: every differing key."""
    groups = sorted({k for r in runs for k in r.choices})
    chosen = [g for g in groups if len({json.dumps(r.choices.get(g), default=str) for r in runs}) > 1]
    overridden = {k for r in runs for k in r.override_keys}
    leaves = []
    for k in differing_keys(runs):
        if show_all or k in overridden:
            leaves.append(k)
        elif any(k == g or k.startswith(g + ".") for g in chosen):
            continue
        elif chosen and all(len({json.dumps(r.config.get(k), default=str) for r in members}) == 1
                            for _, members in group_runs_by(runs, chosen)):
            continue
        else:
            leaves.append(k)
    return [("+" + g if g == "experiment" else g) for g in chosen] + leaves


def group_runs_by(runs: list[Run], keys: list[str]):
    groups: dict[str, tuple[dict, list[Run]]] = {}
    for r in runs:
        label = {k: r.label(k) for k in keys}
        groups.setdefault(json.dumps(label, default=str), (label, []))[1].append(r)
    return list(groups.values())


def series_against(runs: list[Run], keys: list[str], x_key: str, metric: str) -> dict[str, dict[float, list[float]]]:
    """`metric` of each run by line (its labels in `keys`, less x_key and seed) and by x (its numeric x_key)."""
    lines: dict[str, dict[float, list[float]]] = {}
    for r in runs:
        v, x = r.values.get(metric), r.label(x_key)
        if not isinstance(v, (int, float)) or math.isnan(v):
            continue
        try:
            x = float(x)
        except (TypeError, ValueError):
            raise ValueError(f"--plot-against {x_key}: run {r.path.name} has {x_key}={x!r}, not a number") from None
        line = ", ".join(f"{k.lstrip('+')}={fmt(r.label(k))}" for k in keys if k.lstrip("+") not in (x_key.lstrip("+"), "seed"))
        lines.setdefault(line or metric, {}).setdefault(x, []).append(v)
    return lines


def protocol_check(runs: list[Run], allow_mixed: bool) -> tuple[str | None, str | None]:
    """(error, note). Runs measured under different protocols are refused, or with allow_mixed
    marked, naming the keys that differ."""
    measured = [r for r in runs if r.protocol_hash]
    hashes = Counter(r.protocol_hash for r in measured)
    if len(hashes) <= 1:
        return None, None
    diff = differing([r.protocol or {} for r in measured])
    keys = "; ".join(f"{k}: {' vs '.join(json.dumps(v) for v in vals)}" for k, vals in diff.items())
    if not allow_mixed:
        return (f"these runs were measured under {len(hashes)} different evaluation protocols ({keys}); "
                f"their numbers are not comparable. Re-score them with ganlab-evaluate under one protocol, "
                f"compare them apart, or pass --allow-mixed protocol to show them marked."), None
    return None, f"mixed protocols (rows marked *): {keys}"


def ci_text(v: dict) -> str:
    ci = v.get("fid_ci")
    fid = fmt(v.get("fid_final"))
    return f"{fid} [{ci[0]:.3g},{ci[1]:.3g}]" if isinstance(ci, list) and len(ci) == 2 else fid


def fid_text(r: Run) -> str:
    """The final FID (with its interval); marked when eval.jsonl's last line is cut and it is the evaluation before."""
    text = ci_text(r.values)
    step = r.evals[-1].get("step") if r.evals else None
    return f"{text} (step {step}: last eval line cut)" if r.eval_cut and not r.final_from_summary else text


def doctor_text(r: Run) -> str:
    """The doctor's verdict: its signatures' names, "healthy", or "-" for a run that logged nothing yet."""
    return verdict(diagnose_run(r)) if r.metrics or r.evals else "-"


def run_notes(runs: list[Run]) -> list[str]:
    """What the table cannot show: eval.jsonl's last line cut, unreadable lines skipped."""
    notes = [f"{r.path.name}: {r.eval_cut}" for r in runs if r.eval_cut]
    skipped = [r for r in runs if r.skipped_lines]
    if skipped:
        notes.append(f"skipped {sum(r.skipped_lines for r in skipped)} unreadable line(s) of metrics.jsonl / eval.jsonl "
                     f"in {', '.join(r.path.name for r in skipped)}")
    return notes


def run_rows(runs: list[Run], labels: list[str], columns: list[str], mark: str | None) -> list[dict]:
    rows = []
    for r in runs:
        row = {"run": r.path.name, "status": r.status, **{k: fmt(r.label(k)) for k in labels}, "_sort": r.values}
        for c in columns:
            v = r.values.get(SOURCE.get(c, c))
            row[c] = fid_text(r) if c == "fid" else fmt_wall(v) if c == "wall" else fmt(v)
        row["doctor"] = doctor_text(r)
        if mark:
            row["protocol"] = (r.protocol_hash or "-") + ("*" if r.protocol_hash != mark else "")
        rows.append(row)
    return rows


def sampling_sd(r: Run) -> float:
    """The FID's sampling noise: its bootstrap interval as a standard deviation."""
    ci, level = r.values.get("fid_ci"), r.values.get("fid_ci_level", 0.95)
    if not (isinstance(ci, list) and len(ci) == 2):
        return math.nan
    return (ci[1] - ci[0]) / (2 * norm.ppf(0.5 + level / 2))


def welch(a: list[float], b: list[float]) -> float:
    """Welch's unequal-variance t-test p-value (two-sided); nan when either side has < 2 values."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    return float(scipy_stats.ttest_ind(a, b, equal_var=False).pvalue)


def holm(ps: list[float]) -> list[float]:
    """Holm's step-down correction of a family of p-values (nan stays nan and is not counted)."""
    order = sorted((p, i) for i, p in enumerate(ps) if not math.isnan(p))
    out, running = [math.nan] * len(ps), 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p))
        out[i] = running
    return out


def group_rows(runs: list[Run], keys: list[str], columns: list[str], baseline: tuple[str, str] | None,
               metric: str = "fid_final", alpha: float = 0.05) -> list[dict]:
    """One row per group: mean ± seed sd (n) of each column, the mean sampling sd of FID, and with a
    baseline the gap in `metric`, its Welch p-value, that p after Holm's correction over the groups tested, and
    whether it exceeds the noise (Holm p < alpha)."""
    groups = group_runs_by(runs, keys)
    base_vals = None
    if baseline:
        key, value = baseline
        base = [m for label, members in groups if fmt(label.get(key)) == value for m in members]
        if not base:
            seen = sorted({fmt(label.get(key)) for label, _ in groups})
            raise ValueError(f"--baseline {key}={value}: no group has it; {key} takes: {', '.join(seen)}")
        base_vals = [v for v in (m.values.get(metric) for m in base) if isinstance(v, (int, float))]
    rows = []
    for label, members in groups:
        row = {"run": f"{len(members)} runs", "status": ",".join(sorted({m.status for m in members})),
               **{k: fmt(v) for k, v in label.items()}, "_sort": {}}
        for c in columns:
            mu, sd, n = mean_std([m.values.get(SOURCE.get(c, c)) for m in members])
            text = fmt_wall(mu) if c == "wall" else fmt(mu)
            row[c] = "-" if n == 0 else (f"{text} ±{sd:.2g} (n={n})" if n > 1 and c != "wall" else text)
            row["_sort"][SOURCE.get(c, c)] = mu
        samp, _, n = mean_std([sampling_sd(m) for m in members])
        row["fid seed sd"] = row["fid"].split("±")[1].split(" ")[0] if "±" in row["fid"] else "-"
        row["fid sampling sd"] = fmt(samp, 2) if n else "-"
        if base_vals is not None:
            vals = [v for v in (m.values.get(metric) for m in members) if isinstance(v, (int, float))]
            mu, _, n = mean_std(vals)
            b_mu = sum(base_vals) / len(base_vals) if base_vals else math.nan
            p = welch(vals, base_vals)
            row[f"Δ{metric}"] = "-" if not n else f"{mu - b_mu:+.3g}"
            row["p (Welch)"] = "n<2" if math.isnan(p) else f"{p:.2g}"
            row["_p"] = math.nan if members == base else p
        verdicts = Counter(doctor_text(m) for m in members)
        row["doctor"] = "; ".join(v if len(members) == 1 else f"{v} ({n}/{len(members)})" for v, n in verdicts.most_common())
        rows.append(row)
    if base_vals is not None:   # the family: every group's test against the baseline
        for row, p in zip(rows, holm([row.pop("_p") for row in rows])):
            row["Holm p"] = "-" if math.isnan(p) else f"{p:.2g}"
            row["beyond noise"] = "-" if math.isnan(p) else ("yes" if p < alpha else "no")
    return rows
