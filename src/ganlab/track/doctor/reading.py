"""Reading a Run for the doctor: logged values as numbers, (step, value) series and their late part, the
config's values and regularizers, and the short formats the evidence is written in."""
from __future__ import annotations

import json
import math

import yaml

from ganlab import CONF_DIR
from ganlab.track.doctor.limits import limit
from ganlab.track.runs import Run


def number(v) -> float | None:
    """A logged value as a float: JSON has no NaN/inf, so the logger writes them as strings."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and v.lower() in ("nan", "inf", "-inf", "infinity", "-infinity"):
        return float(v)
    return None


def series(rows: list[dict], key: str) -> list[tuple[int, float]]:
    """(step, value) of every row that logged `key` as a number."""
    return [(r.get("step", i), v) for i, r in enumerate(rows) if (v := number(r.get(key))) is not None]


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan


def late(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return points[len(points) - max(1, round(len(points) * limit("late_fraction"))):]


def config(run: Run, key: str, default=None):
    v = run.config.get(key, default)
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def d_width_override(run: Run) -> str | None:
    """The override that doubles D's width: model.d_width or model.ch. Under model=pair it is the D half's key, with
    `+` where the run left it to the half's model (its yaml, or the pair's top-level key that reached it)."""
    if config(run, "model.name") != "pair":
        key = next((k for k in ("model.d_width", "model.ch") if isinstance(config(run, k), int)), None)
        return f"{key}={2 * config(run, key)}" if key else None
    path = CONF_DIR / "model" / f"{config(run, 'model.d.name')}.yaml"
    defaults = yaml.safe_load(path.read_text()) if path.is_file() else {}
    for k in ("d_width", "ch"):
        if isinstance(own := config(run, f"model.d.{k}"), int):
            return f"model.d.{k}={2 * own}"
        if k in defaults:
            width = config(run, f"model.{k}", defaults[k])
            return f"+model.d.{k}={2 * width}" if isinstance(width, int) else None
    return None


def regularizers(run: Run) -> list[str]:
    """The selected regularizers in their list order (each puts its settings under regularizer.NAME)."""
    names = [k.split(".")[1] for k in run.config if k.startswith("regularizer.")]
    return list(dict.fromkeys(names))


def reg_list(run: Run, add: str = "", drop: str = "") -> str:
    """The `regularizer=[...]` override for the run's list with one added or dropped, followed by the run's own
    settings of the ones it keeps where they differ from their group file: a list named on the command line
    composes bare (cli/choices.py), so without them a preset's settings (APA's 20 kimg) would be lost."""
    kept = [n for n in regularizers(run) if n != drop]
    names = kept + ([add] if add and add not in kept else [])
    settings = [f"{key}={override_value(config(run, key))}" for key in run.config
                if key.split(".")[0] == "regularizer" and key.split(".")[1] in kept
                and config(run, key) != group_default(key)]
    return " ".join([f"regularizer=[{','.join(names)}]", *settings])


def group_default(key: str):
    """`regularizer.NAME.a.b`'s value in conf/regularizer/NAME.yaml (None where the file has no such key)."""
    _, name, *path = key.split(".")
    file = CONF_DIR / "regularizer" / f"{name}.yaml"
    value = yaml.safe_load(file.read_text()) if file.is_file() else None
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def override_value(v) -> str:
    """A config value as Hydra's override grammar writes it: [a,b], true, null."""
    if isinstance(v, list):
        return "[" + ",".join(override_value(x) for x in v) + "]"
    return "null" if v is None else str(v).lower() if isinstance(v, bool) else str(v)


def fmt(v: float) -> str:
    return "nan" if math.isnan(v) else f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def steps(points) -> str:
    return f"steps {points[0][0]:,}-{points[-1][0]:,}" if points[0][0] != points[-1][0] else f"step {points[0][0]:,}"


def last_eval(run: Run, key: str) -> tuple[int, float] | None:
    points = series(run.evals, key)
    return points[-1] if points else None


def peak_eval(run: Run, key: str) -> tuple[int, float]:
    """The (step, value) of the evaluation where `key` was highest."""
    return max(series(run.evals, key), key=lambda p: p[1])


def was_at(point: tuple[int, float]) -> str:
    return f" (it was {fmt(point[1])} at step {point[0]:,})"


def _last_scored(run: Run) -> dict | None:
    return next((e for e in reversed(run.evals) if number(e.get("fid")) is not None and number(e.get("fid_floor"))), None)


def floor_ratio(run: Run) -> float | None:
    """The last FID over the lowest FID the run could be expected to reach: the real-vs-real floor, or, on a
    fraction of the data, the FID of its training images themselves (fid_train) where that is higher."""
    row = _last_scored(run)
    return number(row["fid"]) / max(number(row["fid_floor"]), number(row.get("fid_train")) or 0) if row else None


def floor_name(run: Run) -> str:
    """What floor_ratio divides by, in words."""
    row = _last_scored(run) or {}
    if (number(row.get("fid_train")) or 0) > (number(row.get("fid_floor")) or 0):
        return f"what its {row.get('fid_train_n', 0):,} training images score"
    return "its floor"


def scaled(value: float, factor: float) -> str:
    return f"{value * factor:.3g}"
