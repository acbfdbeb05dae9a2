"""Evaluation of a generator: FID, IS, KID, precision/recall (torch-fidelity's metric code on the
chosen extractor's features) and the discriminator's accuracy/precision/recall on real vs fake.

Generated images are quantised to uint8 exactly as the reference code does and go straight from
G to the extractor (no PNG round trip). Conditional generators are sampled class-balanced.
Reference features are computed once and cached (keyed by dataset, split, size and extractor).
Every result carries its protocol, so runs evaluated differently are never compared as equal.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.metric_prc import prc_features_to_metric

from ganlab.data.base import ImageSet, to_float, to_uint8
from ganlab.data.folder import FolderFiles
from ganlab.metrics.extractors import Extractor, cache_dir
from ganlab.models.base import sample_prior

METRICS = ("fid", "is", "kid", "pr", "d_acc")


def fid_from_features(a: torch.Tensor, b: torch.Tensor) -> float:
    return fid_statistics_to_metric(fid_features_to_statistics(a), fid_features_to_statistics(b), False)["frechet_inception_distance"]


class Evaluator:
    def __init__(self, extractor: Extractor, reference: ImageSet | FolderFiles, metrics: list[str] = METRICS,
                 num_samples: int = 10000, batch_size: int = 250, device="cpu", protocol: dict | None = None,
                 cache_key: str = "", reference_stats: str | None = None, kid_subset_size: int = 1000,
                 isc_splits: int = 10, pr_neighborhood: int = 3, progress: bool = False, ranks=None):
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown eval.metrics {unknown}; available: {', '.join(METRICS)}")
        if num_samples < 2:
            raise ValueError(f"eval.num_samples must be at least 2, got {num_samples}")
        self.extractor, self.reference, self.metrics = extractor, reference, list(metrics)
        self.num_samples, self.batch_size, self.device = num_samples, batch_size, torch.device(device)
        self.reference_stats, self.kid_subset_size = reference_stats, kid_subset_size
        self.isc_splits, self.pr_neighborhood = isc_splits, pr_neighborhood
        self.protocol = {"extractor": extractor.name, "num_samples": num_samples,
                         "reference_n": len(reference), **(protocol or {})}
        self.cache_key = cache_key
        self.ranks = ranks if ranks is not None and ranks.active else None   # train/distributed.py's Dist
        self._ref = None

    # ---- reference ------------------------------------------------------------------------------
    def reference_features(self) -> dict:
        """Features of the reference set, cached on disk; plus the real-vs-real FID floor."""
        if self._ref is not None:
            return self._ref
        key = hashlib.sha1(json.dumps([self.cache_key, self.extractor.name, [len(self.reference), self.reference.channels, self.reference.image_size]],
                                      sort_keys=True).encode()).hexdigest()[:16]
        path = cache_dir() / f"reference-{key}.pt"
        if path.is_file():
            ref = torch.load(path, weights_only=True)
        else:
            out = self.extractor(self.reference.chunks(self.batch_size))
            feats = out["features"]
            half = torch.randperm(len(feats), generator=torch.Generator().manual_seed(0))
            a, b = feats[half[: len(feats) // 2]], feats[half[len(feats) // 2:]]
            ref = {"features": feats.float(), "logits": out["logits"].float(),
                   "fid_floor": fid_from_features(a, b) if len(feats) >= 4 else float("nan")}
            from ganlab.train.checkpoint import save_atomic
            save_atomic(ref, path)
        stats = fid_features_to_statistics(ref["features"].double())
        if self.reference_stats:
            npz = np.load(self.reference_stats)
            stats = {"mu": npz["mu"].astype(np.float64), "sigma": npz["sigma"].astype(np.float64)}
        self._ref = {**ref, "stats": stats}
        return self._ref

    # ---- generation ------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, g: nn.Module, n: int, start: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """n uint8 images (n, C, H, W) from g, class-balanced when conditional (image i of the whole
        set, counted from `start`, has class i % classes); labels or None."""
        classes = getattr(g, "num_classes", 0)
        labels = (torch.arange(start, start + n) % classes).to(self.device) if classes else None
        imgs = []
        for i in range(0, n, self.batch_size):
            m = min(self.batch_size, n - i)
            z, _ = sample_prior(m, g.z_dim, 0, self.device)
            imgs.append(to_uint8(g(z, labels[i:i + m] if labels is not None else None)).cpu())
        return torch.cat(imgs), labels

    # ---- metrics -----------------------------------------------------------------------------------
    def evaluate(self, g: nn.Module, d: nn.Module | None = None, step: int = 0) -> dict:
        if self.ranks is not None:
            return self.evaluate_sharded(g, d, step)
        ref = self.reference_features()
        fake, _ = self.generate(g, self.num_samples)
        out = self.extractor(fake, self.batch_size)
        return self.metrics_from(out, ref, g, d)

    def evaluate_sharded(self, g: nn.Module, d: nn.Module | None, step: int) -> dict:
        """Each rank generates and embeds an equal share of the samples (equal, so collective layers such
        as SyncBatchNorm see the same calls everywhere); rank 0 gathers them, scores, and shares the result."""
        r = self.ranks
        share = -(-self.num_samples // r.world)
        fake, _ = self.generate(g, share, start=r.rank * share)
        out = {k: v.cpu() for k, v in self.extractor(fake, self.batch_size).items()}
        d_scores = self.discriminator_scores(g, d) if "d_acc" in self.metrics and d is not None else {}
        parts = r.gather(out)
        result = None
        if r.main:
            out = {k: torch.cat([p[k] for p in parts])[:self.num_samples] for k in out}
            result = {**self.metrics_from(out, self.reference_features(), g, None), **d_scores}
        return r.broadcast(result)

    def metrics_from(self, out: dict, ref: dict, g: nn.Module, d: nn.Module | None) -> dict:
        """The metrics of the generated set's extractor outputs against the reference."""
        feats, real = out["features"], ref["features"].double()
        result: dict = {}
        if "fid" in self.metrics:
            fake_stats = fid_features_to_statistics(feats)
            result["fid"] = fid_statistics_to_metric(fake_stats, ref["stats"], False)["frechet_inception_distance"]
            result["fid_floor"] = float(ref["fid_floor"])
        if "is" in self.metrics:
            isc = isc_features_to_metric(out["logits"], splits=self.isc_splits)
            result["is_mean"], result["is_std"] = isc["inception_score_mean"], isc["inception_score_std"]
        if "kid" in self.metrics:
            m = min(self.kid_subset_size, len(feats), len(real))
            kid = kid_features_to_metric(feats, real, kid_subsets=100, kid_subset_size=m, kid_degree=3,
                                         kid_gamma=None, kid_coef0=1, kid_kernel="poly", rng_seed=2020, verbose=False)
            result["kid"], result["kid_std"] = kid["kernel_inception_distance_mean"], kid["kernel_inception_distance_std"]
        if "pr" in self.metrics:
            pr = prc_features_to_metric(feats.float(), real.float(), prc_neighborhood=self.pr_neighborhood,
                                        prc_batch_size=5000, save_cpu_ram=True, verbose=False)   # batched: 50k x 50k distances do not fit
            result["precision"], result["recall"] = pr["precision"], pr["recall"]
        if "d_acc" in self.metrics and d is not None:
            result.update(self.discriminator_scores(g, d))
        return {**result, "protocol": self.protocol}

    @torch.no_grad()
    def discriminator_scores(self, g: nn.Module, d: nn.Module, n: int = 256) -> dict:
        """D as a classifier (logit > 0 = real) on a reference batch vs a fresh fake batch."""
        idx = torch.randperm(len(self.reference))[:n]
        real, y_real = self.reference.take(idx)
        real = to_float(real).to(self.device)
        y_real = y_real.to(self.device) if getattr(g, "num_classes", 0) else None
        z, y_fake = sample_prior(len(idx), g.z_dim, getattr(g, "num_classes", 0), self.device)
        pred_real = d(real, y_real).logits > 0
        pred_fake = d(g(z, y_fake), y_fake).logits > 0
        tp, fn, fp = pred_real.sum().item(), (~pred_real).sum().item(), pred_fake.sum().item()
        tn = len(pred_fake) - fp
        return {"d_accuracy": (tp + tn) / (2 * len(idx)),
                "d_precision": tp / (tp + fp) if tp + fp else 0.0,
                "d_recall": tp / (tp + fn) if tp + fn else 0.0}
