"""Reading run directories back for comparison: discovery, status, what the user chose (Hydra group
choices and command-line overrides), provenance, the evaluation protocol, metrics, and aggregation
over seeds. Robust to partial runs: a crashed or still-running run is listed with what it has, and
unreadable metric lines are skipped and counted."""
from __future__ import annotations

import glob
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ganlab import CONF_DIR
from ganlab.metrics.protocol import fingerprint
from ganlab.nested import flatten
from ganlab.track.jsonl import read_jsonl

RUNNING_WITHIN_S = 600          # no summary.json and a metrics line this recent: still running
IGNORED_KEYS = ("progress", "resume", "hardware.", "logger.", "train.log_every", "train.sample_every",
                "train.ckpt_every")
METRICS = ("fid", "is_mean", "kid", "precision", "recall", "density", "coverage", "class_acc", "class_recall", "mem_fraction",
           "fid_train")
LOWER_IS_BETTER = ("fid", "kid", "mem_fraction", "fid_train")


@dataclass
class Run:
    path: Path
    config: dict = field(default_factory=dict)       # flattened
    status: str = "unknown"
    values: dict = field(default_factory=dict)       # fid_final, fid_best, ..., kimg, wall_s, img_s
    metrics: list = field(default_factory=list)      # metrics.jsonl rows
    evals: list = field(default_factory=list)        # eval.jsonl rows (of the chosen protocol)
    skipped_lines: int = 0
    eval_cut: str | None = None                       # eval.jsonl's last line is unreadable: what the final values are
    final_from_summary: bool = False                  # ... and the final evaluation came from summary.json
    choices: dict = field(default_factory=dict)      # group -> option ('model': 'dcgan', 'regularizer': '[apa]')
    override_keys: list = field(default_factory=list)   # leaf keys set on the command line ('seed', 'train.steps')
    provenance: dict | None = None
    protocol: dict | None = None                      # the protocol the values were measured with
    protocol_hash: str | None = None
    protocol_hashes: list = field(default_factory=list)   # every protocol in eval.jsonl

    def label(self, key: str):
        """The value of a label column: a group choice, else a (flattened) config key."""
        key = key.lstrip("+")
        return self.choices[key] if key in self.choices else self.config.get(key)

    @property
    def commit(self) -> str | None:
        git = (self.provenance or {}).get("git") or {}
        if not git.get("commit"):
            return None
        return git["commit"][:8] + ("+dirty" if git.get("dirty") else "")


def is_run(d: Path) -> bool:
    return (d / ".hydra" / "config.yaml").is_file() or (d / "metrics.jsonl").is_file()


def find_runs(paths: list[str]) -> list[Path]:
    """Run directories under each PATH: a run, a multirun directory (every job), or a glob."""
    found: list[Path] = []
    for p in paths:
        matches = [Path(m) for m in sorted(glob.glob(p))] or [Path(p)]
        for m in matches:
            if not m.exists():
                raise FileNotFoundError(f"{m}: no such run or multirun directory")
            if is_run(m):
                found.append(m)
            else:
                found.extend(sorted((d.parent for d in m.rglob("metrics.jsonl") if is_run(d.parent)),
                                    key=lambda d: str(d)))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


def list_groups() -> set[str]:
    """The groups train.yaml's defaults select as a list (regularizer, logger): several options at once."""
    defaults = (yaml.safe_load((CONF_DIR / "train.yaml").read_text()) or {}).get("defaults") or []
    return {k for entry in defaults if isinstance(entry, dict) for k, v in entry.items() if isinstance(v, list)}


def read_choices(path: Path, raw: dict) -> tuple[dict, list[str]]:
    """Group choices (hydra.runtime.choices; list groups such as `regularizer` from the config's
    entries, which Hydra does not record) and the leaf keys overridden on the command line."""
    choices, leaves = {}, []
    hydra_file = path / ".hydra" / "hydra.yaml"
    if hydra_file.is_file():
        runtime = ((yaml.safe_load(hydra_file.read_text()) or {}).get("hydra") or {}).get("runtime") or {}
        choices = {k: v for k, v in (runtime.get("choices") or {}).items() if not k.startswith("hydra/")}
    groups = {p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name != "hydra"} if CONF_DIR.is_dir() else set()
    lists = list_groups()
    for g in groups - set(choices):
        if isinstance(raw.get(g), dict):   # a list group: its selected entries are its keys
            choices[g] = "[" + ",".join(raw[g]) + "]"
        elif g in lists:                    # absent: nothing selected (regularizer=[])
            choices[g] = "[]"
    over_file = path / ".hydra" / "overrides.yaml"
    for item in (yaml.safe_load(over_file.read_text()) or []) if over_file.is_file() else []:
        key = str(item).split("=", 1)[0].lstrip("+~")
        if key not in groups and key not in choices and not key.startswith("hydra"):
            leaves.append(key)
    return choices, leaves


def last_line_cut(path: Path) -> bool:
    """Whether a .jsonl file ends in an unreadable line: a write cut short (a killed run, a full disk)."""
    lines = [x for x in path.read_text().splitlines() if x.strip()] if path.is_file() else []
    try:
        return bool(lines) and not isinstance(json.loads(lines[-1]), dict)
    except json.JSONDecodeError:
        return True


def read_summary(path: Path) -> dict | None:
    try:
        return json.loads((path / "summary.json").read_text()) if (path / "summary.json").is_file() else None
    except json.JSONDecodeError:
        return {}


