"""The protocol fingerprint: every number carries how it was measured, and a short hash of it.

Two results are comparable only when their protocols are equal: extractor and weights hash, resize,
number of generated samples, reference split and size, how G was sampled (g_mode, batch, standing
passes), EMA, truncation, the P/R features and torch-fidelity's version.
"""
from __future__ import annotations

import hashlib
import json


def fingerprint(protocol: dict) -> str:
    return hashlib.sha1(json.dumps(protocol, sort_keys=True, default=str).encode()).hexdigest()[:10]


def differing(protocols: list[dict]) -> dict[str, list]:
    """{key: [the distinct values]} for every key on which the protocols disagree."""
    keys = sorted({k for p in protocols for k in p})
    out = {}
    for k in keys:
        values = list(dict.fromkeys(json.dumps(p.get(k), sort_keys=True, default=str) for p in protocols))
        if len(values) > 1:
            out[k] = [json.loads(v) for v in values]
    return out
