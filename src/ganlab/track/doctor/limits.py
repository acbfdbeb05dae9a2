"""Every threshold of every signature of the run doctor, with the measurement behind its value
(ganlab-doctor --limits prints them)."""
from __future__ import annotations

from dataclasses import dataclass


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
    "overfit.best_ratio": Limit(50.0, "and the best FID within 50x its floor: the runs seen overfitting had their best "
                                      "at 2.1x (biggan_digits), 4.6x (the default DCGAN on 5% of digits) and 21-28x "
                                      "(dcgan_sprites on 10% of the sprites, domain FID, class_recall 0.36-0.41 there "
                                      "and 0 by 256 kimg); a run whose best is 122x its floor (LeCam at 0.3 on 5%: "
                                      "4,612) has learned nothing to lose"),
    # collapse_in_class: the right class, one image per class
    "collapse.recall": Limit(0.20, "class_recall at 0.20 or less: the collapsed BigGAN runs measured 0.01-0.14, every "
                                   "run that kept its styles 0.32-0.74 (the default DCGAN 0.38-0.48)"),
    "collapse.acc": Limit(0.80, "with class_acc 0.80 or more: the class has taken hold (the collapsed runs 0.88-1.00); "
                                "below it a low recall is the class not yet learned"),
    # class_not_learned
    "class.acc": Limit(0.85, "class_acc under 0.85 at the last evaluation: the runs measured as not having learned "
                             "the class sat at 0.29-0.83 (AugSelf at the paper's weights, LeCam at 0.3), every "
                             "preset that did at 0.88-1.00 (the digits suite asks 0.9, the sprites suite 0.8)"),
    "class.fall": Limit(0.10, "class_acc at least 0.10 under its peak at the last evaluation: the class is being "
                              "lost, not yet learned, so training longer is not suggested (dcgan_sprites on 10% of the "
                              "sprites without augmentation: 0.65 at 192 kimg -> 0.41 at 256 as D overfits)"),
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
