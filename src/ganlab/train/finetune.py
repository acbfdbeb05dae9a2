"""Fine-tuning: start a new run from another run's weights (init_from=PATH) and FreezeD.

init_from loads G, D and the EMA of G from a checkpoint into freshly built models: the optimizers,
schedules, data position and step count start fresh, and the data set may differ. Tensors whose
shapes differ (e.g. a class embedding for another number of classes) keep their fresh values and
are listed. FreezeD (Mo et al. 2020) keeps D's first K blocks (`ordered_blocks()`, input first)
fixed: their parameters leave D's optimizer and never receive gradients.
"""
from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from ganlab.errors import ConfigError
from ganlab.train import checkpoint as ckpt


def load_matching(module: nn.Module, state: dict, what: str) -> list[str]:
    """Copy the tensors of `state` whose name and shape match; -> the names left at their fresh values."""
    own = module.state_dict()
    matching = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not matching:
        raise ConfigError(f"init_from: no tensor of the checkpoint's {what} fits this model "
                          f"(is it the same model=...?)")
    module.load_state_dict({**own, **matching})
    return sorted(set(own) - set(matching))


def init_from(path: str | Path, g: nn.Module, d: nn.Module, ema: nn.Module | None, device="cpu") -> dict:
    """Load G, D and EMA weights from a checkpoint (RUN_DIR or a .pt). -> {part: names not loaded}."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"init_from={path}: no such checkpoint or run directory")
    state = ckpt.load(path, map_location=device, option="init_from=")
    fresh = {"g": load_matching(g, state["g"], "generator")}
    # an imported G without its D (ganlab-import with no --d) leaves D fresh
    fresh["d"] = load_matching(d, state["d"], "discriminator") if state.get("d") is not None else sorted(d.state_dict())
    if ema is not None:   # the checkpoint's EMA, or (a run without EMA) its G
        fresh["ema"] = load_matching(ema, state["ema"] if state.get("ema") is not None else state["g"], "EMA")
    return fresh


def frozen_parameters(d: nn.Module, k: int) -> set[nn.Parameter]:
    """The parameters of D's first k blocks, frozen (requires_grad off)."""
    if k == 0:
        return set()
    if not hasattr(d, "ordered_blocks"):
        raise ConfigError(f"train.freeze_d={k}: {type(d).__name__} does not list its blocks (ordered_blocks())")
    blocks = d.ordered_blocks()
    if not 0 <= k <= len(blocks):
        raise ConfigError(f"train.freeze_d={k}: this discriminator has {len(blocks)} blocks; choose 0..{len(blocks)}")
    params = {p for b in blocks[:k] for p in b.parameters()}
    for p in params:
        p.requires_grad_(False)
    return params
