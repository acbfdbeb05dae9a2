"""The run doctor: the ways GAN training is known to fail, each recognised in what a run directory logged
(metrics.jsonl, eval.jsonl, .hydra/config.yaml, error.txt), with the evidence (the statistic, the steps, the
values) and what to try next in ganlab's own overrides. experiments/README.md found every signature by hand;
LIMITS below holds every threshold with the measurement behind it. The doctor reads a run directory only and
never changes training; a healthy run yields no finding.

    diagnose(run_dir) -> [Finding]        verdict_lines(findings) -> the lines a run ends its console with
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ganlab.track.runs import Run, load_run


@dataclass(frozen=True)
class Limit:
    value: float
    why: str


# Every threshold of every signature, with the reason for its value. "Late" is the last quarter of the logged steps.
LIMITS: dict[str, Limit] = {
    "late_fraction": Limit(0.25, "the last quarter of the logged steps, as ganlab-compare's sign_real column: at the "
                                 "default's 50-step logs it averages 7 or more rows of E[sign D(real)], whose row-to-row "
                                 "noise is about 0.05"),
    "min_rows": Limit(6, "a trend over fewer logged steps than this is noise; shorter runs are judged by their "
                         "evaluations only"),
    # d_overfitting: FID leaves its best while D grows surer of the reals
    "overfit.fid_rise": Limit(1.10, "the last FID at least 10% above the run's best: biggan_digits rose 67.8 -> 113.8 "
                                    "(1.68x); two evaluations of one checkpoint differ by a few percent"),
    "overfit.sign_rise": Limit(0.10, "late E[sign D(real)] at least 0.10 above its value around the best FID: "
                                     "biggan_digits 0.31 -> 0.61 (+0.30); row-to-row noise is about 0.05"),
    "overfit.sign_high": Limit(0.80, "or late E[sign D(real)] at 0.80 or more: D separates almost every real. Without "
                                     "augmentation the low-data DCGAN arms sat at 0.81-0.94; with DiffAugment at "
                                     "0.38-0.46"),
    "overfit.best_ratio": Limit(10.0, "and the best FID within 10x its floor: the runs seen overfitting had their best "
                                      "at 2.1x (biggan_digits) and 4.6x (the default DCGAN on 5% of digits); a run "
                                      "whose best is 100x its floor (LeCam at 0.3 on 5%: 4,612) has learned nothing "
                                      "to lose"),
    # collapse_in_class: the right class, one image per class
    "collapse.recall": Limit(0.20, "class_recall at 0.20 or less: the collapsed BigGAN runs measured 0.01-0.14, every "
                                   "run that kept its styles 0.32-0.74 (the default DCGAN 0.38-0.48)"),
    "collapse.acc": Limit(0.80, "with class_acc 0.80 or more: the class has taken hold (the collapsed runs 0.88-1.00); "
                                "below it a low recall is the class not yet learned"),
    # class_not_learned
    "class.acc": Limit(0.85, "class_acc under 0.85 at the last evaluation: the runs measured as not having learned "
                             "the class sat at 0.29-0.83 (AugSelf at the paper's weights, LeCam at 0.3), every "
                             "preset that did at 0.88-1.00 (the bar asks 0.9)"),
    # adaptive_p_idle: APA / ADA never engage
    "idle.p": Limit(0.01, "p at 0.01 or less at the end, with E[sign D(real)] below the target late: the "
                          "BigGAN APA arms stayed below 0.001 (target never reached), an engaged controller held "
                          "0.5-0.76 at 20 kimg"),
    # adaptive_p_runaway
    "runaway.p": Limit(1.0, "p at 1 or more: every image D sees is augmented (ADA) or every real is swapped for a "
                            "fake (APA); the official controller clamps p only at 0, so p can run past 1 (ADA "
                            "reached 1.03 at 20 kimg)"),
    # loss_diverged
    "diverge.ratio": Limit(10.0, "a loss term's last |value| ten times its first logged one: a WGAN critic without "
                                 "its penalty went 16 -> 237 in 200 steps (14x); the healthy default's terms end "
                                 "within 4x of where they start (D's BCE 0.34 -> 1.13, G's 2.65 -> 1.11)"),
    "diverge.abs": Limit(5.0, "and at least 5 in absolute value: BCE and hinge terms sit under 4 in every healthy "
                              "run here, and a term that starts near 0 (a penalty switching on) is not a divergence"),
    "diverge.rising": Limit(0.75, "and still rising: |value| grew from one log to the next in 75% of the second half's "
                                  "logs (the critic without a penalty: every one). A signed term that crosses 0 and "
                                  "swings back (a Wasserstein estimate at a high learning rate) is not a divergence"),
    "diverge.fid": Limit(5.0, "or the last FID five times the run's best: LeCam's diverging seed went to FID 7,700 "
                              "at step 500 from about 200"),
    # critic_drift: a Wasserstein critic's scores wander while the estimate they carry shrinks
    "drift.score": Limit(10.0, "late mean critic score |(C(x) + C(G(z))) / 2| of 10 or more: the attention critic "
                               "reached -93; the WGAN-GP digits critic stays within a few units"),
    "drift.over_gap": Limit(5.0, "and five times the late Wasserstein estimate C(x) - C(G(z)) or more: the drifting "
                                 "critic's estimate was 1.4 against scores near -93 (66x)"),
    # d_rejects_reals
    "reject.sign": Limit(-0.5, "late E[sign D(real)] at -0.5 or less: the U-Net D that scored the reals as fake sat "
                               "at -0.96; DiffAugment's BigGAN, healthy, went down to -0.10"),
    # d_too_weak
    "weak.gap": Limit(0.20, "D(x) - D(G(z)) under 0.20 over the second half of the run: the weak sprites D sat at "
                            "0.60 vs 0.42 (0.18), the old U-Net D near 0.15. The healthy default sits at 0.20-0.25 "
                            "(D's accuracy 0.50: DiffAugment keeps D near chance), so the gap alone does not tell a "
                            "weak D from a healthy one; the FID condition below does"),
    "weak.fid_ratio": Limit(2.0, "and the last FID at twice its floor or more: a D that barely separates is only a "
                                 "failure when G does not get there (the default ends at 1.1-1.4x its floor)"),
    "weak.d_acc": Limit(0.9, "and, where eval.metrics has d_acc, D's accuracy on plain reals vs fakes under 0.9: a "
                             "D at 0.58 vs 0.42 on the augmented batch that is 0.99 accurate at evaluation separates "
                             "(its margins are small: LeCam at 0.3); the D learning at 1e-6 measured 0.82"),
    # fid_stalled
    "stall.gain": Limit(0.95, "the second half of the evaluations never 5% below the first half's best FID: two "
                              "evaluations of one checkpoint differ by a few percent"),
    "stall.fid_ratio": Limit(1.5, "and the last FID at 1.5x its floor or more: a run at the floor has nothing left "
                                  "to gain (the default's bar is 1.2x)"),
}


def limit(key: str) -> float:
    return LIMITS[key].value


@dataclass(frozen=True)
class Finding:
    signature: str
    evidence: str                          # one readable sentence: the statistic, the steps, the values
    values: dict = field(default_factory=dict)   # the raw numbers behind it
    try_next: tuple[str, ...] = ()         # ganlab overrides, each with why, most promising first


# ---- reading the run --------------------------------------------------------------------------------
def number(v) -> float | None:
    """A logged value as a float: JSON has no NaN/inf, so the logger writes them as strings."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and v.lower() in ("nan", "inf", "-inf", "infinity", "-infinity"):
        return float(v)
    return None


