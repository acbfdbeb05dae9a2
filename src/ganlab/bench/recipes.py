"""ganlab-bench recipes: train a suite of presets from scratch, one after the other, and print one table:
preset, wall minutes (start-up, training and evaluation), steps, kimg and the training's real images per
second on this machine, final and best FID, the protocol's real-vs-real floor, FID/floor, IS, precision and
recall. Each preset's final sample grid is copied to --grids, and each suite's grids are drawn on one sheet,
so the suite can be looked at as well as read.

Two suites: `digits`, every preset on the embedded digits (the default), and `sprites`, the *_sprites presets
on the prepared RGB sprite folder (skipped with one line when the folder is missing). --recipes takes suite
names and preset names, comma-separated.

The bar: FID <= 3x the floor within 6 minutes for digits (12 for the presets with 5 D steps per G step) and
30 minutes for sprites, and for a conditional preset class_acc >= 0.9 (digits) or 0.8 (sprites). Minutes are
scaled to a machine whose plain PyTorch DCGAN loop runs at 360 img/s (bench/yardstick.py), measured in the same
call, so the bar means the same on every machine. Each run is a plain `ganlab-train +experiment=PRESET` in
its own process, so what is timed is what a user runs.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ganlab import CONF_DIR
from ganlab.bench.yardstick import REFERENCE_IMG_S, plain_loop_rate, scaled_minutes
from ganlab.track.runs import load_run

BAR_RATIO = 3.0


@dataclass(frozen=True)
class Bar:
    minutes: float        # scaled minutes
    minutes_5d: float     # ... for presets with 5 D steps per G step
    class_acc: float      # conditional presets


BARS = {"digits": Bar(6.0, 12.0, 0.9), "sprites": Bar(30.0, 30.0, 0.8)}


def presets_named(suffix: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / "experiment").glob(f"*_{suffix}.yaml") if not p.stem.startswith("_"))


def digits_presets() -> list[str]:
    """Every preset that trains on the embedded digits: *_digits and the seed's DCGAN recipe."""
    return presets_named("digits") + ["dcgan_bce_plateau"]


def suite_presets(suite: str) -> list[str]:
    return digits_presets() if suite == "digits" else presets_named(suite)


def suite_of(preset: str) -> str:
    return "sprites" if preset.endswith("_sprites") else "digits"


def missing_data(preset: str, overrides: list[str]) -> str | None:
    """An image-folder preset's dataset.root when that folder is not there (None otherwise: downloadable sets
    fetch their files themselves)."""
    from ganlab.cli.choices import compose_config
    from ganlab.config import is_missing
    data = compose_config([f"+experiment={preset}", *overrides]).dataset
    if data.name != "imagefolder":
        return None
    if is_missing(data, "root"):
        return "(unset: dataset.root=...)"
    return None if Path(data.root).is_dir() else data.root


def run_preset(preset: str, run_dir: Path, overrides: list[str]) -> tuple[float, int]:
    """ganlab-train in a fresh process; -> (wall seconds, exit code). Its output goes to RUN_DIR.log."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    cmd = [sys.executable, "-m", "ganlab.cli.train", f"+experiment={preset}", "progress=false",
           f"hydra.run.dir={run_dir}", *overrides]
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    with open(run_dir.with_suffix(".log"), "w") as log:
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    return time.perf_counter() - t, code


def row(preset: str, run_dir: Path, seconds: float, code: int, yardstick: float = REFERENCE_IMG_S) -> dict:
    """The table row of one finished run, read as ganlab-compare reads it (load_run); `yardstick` is this
    machine's plain-loop img/s, which scales the minutes."""
    run = load_run(run_dir)
    scored = [e for e in run.evals if "fid" in e]
    minutes = scaled_minutes(seconds / 60, yardstick)
    if code or not scored:
        return {"preset": preset, "minutes": minutes, "status": f"failed (exit {code}, see {run_dir}.log)"}
    v = run.values
    kimg, train_s = v.get("kimg"), v.get("time_train")
    r = {"preset": preset, "minutes": minutes, "steps": scored[-1]["step"], "kimg": kimg,
         "img_s": 1000 * kimg / train_s if kimg and train_s else None, "fid": v["fid_final"],
         "best_fid": v["fid_best"], "floor": scored[-1]["fid_floor"], "is": v.get("is_mean_final"),
         "precision": v.get("precision_final"), "recall": v.get("recall_final"),
         "class_acc": v.get("class_acc_final"), "class_recall": v.get("class_recall_final")}
    r["ratio"] = r["fid"] / r["floor"]
    bar = BARS[suite_of(preset)]
    budget = bar.minutes_5d if (run.config.get("train.n_critic") or 1) >= 5 else bar.minutes
    classes_ok = r["class_acc"] is None or r["class_acc"] >= bar.class_acc
    r["status"] = "meets" if r["ratio"] <= BAR_RATIO and r["minutes"] <= budget and classes_ok else "misses"
    return r


def final_grid(run_dir: Path) -> Path | None:
    grids = sorted((run_dir / "samples").glob("step_*.png"))
    return grids[-1] if grids else None


