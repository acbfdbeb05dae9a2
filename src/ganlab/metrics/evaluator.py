"""Evaluation of a generator (or of given images): FID with a bootstrap interval, IS, KID,
precision/recall, density/coverage, memorization, and D's accuracy on real vs fake.

Generated images are quantised to uint8 exactly as the reference code does and go straight from
G to the extractor (no PNG round trip). G is sampled by the run's GSampler (g_mode, batch,
truncation) with seeded, class-balanced noise, so an evaluation in training and ganlab-evaluate on
the saved checkpoint give the same numbers. Reference features are computed once and cached (keyed
by dataset, split, size, extractor and its weights). Every result carries its protocol and the
protocol's hash, so runs evaluated differently are never compared as equal.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch_fidelity
from torch_fidelity.metric_fid import fid_features_to_statistics
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.metric_prc import prc_features_to_metric

from ganlab.data.base import ImageSet, resize_uint8, to_float, to_uint8
from ganlab.data.folder import FolderFiles
from ganlab.metrics.extractors import Extractor
from ganlab.metrics.neighbours import density_coverage, fid_bootstrap, memorization
from ganlab.metrics.protocol import fingerprint
from ganlab.metrics.reference import ReferenceFeatures, fid_against
from ganlab.metrics.sampling import GSampler
from ganlab.track.timing import Timer

PR_NEIGHBOURHOOD = 3   # k of precision/recall (Kynkaanniemi et al. 2019; torch-fidelity's default)


@dataclass(frozen=True)
class Scoring:
    """What an evaluation measures and how: the eval.* keys of conf/eval/default.yaml (the values live there)."""
    metrics: list
    num_samples: int
    batch_size: int                 # the extractor's
    seed: int                       # the noise of every evaluation
    fid_ci: float                   # bootstrap interval level (0 = off)
    fid_ci_resamples: int
    kid_subset_size: int
    isc_splits: int
    dc_k: int
    mem_percentile: float
    reference_stats: str | None     # a precomputed .npz (mu, sigma) for FID

    @classmethod
    def of(cls, settings, **overrides) -> "Scoring":
        """From any object with these attributes (the validated eval section)."""
        return cls(**{**{f.name: getattr(settings, f.name) for f in fields(cls)}, **overrides})


@dataclass
class Sample:
    """One evaluation's generated images (uint8), their extractor outputs and the reference, as the metrics read them."""
    out: dict
    fake: torch.Tensor
    ref: dict
    step: int
    pr: tuple | None = None         # (generated, real) P/R features, once a metric has asked