def series(rows: list[dict], key: str) -> list[tuple[int, float]]:
    """(step, value) of every row that logged `key` as a number."""
    return [(r.get("step", i), v) for i, r in enumerate(rows) if (v := number(r.get(key))) is not None]


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan


def late(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return points[len(points) - max(1, round(len(points) * limit("late_fraction"))):]


def config(run: Run, key: str, default=None):
    v = run.config.get(key, default)
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def regularizers(run: Run) -> list[str]:
    """The selected regularizers in their list order (each puts its settings under regularizer.NAME)."""
    names = [k.split(".")[1] for k in run.config if k.startswith("regularizer.")]
    return list(dict.fromkeys(names))


def reg_list(run: Run, add: str = "", drop: str = "") -> str:
    names = [n for n in regularizers(run) if n != drop] + ([add] if add and add not in regularizers(run) else [])
    return f"regularizer=[{','.join(names)}]"


def fmt(v: float) -> str:
    return "nan" if math.isnan(v) else f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def steps(points) -> str:
    return f"steps {points[0][0]:,}-{points[-1][0]:,}" if points[0][0] != points[-1][0] else f"step {points[0][0]:,}"


def last_eval(run: Run, key: str) -> tuple[int, float] | None:
    points = series(run.evals, key)
    return points[-1] if points else None


def floor_ratio(run: Run) -> float | None:
    rows = [e for e in run.evals if number(e.get("fid")) is not None and number(e.get("fid_floor"))]
    return number(rows[-1]["fid"]) / number(rows[-1]["fid_floor"]) if rows else None


def scaled(value: float, factor: float) -> str:
    return f"{value * factor:.3g}"


# ---- the signatures ---------------------------------------------------------------------------------
def d_overfitting(run: Run) -> Finding | None:
    """FID rises from its best while D grows surer of the reals (biggan_digits late: E[sign D(real)] 0.31 -> 0.61,
    FID 67.8 -> 113.8)."""
    fid, sign = series(run.evals, "fid"), series(run.metrics, "d/sign_real")
    if len(fid) < 2 or len(sign) < limit("min_rows"):
        return None
    best_step, best = min(fid, key=lambda p: p[1])
    last_step, last = fid[-1]
    floor = [number(e.get("fid_floor")) for e in run.evals if number(e.get("fid")) == best]
    if best_step == last_step or last < limit("overfit.fid_rise") * best or (
            floor and floor[0] and best > limit("overfit.best_ratio") * floor[0]):
        return None
    near_best = [v for s, v in sign if s <= best_step][-max(1, round(len(sign) * limit("late_fraction"))):]
    then, now = mean(near_best), mean(v for _, v in late(sign))
    if not (now - then >= limit("overfit.sign_rise") or now >= limit("overfit.sign_high")):
        return None
    tries = [f"{reg_list(run, add='diffaugment')}  (augment every image D sees: the low-data DCGAN at 5% of digits "
             "went 199 -> 141 with it)"] if not {"diffaugment", "ada", "apa"} & set(regularizers(run)) else []
    for name in ("apa", "ada"):
        if name in regularizers(run):
            tries.append(f"regularizer.{name}.target={max(0.1, round(then, 1))}  (steer E[sign D(real)] to where it "
                         "was at the best FID)")
    tries.append(f"train.steps={best_step}  (stop at the best FID; checkpoints/best.pt already holds those weights: "
                 "ganlab-sample RUN/checkpoints/best.pt --out DIR)")
    return Finding("d_overfitting",
                   f"FID rose from its best {fmt(best)} at step {best_step:,} to {fmt(last)} at step {last_step:,} "
                   f"({last / best:.2f}x) while E[sign D(real)] went from {fmt(then)} around the best to {fmt(now)} "
                   "late: D is memorising the reals",
                   {"fid": fid, "sign_real_at_best": then, "sign_real_late": now}, tuple(tries))


def collapse_in_class(run: Run) -> Finding | None:
    """The right class, one image per class: class_recall 0.01-0.08 with class_acc 0.95-1.00 (BigGAN digits)."""
    recall, acc = last_eval(run, "class_recall"), last_eval(run, "class_acc")
    if not recall or not acc or recall[1] > limit("collapse.recall") or acc[1] < limit("collapse.acc"):
        return None
    peak = max(series(run.evals, "class_recall"), key=lambda p: p[1])
    was = f" (it was {fmt(peak[1])} at step {peak[0]:,})" if peak[1] > recall[1] else ""
    tries = [f"{reg_list(run, add='mode_seeking')} regularizer.mode_seeking.weight=0.1  (MSGAN: class_recall 0.03 -> "
             "0.45 on biggan_diffaug_digits)"]
    if "model.minibatch_kernels" in run.config:
        tries.append("model.minibatch_kernels=100  (minibatch discrimination: slows the collapse, 0.03 -> 0.69 at "
                     "2,000 steps, and delays the class)")
    return Finding("collapse_in_class",
                   f"class_recall {fmt(recall[1])} with class_acc {fmt(acc[1])} at step {recall[0]:,}{was}: G draws "
                   "the right class but few images per class",
                   {"class_recall": series(run.evals, "class_recall"), "class_acc": series(run.evals, "class_acc")},
                   tuple(tries))


def class_not_learned(run: Run) -> Finding | None:
    """A conditional G whose samples are not yet their class: class_acc 0.31-0.67 with AugSelf at the paper's
    weights, 0.79-0.83 with LeCam at 0.3."""
    acc = last_eval(run, "class_acc")
    if not acc or acc[1] >= limit("class.acc"):
        return None
    regs, tries = regularizers(run), []
    if "augself" in regs:
        tries.append("regularizer.augself.d_weight=0.1 regularizer.augself.g_weight=0.1  (AugSelf's heads outweigh "
                     "the class at a small D: class_acc 0.32 -> 0.98)")
    if "lecam" in regs:
        tries.append("regularizer.lecam.weight=0.1  (LeCam at 0.3 slowed the class: class_acc 0.81 -> 0.96)")
    if "mode_seeking" in regs and config(run, "regularizer.mode_seeking.weight", 0) > 0.1:
        tries.append("regularizer.mode_seeking.weight=0.1  (at MSGAN's 1 the class came slowly: 0.64 at 2,000 steps)")
    total = config(run, "train.steps")
    if isinstance(total, int):
        tries.append(f"train.steps={2 * total}  (the class may only need longer)")
    return Finding("class_not_learned",
                   f"class_acc {fmt(acc[1])} at step {acc[0]:,} (the bar is 0.9): most samples are not the class "
                   "they were drawn for", {"class_acc": series(run.evals, "class_acc")}, tuple(tries))


def adaptive_p_idle(run: Run) -> Finding | None:
    """APA or ADA idle: E[sign D(real)] 0.37-0.41 under hinge against a target of 0.6, so p stays at 0 (sprites), or
    falls back to it."""
    for name in ("apa", "ada"):
        p = series(run.metrics, f"reg/{name}/p")
        sign = series(run.metrics, f"reg/{name}/sign_real") or series(run.metrics, "d/sign_real")
        target = config(run, f"regularizer.{name}.target")
        if len(p) < limit("min_rows") or not sign or not isinstance(target, (int, float)):
            continue
        now, p_end = mean(v for _, v in late(sign)), p[-1][1]
        if p_end > limit("idle.p") or now >= target:
            continue
        below = sum(v < target for _, v in sign) / len(sign)
        peak = max(p, key=lambda x: x[1])
        tries = [f"regularizer.{name}.target={max(0.05, round(now - 0.1, 2))}  (a target D actually exceeds; 0.6 "
                 "was calibrated for the logistic loss)"]
        if config(run, "loss.name") == "hinge":
            tries.append("loss=bce  (under BCE both controllers reached their target: E[sign D(real)] 0.57-0.59)")
        tries.append(f"{reg_list(run, drop=name)}  (as run, {name.upper()} adds nothing)")
        return Finding("adaptive_p_idle",
                       f"{name.upper()} is idle: E[sign D(real)] was {fmt(now)} late, below its target {fmt(target)} "
                       f"(below in {below:.0%} of the logged steps), so p ended at {fmt(p_end)} (step {p[-1][0]:,}; its "
                       f"peak {fmt(peak[1])} at step {peak[0]:,}): it augments next to nothing",
                       {"p": p, "sign_real": sign, "target": target}, tuple(tries))
    return None


def adaptive_p_runaway(run: Run) -> Finding | None:
    """ADA's or APA's p at or past 1 (ADA reached 1.03 at 20 kimg; the controller clamps only at 0)."""
    for name in ("ada", "apa"):
        p = series(run.metrics, f"reg/{name}/p")
        over = [(s, v) for s, v in p if v >= limit("runaway.p")]
        if not over:
            continue
        kimg = config(run, f"regularizer.{name}.kimg")
        target = config(run, f"regularizer.{name}.target")
        tries = []
        if isinstance(kimg, (int, float)):
            tries.append(f"regularizer.{name}.kimg={scaled(kimg, 10)}  (p moves by 1 over {fmt(kimg)} kimg now; the "
                         "official speed is 500)")
        if isinstance(target, (int, float)) and target < 0.9:
            tries.append(f"regularizer.{name}.target={min(0.9, round(target + 0.2, 2))}  (a higher target asks for "
                         "less augmentation)")
        peak = max(p, key=lambda x: x[1])
        return Finding("adaptive_p_runaway",
                       f"{name.upper()}'s p reached {fmt(peak[1])} at step {peak[0]:,} (first at {fmt(over[0][1])}, "
                       f"step {over[0][0]:,}) and was {fmt(p[-1][1])} at the end: at p >= 1 every image D sees is "
                       "augmented" + (", every real swapped for a fake" if name == "apa" else ""),
                       {"p": p}, tuple(tries))
    return None


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


def d_rejects_reals(run: Run) -> Finding | None:
    """D scoring the reals as fake (the U-Net D under full-batch CutMix on sprites: E[sign D(real)] -0.96, D(x) 0.29)."""
    if config(run, "loss.name") == "wasserstein":   # a critic's sign carries nothing: its scores shift freely
        return None
    sign = series(run.metrics, "d/sign_real")
    if len(sign) < limit("min_rows"):
        return None
    now = mean(v for _, v in late(sign))
    if now > limit("reject.sign"):
        return None
    dx = mean(v for _, v in late(series(run.metrics, "D(x)")))
    tries = []
    if "cutmix" in regularizers(run):
        prob = config(run, "regularizer.cutmix.prob", 0.5)
        tries.append(f"regularizer.cutmix.prob={scaled(prob, 0.5)}  (fewer mixing-only D steps; the sign is read on "
                     "the mixed reals, which CutMix labels fake)")
        tries.append("regularizer.cutmix.mode=additive  (mix terms added to every normal D step)")
    tries.append(f"optimizer.d.lr={config(run, 'optimizer.d.lr', 2e-4) / 2:.3g}")
    return Finding("d_rejects_reals",
                   f"E[sign D(real)] was {fmt(now)} over {steps(late(sign))}" +
                   (f" (D(x) {fmt(dx)})" if not math.isnan(dx) else "") + ": D scores the reals as fake",
                   {"sign_real": sign}, tuple(tries))


def d_too_weak(run: Run) -> Finding | None:
    """A D too weak to separate: D(x) about 0.6 and D(G(z)) about 0.42 throughout (BigGAN on sprites, ch 16, SN),
    while G stays far from the data."""
    if config(run, "loss.name") == "wasserstein":
        return None
    dx, dg = dict(series(run.metrics, "D(x)")), dict(series(run.metrics, "D(G(z))/d_step"))
    both = [(s, dx[s], dg[s]) for s in dx if s in dg]
    if len(both) < limit("min_rows"):
        return None
    half = both[len(both) // 2:]
    gap = mean(a - b for _, a, b in half)
    ratio = floor_ratio(run)
    acc = last_eval(run, "d_accuracy")
    real_score = mean(a for _, a, _ in half)
    if (gap >= limit("weak.gap") or real_score < 0.5 or ratio is None or ratio < limit("weak.fid_ratio")
            or (acc and acc[1] >= limit("weak.d_acc"))):   # D(x) under 0.5 is d_rejects_reals' finding
        return None
    tries = []
    for key in ("model.d_width", "model.ch"):
        if isinstance(config(run, key), int):
            tries.append(f"{key}={2 * config(run, key)}  (a wider D)")
            break
    tries.append(f"train.n_critic={config(run, 'train.n_critic', 1) + 1}  (more D steps per G step)")
    lr, g_lr = config(run, "optimizer.d.lr"), config(run, "optimizer.g.lr")
    if isinstance(lr, (int, float)) and isinstance(g_lr, (int, float)) and lr < g_lr / 4:
        tries.insert(0, f"optimizer.d.lr={g_lr:.3g}  (D learns at {lr:.3g}, G at {g_lr:.3g})")
    elif isinstance(lr, (int, float)):
        tries.append(f"optimizer.d.lr={lr * 2:.3g}")
    return Finding("d_too_weak",
                   f"D(x) {fmt(real_score)} against D(G(z)) {fmt(mean(b for _, _, b in half))} over "
                   f"{steps(half)} (gap {fmt(gap)})" + (f", D's accuracy {fmt(acc[1])} at step {acc[0]:,}" if acc else "")
                   + f", FID {ratio:.1f}x its floor: D barely separates, and G gets little signal",
                   {"D(x)": [(s, a) for s, a, _ in both], "D(G(z))": [(s, b) for s, _, b in both], "fid_floor_ratio": ratio},
                   tuple(tries))


def fid_stalled(run: Run) -> Finding | None:
    """FID flat far from its floor: the second half of the evaluations gains nothing on the first."""
    fid = series(run.evals, "fid")
    if len(fid) < 3:
        return None
    first, second = fid[:len(fid) // 2], fid[len(fid) // 2:]
    best_first, best_second = min(v for _, v in first), min(v for _, v in second)
    ratio = floor_ratio(run)
    rising = fid[-1][1] >= limit("overfit.fid_rise") * min(v for _, v in fid)   # d_overfitting's or loss_diverged's
    if best_second < limit("stall.gain") * best_first or ratio is None or ratio < limit("stall.fid_ratio") or rising:
        return None
    tries = []
    lr, d_lr = config(run, "optimizer.g.lr"), config(run, "optimizer.d.lr")
    if isinstance(lr, (int, float)):
        faster = d_lr if isinstance(d_lr, (int, float)) and lr < d_lr / 4 else 2 * lr
        tries.append(f"optimizer.g.lr={faster:.3g}  (G learns at {lr:.3g}; the U-Net G's plateau moved with its rate: "
                     "FID 327 -> 124.5 at 1e-4 -> 4e-4)")
    tries.append("see the other findings and the loss curves (plots/losses.png)")
    return Finding("fid_stalled",
                   f"FID {fmt(first[0][1])} at step {first[0][0]:,}, best {fmt(best_first)} in the first half of the "
                   f"evaluations and {fmt(best_second)} in the second ({steps(second)}); {fmt(fid[-1][1])} is "
                   f"{ratio:.1f}x its floor", {"fid": fid, "fid_floor_ratio": ratio}, tuple(tries))


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
