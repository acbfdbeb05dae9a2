"""The signatures of what D and its augmentation controller do: ADA's or APA's p running past 1 or staying
idle, D scoring the reals as fake, D memorising the reals, and D too weak to separate."""
from __future__ import annotations

import math

from ganlab.track.doctor.finding import Finding
from ganlab.track.doctor.limits import limit
from ganlab.track.doctor.reading import (
    config,
    d_width_override,
    floor_name,
    floor_ratio,
    fmt,
    last_eval,
    late,
    mean,
    number,
    reg_list,
    regularizers,
    scaled,
    series,
    steps,
)
from ganlab.track.runs import Run


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


def d_too_weak(run: Run) -> Finding | None:
    """A D too weak to separate: D(x) about 0.6 and D(G(z)) about 0.42 throughout (BigGAN on sprites, ch 16, SN),
    while G stays far from the data. More D steps per G step come first: on the sprites BigGAN they were the one
    change that kept D above chance, where twice D's width or 4x its rate did not (experiments/README.md, "Why the
    BigGAN's D is at chance")."""
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
    tries = [f"train.n_critic={config(run, 'train.n_critic', 1) + 1}  (more D steps per G step)"]
    if wider := d_width_override(run):
        tries.append(f"{wider}  (a wider D)")
    lr, g_lr = config(run, "optimizer.d.lr"), config(run, "optimizer.g.lr")
    if isinstance(lr, (int, float)) and isinstance(g_lr, (int, float)) and lr < g_lr / 4:
        tries.insert(0, f"optimizer.d.lr={g_lr:.3g}  (D learns at {lr:.3g}, G at {g_lr:.3g})")
    elif isinstance(lr, (int, float)):
        tries.append(f"optimizer.d.lr={lr * 2:.3g}")
    return Finding("d_too_weak",
                   f"D(x) {fmt(real_score)} against D(G(z)) {fmt(mean(b for _, _, b in half))} over "
                   f"{steps(half)} (gap {fmt(gap)})" + (f", D's accuracy {fmt(acc[1])} at step {acc[0]:,}" if acc else "")
                   + f", FID {ratio:.1f}x {floor_name(run)}: D barely separates, and G gets little signal",
                   {"D(x)": [(s, a) for s, a, _ in both], "D(G(z))": [(s, b) for s, _, b in both], "fid_floor_ratio": ratio},
                   tuple(tries))
