"""ganlab-bench recipes: train every embedded-data preset from scratch, one after the other, and print one
table: preset, wall minutes (start-up, training and evaluation), final and best FID, the protocol's
real-vs-real floor, FID/floor, IS, precision and recall. Each preset's final sample grid is copied to
--grids, so the suite can be looked at as well as read.

The bar (issue #11): FID <= 3x the floor within 6 minutes on a 2-core machine. Each run is a plain
`ganlab-train +experiment=PRESET` in its own process, so what is timed is exactly what a user runs.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ganlab.track.runs import CONF_DIR, load_run

BAR_RATIO, BAR_MINUTES = 3.0, 6.0


def digits_presets() -> list[str]:
    """Every preset that trains on the embedded digits: *_digits and the seed's DCGAN recipe."""
    names = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*_digits.yaml") if not p.stem.startswith("_"))
    return names + ["dcgan_bce_plateau"]


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


def row(preset: str, run_dir: Path, seconds: float, code: int) -> dict:
    """The table row of one finished run, read as ganlab-compare reads it (load_run)."""
    run = load_run(run_dir)
    scored = [e for e in run.evals if "fid" in e]
    if code or not scored:
        return {"preset": preset, "minutes": seconds / 60, "status": f"failed (exit {code}, see {run_dir}.log)"}
    v = run.values
    r = {"preset": preset, "minutes": seconds / 60, "steps": scored[-1]["step"], "fid": v["fid_final"],
         "best_fid": v["fid_best"], "floor": scored[-1]["fid_floor"], "is": v.get("is_mean_final"),
         "precision": v.get("precision_final"), "recall": v.get("recall_final")}
    r["ratio"] = r["fid"] / r["floor"]
    r["status"] = "meets" if r["ratio"] <= BAR_RATIO and r["minutes"] <= BAR_MINUTES else "misses"
    return r


def final_grid(run_dir: Path) -> Path | None:
    grids = sorted((run_dir / "samples").glob("step_*.png"))
    return grids[-1] if grids else None


def montage(grids: dict[str, Path], path: Path, scale: int = 2) -> Path:
    """Every preset's final grid side by side, each under its name: the suite at a glance."""
    from PIL import Image, ImageDraw
    images = {name: Image.open(p).convert("RGB") for name, p in grids.items()}
    images = {n: im.resize((im.width * scale, im.height * scale), Image.NEAREST) for n, im in images.items()}
    pad = 14
    width = sum(im.width + 8 for im in images.values())
    sheet = Image.new("RGB", (width, max(im.height for im in images.values()) + pad), "white")
    draw, x = ImageDraw.Draw(sheet), 0
    for name, im in images.items():
        draw.text((x, 1), name.removesuffix("_digits"), fill="black")
        sheet.paste(im, (x, pad))
        x += im.width + 8
    sheet.save(path)
    return path


def table(rows: list[dict]) -> str:
    head = "| preset | minutes | steps | final FID | best FID | floor | FID/floor | IS | precision | recall | bar |"
    out = [head, "|---" * head.count(" | ") + "|---|"]
    for r in rows:
        if "fid" not in r:
            out.append(f"| {r['preset']} | {r['minutes']:.1f} | | | | | | | | | {r['status']} |")
            continue
        out.append(f"| {r['preset']} | {r['minutes']:.1f} | {r['steps']} | {r['fid']:.1f} | {r['best_fid']:.1f} | "
                   f"{r['floor']:.1f} | {r['ratio']:.2f} | {r['is']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} | "
                   f"{r['status']} |")
    return "\n".join(out)


def main(a) -> None:
    presets = a.recipes.split(",") if a.recipes else digits_presets()
    unknown = [p for p in presets if not (CONF_DIR / "experiment" / f"{p}.yaml").exists()]
    if unknown:
        raise ValueError(f"unknown presets {unknown}; available: {', '.join(digits_presets())}")
    out, grids = Path(a.out), Path(a.grids) if a.grids else None
    print(f"ganlab-bench recipes: {len(presets)} presets, one after the other; runs under {out}; "
          f"bar: FID <= {BAR_RATIO:g}x floor within {BAR_MINUTES:g} minutes", flush=True)
    rows = []
    for preset in presets:
        seconds, code = run_preset(preset, out / preset, list(a.override))
        rows.append(row(preset, out / preset, seconds, code))
        r = rows[-1]
        print(f"  {preset}: {r['minutes']:.1f} min, " + (f"FID {r['fid']:.1f} (floor {r['floor']:.1f})" if "fid" in r
                                                         else r["status"]), flush=True)
        grid = final_grid(out / preset)
        if grids and grid:
            grids.mkdir(parents=True, exist_ok=True)
            shutil.copy(grid, grids / f"{preset}.png")
    shown = {p: grids / f"{p}.png" for p in digits_presets() if (grids / f"{p}.png").exists()} if grids else {}
    if shown:   # the whole suite's latest grids, this call's and earlier calls'
        print(f"wrote {montage(shown, grids.parent / (grids.name + '_suite.png'))}")
    text = table(rows)
    print(text)
    (out / "recipes.md").write_text(text + "\n")
    (out / "recipes.json").write_text(json.dumps(rows, indent=1) + "\n")
    if any(r["status"].startswith("failed") for r in rows):
        raise SystemExit(1)
