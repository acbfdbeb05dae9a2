"""Nested dicts as flat dotted keys. Its own module so that the trainer (checkpoint config diffs) and the run
readers in track/ (which must never import ganlab.train) share it."""
from __future__ import annotations


def flatten(tree, prefix: str = "") -> dict:
    """Nested dicts -> {"a.b.c": leaf}; an empty dict is a leaf of its own."""
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): tree}
