"""Features of whole data sets under an extractor, computed once and cached (in memory and on disk, keyed
by the data set, its size and the extractor with its weights), with each set's split-half FID floor."""
from __future__ import annotations

import hashlib
import json

import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from ganlab.metrics.extractors import Extractor, cache_dir, making
from ganlab.train.checkpoint import save_atomic


def fid_against(features: torch.Tensor, stats: dict) -> float:
    """FID of a feature set against statistics {"mu", "sigma"}."""
    return fid_statistics_to_metric(fid_features_to_statistics(features), stats, False)["frechet_inception_distance"]


def fid_from_features(a: torch.Tensor, b: torch.Tensor) -> float:
    return fid_against(a, fid_features_to_statistics(b))


class ReferenceFeatures:
    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self._memory: dict[str, dict] = {}

    def __call__(self, dataset, extractor: Extractor, key: str) -> dict:
        """{"features", "fid_floor"[, "logits"]} of `dataset` under `extractor`; `key` names the data set."""
        ident = json.dumps([key, extractor.name, extractor.weights, [len(dataset), dataset.channels, dataset.image_size]],
                           sort_keys=True)
        if ident in self._memory:
            return self._memory[ident]
        path = cache_dir() / f"reference-{hashlib.sha1(ident.encode()).hexdigest()[:16]}.pt"
        with making(path):
            if path.is_file():
                ref = torch.load(path, weights_only=True)
            else:
                out = extractor(dataset.chunks(self.batch_size))
                feats = out["features"]
                half = torch.randperm(len(feats), generator=torch.Generator().manual_seed(0))
                a, b = feats[half[: len(feats) // 2]], feats[half[len(feats) // 2:]]
                ref = {"features": feats.float(), "fid_floor": fid_from_features(a, b) if len(feats) >= 4 else float("nan")}
                if out["logits"] is not None:
                    ref["logits"] = out["logits"].float()
                save_atomic(ref, path)
        self._memory[ident] = ref
        return ref