class Evaluator:
    def __init__(self, extractor: Extractor, reference: ImageSet | FolderFiles, scoring: Scoring, *,
                 sampler: GSampler | None = None, pr_extractor: Extractor | None = None, device="cpu",
                 protocol: dict | None = None, cache_key: str = "", train_set: ImageSet | FolderFiles | None = None,
                 train_cache_key: str = "", score_train_set: bool = False, out_dir: Path | None = None, ranks=None):
        unknown = [m for m in scoring.metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown eval.metrics {unknown}; available: {', '.join(METRICS)}")
        if scoring.num_samples < 2:
            raise ValueError(f"eval.num_samples must be at least 2, got {scoring.num_samples}")
        if not 0 <= scoring.fid_ci < 1:
            raise ValueError(f"eval.fid_ci must be a level in [0, 1) (0 = off), got {scoring.fid_ci}")
        metrics = list(scoring.metrics)
        if "is" in metrics and not extractor.fidelity.features_list[1:]:
            warnings.warn(f"eval.metrics has 'is' but extractor '{extractor.name}' gives no class logits; IS skipped", stacklevel=2)
            metrics.remove("is")
        if "class_acc" in metrics and (not extractor.classes or extractor.classes != getattr(reference, "num_classes", 0)):
            warnings.warn(f"eval.metrics has 'class_acc' but extractor '{extractor.name}' is not a classifier of this "
                          f"data set's classes; class_acc skipped (eval.extractor=domain is one)", stacklevel=2)
            metrics.remove("class_acc")
        if "class_recall" in metrics and getattr(reference, "labels", None) is None:
            warnings.warn("eval.metrics has 'class_recall' but the reference set has no labels; class_recall skipped", stacklevel=2)
            metrics.remove("class_recall")
        self.scoring = s = Scoring.of(scoring, metrics=metrics)
        self.extractor, self.reference, self.metrics = extractor, reference, metrics
        self.pr_extractor = pr_extractor or extractor
        self.train_set, self.train_cache_key = train_set, train_cache_key
        self.score_train_set = score_train_set and train_set is not None
        self.num_samples, self.batch_size, self.seed = s.num_samples, s.batch_size, s.seed
        self.device = torch.device(device)
        self.sampler = sampler or GSampler(device=device)
        self.out_dir = Path(out_dir) if out_dir else None
        self.cache_key = cache_key
        self.ranks = ranks if ranks is not None and ranks.active else None   # train/distributed.py's Dist
        self.features_of = ReferenceFeatures(s.batch_size)
        self.protocol = {"extractor": extractor.name, "weights": extractor.weights, "resize": extractor.resize,
                         **({"extractor_accuracy": round(extractor.accuracy, 4)} if extractor.accuracy is not None else {}),
                         "num_samples": s.num_samples, "reference_n": len(reference),
                         **({"pr_features": self.pr_extractor.name} if {"pr", "dc"} & set(metrics) else {}),
                         **self.sampler.protocol(), "torch_fidelity": torch_fidelity.__version__, **(protocol or {})}

    def reference_features(self) -> dict:
        ref = dict(self.features_of(self.reference, self.extractor, self.cache_key))
        ref["stats"] = fid_features_to_statistics(ref["features"].double())
        if self.scoring.reference_stats:
            npz = np.load(self.scoring.reference_stats)
            ref["stats"] = {"mu": npz["mu"].astype(np.float64), "sigma": npz["sigma"].astype(np.float64)}
        return ref

    # ---- an evaluation ----------------------------------------------------------------------------
    def evaluate(self, g: nn.Module, d: nn.Module | None = None, step: int = 0) -> dict:
        """With several ranks, each samples its slice of the same seeded noise and embeds it; rank 0
        gathers the features (and the images, for the memorization pairs), scores, and shares the result."""
        r, timer = self.ranks, Timer()
        z, labels = self.sampler.noise(self.num_samples, g, self.seed)
        if r is not None:
            share = -(-self.num_samples // r.world)     # equal shares, so collective layers see the same calls
            part = slice(r.rank * share, (r.rank + 1) * share)
            z, labels = z[part], (labels[part] if labels is not None else None)
        with timer("generate"), self.sampler.prepared(g):
            fake = to_uint8(self.sampler.images(g, z, labels))
        with timer("embed"):
            out = self.embed(fake)
        if labels is not None:
            out["labels"] = labels.cpu()
        with timer("d_acc"):
            result = self.discriminator_scores(g, d) if "d_acc" in self.metrics and d is not None else {}
        if r is None:
            result.update(self.metrics_from(out, fake, step, timer))
        else:
            parts = r.gather({**{k: v.cpu() for k, v in out.items()}, "images": fake.cpu()})
            scores = None
            if r.main:
                whole = {k: torch.cat([p[k] for p in parts])[:self.num_samples] for k in parts[0]}
                images = whole.pop("images")
                scores = self.metrics_from(whole, images, step, timer)
            result.update(r.broadcast(scores))
        return {**result, "time_s": timer.rounded(), "protocol": self.protocol, "protocol_hash": fingerprint(self.protocol)}

    def evaluate_images(self, images: torch.Tensor, step: int = 0) -> dict:
        """Score given uint8 images (N, C, H, W), e.g. someone else's samples, under this protocol (less G's part)."""
        protocol = {k: v for k, v in self.protocol.items() if not k.startswith("g_") and k not in ("ema", "truncation")}
        protocol.update(num_samples=len(images), source="images")
        return {**self.score(images, step), "protocol": protocol, "protocol_hash": fingerprint(protocol)}

    def score(self, fake: torch.Tensor, step: int = 0) -> dict:
        timer = Timer()
        with timer("embed"):
            out = self.embed(fake)
        return {**self.metrics_from(out, fake, step, timer), "time_s": timer.rounded()}

    def embed(self, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """The extractor outputs the metrics need: features, logits (when it has them), P/R features."""
        out = {k: v for k, v in self.extractor(fake, self.batch_size).items() if v is not None}
        if {"pr", "dc"} & set(self.metrics) and self.pr_extractor is not self.extractor:
            out["pr_features"] = self.pr_extractor(fake, self.batch_size)["features"]
        return out

    def metrics_from(self, out: dict, fake: torch.Tensor, step: int = 0, timer: Timer | None = None) -> dict:
        """The metrics of the generated images `fake` (uint8), embedded as `out`, against the reference, each
        from its entry in SCORES; `timer` collects each one's seconds (the evaluation line's time_s)."""
        timer = timer or Timer()
        with timer("reference"):
            sample = Sample(out, fake, self.reference_features(), step)
        result: dict = {}
        for name in self.metrics:
            if name in SCORES and (name not in CONDITIONAL or "labels" in out):
                with timer(name):
                    result.update(SCORES[name](self, sample))
        return result

    # ---- the metrics, each from a Sample -----------------------------------------------------------
    def fid(self, s: Sample) -> dict:
        """FID against the reference statistics, its split-half floor and its bootstrap interval. A run on a
        fraction of the data also gets fid_train: the FID of its training images themselves, which is what a G
        that copies them scores (its samples' statistics are theirs), the floor that memorising reaches."""
        feats, ref, sc = s.out["features"], s.ref, self.scoring
        result = {"fid": fid_against(feats, ref["stats"]), "fid_floor": float(ref["fid_floor"])}
        if self.score_train_set:
            train = self.features_of(self.train_set, self.extractor, self.train_cache_key)["features"]
            result.update(fid_train=fid_against(train.double(), ref["stats"]), fid_train_n=len(train))
        if sc.fid_ci:
            result["fid_ci"] = list(fid_bootstrap(feats, ref["stats"]["mu"], ref["stats"]["sigma"], sc.fid_ci_resamples,
                                                  sc.fid_ci, self.seed, self.device))
            result["fid_ci_level"] = sc.fid_ci
        return result

    def inception_score(self, s: Sample) -> dict:
        isc = isc_features_to_metric(s.out["logits"], splits=self.scoring.isc_splits)
        return {"is_mean": isc["inception_score_mean"], "is_std": isc["inception_score_std"]}

    def kid(self, s: Sample) -> dict:
        feats, real = s.out["features"], s.ref["features"].double()
        m = min(self.scoring.kid_subset_size, len(feats), len(real))
        kid = kid_features_to_metric(feats, real, kid_subsets=100, kid_subset_size=m, kid_degree=3,
                                     kid_gamma=None, kid_coef0=1, kid_kernel="poly", rng_seed=2020, verbose=False)
        return {"kid": kid["kernel_inception_distance_mean"], "kid_std": kid["kernel_inception_distance_std"]}

    def precision_recall(self, s: Sample) -> dict:
        pr = self.prc(*self.pr_features(s))
        return {"precision": pr["precision"], "recall": pr["recall"]}

    def density_coverage(self, s: Sample) -> dict:
        fake, real = self.pr_features(s)
        return density_coverage(real, fake, self.scoring.dc_k)

    def class_acc(self, s: Sample) -> dict:
        """The share of samples drawn for class y that the extractor's classifier assigns to y."""
        return {"class_acc": (s.out["logits"].argmax(1) == s.out["labels"]).double().mean().item()}

    def class_recall(self, s: Sample) -> dict:
        """P/R recall of each class's samples against the reals of that class (in the P/R features), averaged
        over classes: low when G draws one image per class, however good the images (a whole-set recall
        hides that when the classes differ from one another)."""
        (fake, real), labels, real_labels = self.pr_features(s), s.out["labels"], self.reference.labels
        recalls = []
        for c in labels.unique().tolist():
            f, r = fake[labels == c], real[real_labels == c]
            if len(f) > PR_NEIGHBOURHOOD and len(r) > PR_NEIGHBOURHOOD:
                recalls.append(self.prc(f, r)["recall"])
        return {"class_recall": float(np.mean(recalls)) if recalls else float("nan")}

    def memorization(self, s: Sample) -> dict:
        train = self.train_set if self.train_set is not None else self.reference
        key = self.train_cache_key if self.train_set is not None else self.cache_key
        mem = memorization(self.features_of(train, self.extractor, key)["features"], s.out["features"],
                           self.scoring.mem_percentile)
        out = {k: mem[k] for k in ("mem_fraction", "mem_median_ratio", "mem_threshold")}
        if self.out_dir is not None:
            closest = mem["distances"].argsort()[:16]
            pairs = self.pair_images(s.fake[closest], train.take(mem["nearest"][closest])[0])
            from ganlab.track.images import save_grid
            out["mem_pairs_png"] = str(save_grid(pairs, self.out_dir / f"memorization_step_{s.step:07d}.png", 8))
        return out

    # ---- helpers -------------------------------------------------------------------------------------
    def pr_features(self, s: Sample) -> tuple[torch.Tensor, torch.Tensor]:
        """(generated, real) features for precision/recall, density/coverage and class_recall: the P/R
        extractor's when it is not the FID one, else the FID features."""
        if s.pr is None:
            if "pr_features" in s.out:
                s.pr = s.out["pr_features"], self.features_of(self.reference, self.pr_extractor, self.cache_key)["features"]
            else:
                s.pr = s.out["features"], s.ref["features"].double()
        return s.pr

    @staticmethod
    def prc(fake: torch.Tensor, real: torch.Tensor) -> dict:
        """torch-fidelity's precision/recall, batched: 50k x 50k distances do not fit."""
        return prc_features_to_metric(fake.float(), real.float(), prc_neighborhood=PR_NEIGHBOURHOOD,
                                      prc_batch_size=5000, save_cpu_ram=True, verbose=False)

    @staticmethod
    def pair_images(fake: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
        """float (2n, C, H, W): generated, its nearest training image, generated, ... (4 pairs a row of 8)."""
        train = resize_uint8(train, fake.shape[-1])
        if train.shape[1] != fake.shape[1]:
            train, fake = train.expand(-1, 3, -1, -1), fake.expand(-1, 3, -1, -1)
        return to_float(torch.stack([fake, train], 1).flatten(0, 1))

    @torch.no_grad()
    def discriminator_scores(self, g: nn.Module, d: nn.Module, n: int = 256) -> dict:
        """D as a classifier (logit > 0 = real) on a reference batch vs a fake batch (seeded)."""
        gen = torch.Generator().manual_seed(self.seed + 1)
        idx = torch.randperm(len(self.reference), generator=gen)[:n]
        real, y_real = self.reference.take(idx)
        real = to_float(real).to(self.device)
        classes = getattr(g, "num_classes", 0)
        y_real = y_real.to(self.device) if classes else None
        z, y_fake = self.sampler.noise(len(idx), g, self.seed + 1, balanced=False)
        with self.sampler.prepared(g):
            fake = self.sampler.images(g, z, y_fake).to(self.device)
        y_fake = y_fake.to(self.device) if y_fake is not None else None
        pred_real = d(real, y_real).logits > 0
        pred_fake = d(fake, y_fake).logits > 0
        tp, fn, fp = pred_real.sum().item(), (~pred_real).sum().item(), pred_fake.sum().item()
        tn = len(pred_fake) - fp
        return {"d_accuracy": (tp + tn) / (2 * len(idx)),
                "d_precision": tp / (tp + fp) if tp + fp else 0.0,
                "d_recall": tp / (tp + fn) if tp + fn else 0.0}


# eval.metrics name -> how it is scored from a Sample. d_acc is not here: it asks D, in Evaluator.evaluate.
SCORES: dict[str, Callable[[Evaluator, Sample], dict]] = {
    "fid": Evaluator.fid, "is": Evaluator.inception_score, "kid": Evaluator.kid, "pr": Evaluator.precision_recall,
    "dc": Evaluator.density_coverage, "class_acc": Evaluator.class_acc, "class_recall": Evaluator.class_recall,
    "memorization": Evaluator.memorization}
CONDITIONAL = ("class_acc", "class_recall")   # scored only for samples drawn with labels
METRICS = (*SCORES, "d_acc")
