"""A trainer's state in a checkpoint: what last.pt and best.pt hold (the networks, EMA, optimizers,
schedules, scalers, regularizers, the data order, statistics, RNG and config), writing them, and resuming a
run from one. Checkpoints hold unwrapped state dicts, so they load in a single process. Each function takes the
Trainer (train/trainer.py, which calls them), not its type: this module imports nothing of the trainer's."""
from __future__ import annotations

import torch

from ganlab.errors import ConfigError
from ganlab.track.jsonl import drop_after
from ganlab.track.summary import previous_wall_time
from ganlab.train import checkpoint as ckpt


def state_dict(t) -> dict:
    """Everything a resume needs that is the same on every rank (save() adds each rank's own)."""
    return {
        "step": t.step, "images_seen": t.images_seen, "best_fid": t.evals.best_fid,
        "g": t.g.state_dict(), "d": t.d.state_dict(),
        "ema": t.ema.state_dict() if t.ema else None,
        "opt_g": t.opt_g.state_dict(), "opt_d": t.opt_d.state_dict(),
        "sched_g": t.sched_g.state_dict(), "sched_d": t.sched_d.state_dict(),
        "scaler_g": t.scaler_g.state_dict(), "scaler_d": t.scaler_d.state_dict(),
        "regs": [r.state_dict() for r in t.regs], "data": t.data.state_dict(),
        "stats": t.stats.state_dict(), "rng": ckpt.rng_state(), "config": t.run.config,
    }


def save(t, name: str) -> None:
    ranks = t.dist.rank_states({"rng": ckpt.rng_state(), "stats": t.stats.state_dict(),   # a collective:
                                "regs": [r.state_dict() for r in t.regs]})       # per-rank state
    if t.dist.main:
        ckpt.save_atomic({**state_dict(t), **ranks}, t.run_dir / "checkpoints" / name)


def resume(t) -> None:
    path = t.run.resume_from
    if path is None:
        return
    state = ckpt.load(path, map_location=t.hw.device, option="resume=", fresh="start afresh with resume=null")
    diff = ckpt.config_diff(state.get("config", {}), t.run.config, list(t.run.resume_keys))
    if diff:
        raise ConfigError(f"cannot resume from {path}: the config differs in keys that matter:\n" + "\n".join(diff))
    state = {**state, **(t.dist.own_state(state, path) or {})}   # this rank's RNG, statistics, APA images
    t.g.load_state_dict(state["g"])
    t.d.load_state_dict(state["d"])
    if t.ema and state["ema"] is not None:
        t.ema.load_state_dict(state["ema"])
    for name in ("opt_g", "opt_d", "sched_g", "sched_d", "scaler_g", "scaler_d", "data", "stats"):
        getattr(t, name).load_state_dict(state[name])
    for r, s in zip(t.regs, state["regs"]):
        r.load_state_dict(s)
    ckpt.set_rng_state({k: (v.cpu() if isinstance(v, torch.Tensor) else [x.cpu() for x in v])
                        for k, v in state["rng"].items()})
    t.step, t.images_seen, t.evals.best_fid = state["step"], state["images_seen"], state["best_fid"]
    t.elapsed = previous_wall_time(t.run_dir)
    for log in ("metrics.jsonl", "eval.jsonl"):   # what a killed run logged after this checkpoint
        drop_after(t.run_dir / log, t.step)
