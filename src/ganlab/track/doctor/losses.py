"""The signatures the loss terms show: a loss that leaves its scale or turns non-finite (or a run stopped on
one), and a Wasserstein critic whose scores drift while its estimate shrinks."""
from __future__ import annotations

import json
import math

from ganlab.track.doctor.finding import Finding
from ganlab.track.doctor.limits import limit
from ganlab.track.doctor.reading import config, fmt, mean, reg_list, regularizers, scaled, series
from ganlab.track.runs import Run

ADVERSARIAL_DRIFTS = ("loss/d/real", "loss/d/fake", "loss/g/wasserstein", "loss/g/total")
# a Wasserstein critic's scores move freely with their mean (critic_drift's domain); its estimate loss/d/wasserstein
# (the difference) does not


def loss_diverged(run: Run) -> Finding | None:
    """A loss term that leaves its scale or turns non-finite (LeCam at 0.3 on one seed: FID 7,700 at step 500),
    or a run stopped by a non-finite loss (error.txt)."""
    error = run.path / "error.txt"   # a failed sweep job's traceback; a run that failed before training: summary.json
    text = error.read_text(errors="replace") if error.is_file() else ""
    summary = run.path / "summary.json"
    if not text and summary.is_file():
        try:
            text = str(json.loads(summary.read_text()).get("error") or "")
        except (json.JSONDecodeError, AttributeError):
            text = ""
    if "non-finite loss" in text:
        line = next(x for x in text.splitlines() if "non-finite loss" in x).strip()
        return Finding("loss_diverged", f"the run stopped on a non-finite loss ({line[:160]})", {"error": line},
                       diverge_tries(run))
    keys = sorted({k for r in run.metrics for k in r if k.startswith("loss/")}, key=lambda k: (k.endswith("/total"), k))
    wasserstein = config(run, "loss.name") == "wasserstein"
    worst = None
    for key in keys:
        points = series(run.metrics, key)
        if len(points) < limit("min_rows") or (wasserstein and key in ADVERSARIAL_DRIFTS):
            continue
        bad = [(s, v) for s, v in points if not math.isfinite(v)]
        if bad:
            worst = worst or (key, bad[0], math.inf, points)
            continue
        size = [abs(v) for _, v in points]
        second = size[len(size) // 2 - 1:]
        rising = sum(b > a for a, b in zip(second, second[1:])) / max(1, len(second) - 1)
        ratio = size[-1] / max(size[0], 1e-12)
        if (size[-1] >= limit("diverge.abs") and ratio >= limit("diverge.ratio") and rising >= limit("diverge.rising")
                and (not worst or ratio > worst[2])):
            worst = (key, points[-1], ratio, points)
    fid = series(run.evals, "fid")
    if worst:
        key, (s, v), ratio, points = worst
        if not math.isfinite(v):
            evidence = f"{key} turned {v} at step {s:,}"
        else:
            evidence = (f"{key} went from {fmt(points[0][1])} at step {points[0][0]:,} to {fmt(v)} at step {s:,} "
                        f"({ratio:.0f}x), still growing")
        return Finding("loss_diverged", evidence, {key: points}, diverge_tries(run, key))
    if len(fid) >= 2:
        best = min(fid, key=lambda p: p[1])
        if fid[-1][1] >= limit("diverge.fid") * best[1] and fid[-1][0] > best[0]:
            return Finding("loss_diverged", f"FID went from {fmt(best[1])} at step {best[0]:,} to {fmt(fid[-1][1])} at "
                           f"step {fid[-1][0]:,} ({fid[-1][1] / best[1]:.1f}x)", {"fid": fid}, diverge_tries(run))
    return None


def diverge_tries(run: Run, key: str = "") -> tuple[str, ...]:
    tries = []
    term = key.rsplit("/", 1)[-1]
    if config(run, "loss.name") == "wasserstein" and "gradient_penalty" not in regularizers(run):
        tries.append(f"{reg_list(run, add='gradient_penalty')}  (a critic without a Lipschitz penalty has no bound)")
    if term in regularizers(run):
        w = [k for k in run.config if k.startswith(f"regularizer.{term}.") and k.endswith("weight")]
        if w and isinstance(config(run, w[0]), (int, float)):
            tries.append(f"{w[0]}={scaled(config(run, w[0]), 0.1)}  (the term that left its scale)")
    if "lecam" in regularizers(run) and term != "lecam":
        tries.append(f"regularizer.lecam.weight={scaled(config(run, 'regularizer.lecam.weight', 0.3), 1 / 3)}  (LeCam "
                     "at 0.3 diverged on one seed in three; at 0.1 no seed did on BigGAN digits)")
    for net in ("d", "g"):
        lr = config(run, f"optimizer.{net}.lr")
        if isinstance(lr, (int, float)):
            tries.append(f"optimizer.{net}.lr={lr / 2:.3g}")
    return tuple(tries)


def critic_drift(run: Run) -> Finding | None:
    """A Wasserstein critic's scores drifting without bound while its estimate shrinks (the attention critic: mean
    score on reals -93 at step 550, on fakes -94, the estimate 12.6 -> 1.4)."""
    if config(run, "loss.name") != "wasserstein":
        return None
    real = dict(series(run.metrics, "loss/d/real"))     # -E[C(x)]
    fake = dict(series(run.metrics, "loss/d/fake"))     # E[C(G(z))]
    both = [(s, -real[s], fake[s]) for s in real if s in fake]
    if len(both) < limit("min_rows"):
        return None
    tail = both[len(both) - max(1, round(len(both) * limit("late_fraction"))):]
    centre = mean((r + f) / 2 for _, r, f in tail)
    gap = mean(r - f for _, r, f in tail)
    early_gap = max(r - f for _, r, f in both[:max(1, len(both) // 4)])
    if abs(centre) < limit("drift.score") or abs(centre) < limit("drift.over_gap") * abs(gap):
        return None
    s, r, f = tail[-1]
    tries = [f"optimizer.d.lr={config(run, 'optimizer.d.lr', 1e-4) / 2:.3g}  (a slower critic drifts less)"]
    if config(run, "model.d_block") not in (None, "wide"):
        tries.insert(0, "model.d_block=wide  (the attention critic's bottleneck blocks learned slowly: FID 1,841 -> 497 "
                        "at step 350 with wide blocks)")
    if "gradient_penalty" not in regularizers(run):
        tries.insert(0, f"{reg_list(run, add='gradient_penalty')}  (a critic without a penalty is not Lipschitz)")
    return Finding("critic_drift",
                   f"the critic's mean score was {fmt(centre)} late (step {s:,}: reals {fmt(r)}, fakes {fmt(f)}) while "
                   f"its Wasserstein estimate C(x) - C(G(z)) was {fmt(gap)} (at most {fmt(early_gap)} early): the "
                   "scores drift, and the loss cannot see it",
                   {"critic_real": [(s, r) for s, r, _ in both], "critic_fake": [(s, f) for s, _, f in both]},
                   tuple(tries))