def montage(grids: dict[str, Path], path: Path, width: int = 320, per_row: int = 3) -> Path:
    """Every preset's final grid, each resized to the same width (every grid is 8 samples wide, so every sample
    is drawn at one scale), under its name, `per_row` presets to a row: the suite at a glance."""
    from PIL import Image, ImageDraw
    images = {}
    for name, p in grids.items():
        im = Image.open(p).convert("RGB")
        images[name] = im.resize((width, round(im.height * width / im.width)), Image.NEAREST)
    pad, gap, names = 16, 12, list(images)
    rows = [names[i:i + per_row] for i in range(0, len(names), per_row)]
    heights = [max(images[n].height for n in r) + pad for r in rows]
    sheet = Image.new("RGB", (per_row * (width + gap) - gap, sum(heights) + gap * (len(rows) - 1)), "white")
    draw, y = ImageDraw.Draw(sheet), 0
    for r, h in zip(rows, heights):
        for k, name in enumerate(r):
            x = k * (width + gap)
            draw.text((x, y + 2), name, fill="black")
            sheet.paste(images[name], (x, y + pad))
        y += h + gap
    sheet.save(path)
    return path


def table(rows: list[dict]) -> str:
    head = ("| preset | minutes | steps | kimg | img/s | final FID | best FID | floor | FID/floor | IS | precision "
            "| recall | class_acc | class_recall | bar |")
    out = [head, "|---" * head.count(" | ") + "|---|"]

    def opt(v, fmt: str = ".3f") -> str:
        return "-" if v is None else format(v, fmt)
    for r in rows:
        if "fid" not in r:
            minutes = "-" if r["minutes"] is None else f"{r['minutes']:.1f}"
            out.append(f"| {r['preset']} | {minutes} |" + " |" * 12 + f" {r['status']} |")
            continue
        out.append(f"| {r['preset']} | {r['minutes']:.1f} | {r['steps']} | {opt(r.get('kimg'), '.0f')} | "
                   f"{opt(r.get('img_s'), '.0f')} | {r['fid']:.1f} | {r['best_fid']:.1f} | "
                   f"{r['floor']:.1f} | {r['ratio']:.2f} | {r['is']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} | "
                   f"{opt(r['class_acc'])} | {opt(r['class_recall'])} | {r['status']} |")
    return "\n".join(out)


def main(a) -> None:
    names = a.recipes.split(",") if a.recipes else ["digits"]
    presets = [p for n in names for p in (suite_presets(n) if n in BARS else [n])]
    unknown = [p for p in presets if not (CONF_DIR / "experiment" / f"{p}.yaml").exists()]
    if unknown:
        raise ValueError(f"unknown presets {unknown}; available: the suites {', '.join(BARS)}, or "
                         f"{', '.join(p for s in BARS for p in suite_presets(s))}")
    out, grids = Path(a.out), Path(a.grids) if a.grids else None
    yardstick = plain_loop_rate()
    bars = "; ".join(f"{s}: FID <= {BAR_RATIO:g}x floor within {b.minutes:g} minutes"
                     + (f" ({b.minutes_5d:g} with 5 D steps)" if b.minutes_5d != b.minutes else "")
                     + f", class_acc >= {b.class_acc:g}" for s, b in BARS.items())
    print(f"ganlab-bench recipes: {len(presets)} presets, one after the other; runs under {out}; bar: {bars}\n"
          f"yardstick: a plain PyTorch DCGAN loop runs at {yardstick:.0f} img/s here; minutes are "
          f"scaled to a {REFERENCE_IMG_S:.0f} img/s machine (x {yardstick / REFERENCE_IMG_S:.2f})", flush=True)
    rows = []
    for preset in presets:
        root = missing_data(preset, list(a.override))
        if root:
            rows.append({"preset": preset, "minutes": None, "status": f"skipped: no folder {root}"})
            print(f"  {preset}: skipped, dataset.root={root} is missing (its preset's first comment says how to "
                  f"make it)", flush=True)
            continue
        seconds, code = run_preset(preset, out / preset, list(a.override))
        rows.append(row(preset, out / preset, seconds, code, yardstick))
        r = rows[-1]
        print(f"  {preset}: {seconds / 60:.1f} min measured, {r['minutes']:.1f} scaled, " +
              (f"FID {r['fid']:.1f} (floor {r['floor']:.1f})" if "fid" in r else r["status"]), flush=True)
        grid = final_grid(out / preset)
        if grids and grid:
            grids.mkdir(parents=True, exist_ok=True)
            shutil.copy(grid, grids / f"{preset}.png")
    for suite in sorted({suite_of(p) for p in presets}) if grids else []:   # each suite's latest grids, any call's
        shown = {p: grids / f"{p}.png" for p in suite_presets(suite) if (grids / f"{p}.png").exists()}
        if shown:
            print(f"wrote {montage(shown, grids.parent / f'{grids.name}_{suite}.png')}")
    text = table(rows)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipes.md").write_text(text + "\n")
    (out / "recipes.json").write_text(json.dumps({"yardstick_img_s": yardstick, "rows": rows}, indent=1) + "\n")
    if any(r["status"].startswith("failed") for r in rows):
        raise SystemExit(1)