def final_evaluation(run: Run, evals: list[dict], summary: dict | None) -> list[dict]:
    """eval.jsonl's rows, with the final evaluation from summary.json when the file's last line is cut and the
    summary holds a later one; else run.eval_cut says that the final values shown are the previous evaluation's."""
    if not last_line_cut(run.path / "eval.jsonl"):
        return evals
    step = evals[-1].get("step") if evals else None
    final = (summary or {}).get("final_eval")
    if isinstance(final, dict) and isinstance(final.get("step"), int) and (step is None or final["step"] > step):
        run.eval_cut = f"the last line of eval.jsonl is cut; the final evaluation (step {final['step']}) is summary.json's"
        run.final_from_summary = True
        return [*evals, final]
    run.eval_cut = (f"the last line of eval.jsonl is cut; the final values shown are step {step}'s, the evaluation "
                    "before it" if step is not None else "the only line of eval.jsonl is cut")
    return evals


def select_protocol(run: Run, evals: list[dict], protocol: str | None) -> list[dict]:
    """Tag each eval line with its protocol hash; keep the lines of `protocol` (default: the last line's)."""
    for e in evals:
        if "protocol_hash" not in e:
            e["protocol_hash"] = fingerprint(e["protocol"]) if isinstance(e.get("protocol"), dict) else None
    run.protocol_hashes = list(dict.fromkeys(e["protocol_hash"] for e in evals))
    if not evals:
        return []
    chosen = protocol if protocol is not None else evals[-1]["protocol_hash"]
    kept = [e for e in evals if e["protocol_hash"] == chosen]
    if kept:
        run.protocol_hash, run.protocol = chosen, kept[-1].get("protocol")
    return kept


def load_run(path: Path, protocol: str | None = None) -> Run:
    run = Run(path)
    cfg_file = path / ".hydra" / "config.yaml"
    raw = (yaml.safe_load(cfg_file.read_text()) or {}) if cfg_file.is_file() else {}
    run.config = {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in flatten(raw).items()}
    run.choices, run.override_keys = read_choices(path, raw)
    prov = path / "provenance.json"
    if prov.is_file():
        try:
            run.provenance = json.loads(prov.read_text())
        except json.JSONDecodeError:
            run.provenance = None
    run.metrics, bad_m = read_jsonl(path / "metrics.jsonl")
    evals, bad_e = read_jsonl(path / "eval.jsonl")
    info = read_summary(path)
    if info and run.metrics and isinstance(info.get("step"), int) and (run.metrics[-1].get("step") or 0) > info["step"]:
        info = None   # resumed past the summary of an earlier segment: that summary is not this run's end
    evals = final_evaluation(run, evals, info)
    run.evals = select_protocol(run, evals, protocol)
    run.skipped_lines = bad_m + bad_e
    if info:
        run.status = info.get("status", "unknown")
        run.values["wall_s"] = info.get("wall_time_s")
        run.values.update({f"time_{k}": v for k, v in (info.get("time_s") or {}).items()})   # time_train, ...
    elif info is not None:
        run.status = "unreadable summary"
    else:
        recent = (path / "metrics.jsonl").is_file() and time.time() - (path / "metrics.jsonl").stat().st_mtime < RUNNING_WITHIN_S
        run.status = "running" if recent else ("crashed" if (path / "error.txt").is_file() else "stopped")
    if run.metrics:
        last = run.metrics[-1]
        run.values.update(kimg=last.get("kimg"), img_s=last.get("img_s"), step=last.get("step"))
        if run.values.get("wall_s") is None:   # no summary yet: the last metrics line's clock
            run.values["wall_s"] = last.get("time")
    run.values.update(training_signals(run.metrics))
    for m in METRICS:
        rows = [e for e in run.evals if isinstance(e.get(m), (int, float))]
        if rows:
            run.values[f"{m}_final"] = rows[-1][m]
            best = (min if m in LOWER_IS_BETTER else max)(rows, key=lambda e: e[m])
            run.values[f"{m}_best"] = best[m]
            run.values[f"{m}_best_kimg"] = best.get("kimg")   # where the curve turns
            if m == "fid":
                run.values["fid_ci"] = rows[-1].get("fid_ci")
                run.values["fid_ci_level"] = rows[-1].get("fid_ci_level", 0.95)
    return run


def training_signals(metrics: list[dict]) -> dict:
    """From the training log: E[sign D(real)] averaged over the last quarter of the logged steps (the
    overfitting heuristic APA steers), and APA's or ADA's p at the end and at its highest (absent without them)."""
    out = {}
    sign = [m["d/sign_real"] for m in metrics if isinstance(m.get("d/sign_real"), (int, float))]
    if sign:
        late = sign[len(sign) - max(1, len(sign) // 4):]
        out["sign_real_late"] = sum(late) / len(late)
    for name in ("apa", "ada"):
        p = [m[f"reg/{name}/p"] for m in metrics if isinstance(m.get(f"reg/{name}/p"), (int, float))]
        if p:
            out.update({f"{name}_p_final": p[-1], f"{name}_p_max": max(p)})
    for m in metrics:   # every logged key's last value, under its own name (`--columns reg/apa/p,loss/g/total`)
        out.update({k: v for k, v in m.items() if "/" in k and isinstance(v, (int, float))})
    return out


def differing_keys(runs: list[Run]) -> list[str]:
    keys = sorted({k for r in runs for k in r.config})
    out = []
    for k in keys:
        if any(k == i or k.startswith(i) for i in IGNORED_KEYS):
            continue
        if len({json.dumps(r.config.get(k), default=str) for r in runs}) > 1:
            out.append(k)
    return out


def mean_std(values: list) -> tuple[float, float, int]:
    nums = [v for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
    if not nums:
        return math.nan, math.nan, 0
    mu = sum(nums) / len(nums)
    sd = math.sqrt(sum((v - mu) ** 2 for v in nums) / (len(nums) - 1)) if len(nums) > 1 else 0.0
    return mu, sd, len(nums)

