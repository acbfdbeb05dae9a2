"""The signatures that show in the samples' evaluations: one image per class, FID stalled far from its floor,
and a class not learned."""
from __future__ import annotations

from ganlab.track.doctor.finding import Finding
from ganlab.track.doctor.limits import limit
from ganlab.track.doctor.reading import (
    config,
    floor_name,
    floor_ratio,
    fmt,
    last_eval,
    peak_eval,
    reg_list,
    regularizers,
    series,
    steps,
    was_at,
)
from ganlab.track.runs import Run


def collapse_in_class(run: Run) -> Finding | None:
    """The right class, one image per class: class_recall 0.01-0.08 with class_acc 0.95-1.00 (BigGAN digits)."""
    recall, acc = last_eval(run, "class_recall"), last_eval(run, "class_acc")
    if not recall or not acc or recall[1] > limit("collapse.recall") or acc[1] < limit("collapse.acc"):
        return None
    peak = peak_eval(run, "class_recall")
    was = was_at(peak) if peak[1] > recall[1] else ""
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
                   f"{ratio:.1f}x {floor_name(run)}", {"fid": fid, "fid_floor_ratio": ratio}, tuple(tries))


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
    peak = peak_eval(run, "class_acc")
    falling = peak[1] - acc[1] >= limit("class.fall")
    total = config(run, "train.steps")
    if isinstance(total, int) and not falling:   # a class that is being lost does not come back with length
        tries.append(f"train.steps={2 * total}  (the class may only need longer)")
    was = was_at(peak) if falling else ""
    return Finding("class_not_learned",
                   f"class_acc {fmt(acc[1])} at step {acc[0]:,}{was}, under {limit('class.acc'):g}: most samples are not the class "
                   "they were drawn for", {"class_acc": series(run.evals, "class_acc")}, tuple(tries))
