"""ganlab-bench gpu: every GPU figure from one call (a lent GPU comes with minutes, not hours).

Writes gpu.md (tables) and gpu.json (the same numbers) into --out, each row naming the device:
  1. the device's measured matmul peak (fp32 and bf16), the yardstick for FLOP/s;
  2. per CIFAR (32 px) and anime-faces (64 px) preset, on synthetic in-memory data of that shape:
     img/s for fp32, bf16, channels_last and torch.compile (with compile's own seconds), peak memory,
     and the fp32 step's FLOP/s as a fraction of the fp32 matmul peak (FLOPs counted by torch's
     FlopCounterMode over one iteration);
  3. each preset for `--long` iterations with bf16 + channels_last, every logged loss finite;
  4. BigGAN at batch 64 with 5 D steps: seconds per 100 iterations, beside StudioGAN's logged 41 s
     (TITAN RTX, fp32);
  5. the default digits recipe end to end in its own process (wall time, FID, the evaluation's seconds
     per part for 10,000 samples);
  6. a one-rank DDP run (nccl on a GPU, gloo on the CPU).
--tiny runs the same code on the CPU with tiny shapes in well under a minute (tests/test_bench.py runs it).
A failed cell is recorded with its error and the rest go on.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ganlab import CONF_DIR
from ganlab.bench.step import SETTINGS, fit_rate, flops_per_image, matmul_peak, recipe_cfg, scaling
from ganlab.track.jsonl import read_jsonl

STUDIOGAN_BIGGAN_S_PER_100 = 41.0   # StudioGAN's CIFAR-10 BigGAN log: batch 64, 5 D steps, TITAN RTX, fp32


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"


def presets(tiny: bool, chosen: str = "") -> list[str]:
    if chosen:
        return chosen.split(",")
    if tiny:
        return ["dcgan_digits"]   # the cheapest to compile; biggan_row still runs BigGAN
    names = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
    return [n for n in names if n.endswith(("_cifar10", "_anime_faces"))]


def small(recipe: str, a) -> list[str]:
    """Overrides every measurement of `recipe` takes: no download (the GPU machine is offline too: the
    feature-diversity loss embeds with D's own features), and with --tiny the preset's model at the
    smallest settings it declares where it registers."""
    from ganlab.registry import MODELS
    cfg = recipe_cfg(recipe, [])
    out = ["regularizer.feature_diversity.embedding=discriminator"] if "feature_diversity" in (cfg.get("regularizer") or {}) else []
    return out + ([f"model.{k}={v}" for k, v in MODELS.info(cfg.model.name)["tiny"].items()] if a.tiny else [])


def peak_memory(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else None


def reset_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def cell(record: dict, key: str, fn):
    """record[key] = fn(), or the error's first line: one failure never stops the bench."""
    try:
        record[key] = fn()
    except Exception as e:
        record[key] = None
        record.setdefault("errors", []).append(f"{key}: {type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}")
    return record[key]


def speed(recipe: str, device: torch.device, a, root: Path, peak: float | None) -> dict:
    row: dict = {"recipe": recipe}
    extra = small(recipe, a)
    for name in ("fp32", "bf16", "channels_last", "compile"):
        torch._dynamo.reset()
        fast = ["hardware.compile_backend=aot_eager"] if a.tiny and name == "compile" else []   # no C++ build in a test
        cfg = recipe_cfg(recipe, [f"hardware.device={device.type}", *SETTINGS[name], *extra, *fast])
        row["px"], row["batch"] = cfg.dataset.image_size, cfg.train.batch_size
        reset_memory(device)
        t = time.perf_counter()

        def run(cfg=cfg, name=name):
            rate, trainer = fit_rate(cfg, a.steps, a.warmup, root / recipe / name)
            if name == "fp32":
                flops = flops_per_image(trainer)   # None for a gradient-penalty recipe (double backward)
                row["gflop_per_img"] = flops / 1e9 if flops else None
            return rate
        cell(row, f"img_s_{name}", run)
        row[f"seconds_{name}"] = time.perf_counter() - t   # compile: its compilation is most of this
        row[f"peak_gib_{name}"] = peak_memory(device)
    if row.get("img_s_fp32") and row.get("gflop_per_img") and peak:
        row["flops_fraction_fp32"] = row["gflop_per_img"] * 1e9 * row["img_s_fp32"] / peak
    return row


def long_run(recipe: str, device: torch.device, a, root: Path) -> dict:
    row: dict = {"recipe": recipe, "steps": a.long}
    cfg = recipe_cfg(recipe, [f"hardware.device={device.type}", "hardware.precision=bf16", "hardware.channels_last=true",
                              *small(recipe, a)])

    def run():   # the trainer stops with NonFiniteLoss on the first non-finite loss term it watches
        _, trainer = fit_rate(cfg, a.long, 1, root / recipe / "long")
        trainer.check_finite()
        losses = [v for k, v in trainer.last_row.items() if k.startswith("loss/")]
        return bool(losses) and all(math.isfinite(v) for v in losses)
    cell(row, "finite", run)
    return row


def biggan_row(device: torch.device, a, root: Path) -> dict:
    row: dict = {"recipe": "biggan_cifar10", "batch": 64, "n_critic": 5}
    cfg = recipe_cfg("biggan_cifar10", [f"hardware.device={device.type}", "train.batch_size=64", "train.n_critic=5",
                                        *small("biggan_cifar10", a)])
    rate = cell(row, "img_s", lambda: fit_rate(cfg, a.steps, a.warmup, root / "biggan64")[0])
    if rate:
        row["s_per_100"] = 100 * 64 * 5 / rate
    return row


def default_run(device: torch.device, a, root: Path) -> dict:
    row: dict = {}
    extra = ["train.steps=4", "eval.num_samples=200", "eval.kid_subset_size=50", "hardware=cpu"] if a.tiny else \
            [f"hardware={'gpu' if device.type == 'cuda' else 'cpu'}"]
    cmd = [sys.executable, "-m", "ganlab.cli.train", "progress=false", f"hydra.run.dir={root / 'default'}", *extra]

    def run():
        t = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
        last = read_jsonl(root / "default" / "eval.jsonl")[0][-1]
        row.update(fid=last.get("fid"), fid_floor=last.get("fid_floor"), eval_s=last.get("time_s"),
                   num_samples=last.get("protocol", {}).get("num_samples"))
        return time.perf_counter() - t
    cell(row, "wall_s", run)
    return row


def ddp_row(device: torch.device, a, root: Path) -> dict:
    """One rank in a fresh process with its process group (nccl on a GPU, gloo on the CPU); 1 against 2
    ranks where there are two GPUs."""
    row: dict = {"backend": "nccl" if device.type == "cuda" else "gloo"}
    cfg = recipe_cfg("dcgan_digits", [f"hardware.device={device.type}", *small("dcgan_digits", a)])

    def run():
        from ganlab.bench.step import _rank_fit
        from ganlab.train.launch import launch
        launch(1, _rank_fit, (cfg, a.steps, a.warmup, str(root / "ddp1"), str(root / "ddp1.json"), 0))
        out = {"img_s_1_rank": json.loads((root / "ddp1.json").read_text())["img_s"], "img_s_2_ranks": None}
        if device.type == "cuda" and torch.cuda.device_count() >= 2:
            out["img_s_2_ranks"] = scaling(cfg, a.steps, a.warmup, root / "ddp")[1]
        return out
    cell(row, "result", run)
    return row


def fmt(v, digits=3) -> str:
    if v is None:
        return "-"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def markdown(result: dict) -> str:
    dev = result["device"]
    out = [f"# ganlab-bench gpu on {dev}", "", f"torch {result['torch']}, {result['date']}; every number below is from {dev}.", "",
           f"Matmul peak: fp32 {fmt(result['peak_fp32'] / 1e12 if result['peak_fp32'] else None)} TFLOP/s, "
           f"bf16 {fmt(result['peak_bf16'] / 1e12 if result['peak_bf16'] else None)} TFLOP/s.", "",
           "## Speed per preset (img/s = real images through D; synthetic data of the preset's shape)", "",
           "| preset | px | batch | fp32 | bf16 | channels_last | compile | compile s | peak GiB fp32 | GFLOP/img | FLOP/s / fp32 peak |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["speed"]:
        out.append(f"| {r['recipe']} | {r.get('px')} | {r.get('batch')} | {fmt(r.get('img_s_fp32'))} | {fmt(r.get('img_s_bf16'))} | "
                   f"{fmt(r.get('img_s_channels_last'))} | {fmt(r.get('img_s_compile'))} | {fmt(r.get('seconds_compile'))} | "
                   f"{fmt(r.get('peak_gib_fp32'))} | {fmt(r.get('gflop_per_img'))} | {fmt(r.get('flops_fraction_fp32'))} |")
    out += ["", "## bf16 + channels_last, every logged loss finite", "", "| preset | steps | finite |", "|---|---|---|"]
    out += [f"| {r['recipe']} | {r['steps']} | {r.get('finite')} |" for r in result["long"]]
    b = result["biggan"]
    out += ["", "## BigGAN, batch 64, 5 D steps (fp32)", "",
            f"{fmt(b.get('s_per_100'))} s per 100 iterations on {dev}; StudioGAN logged {STUDIOGAN_BIGGAN_S_PER_100:g} s "
            "(TITAN RTX, fp32)."]
    d = result["default"]
    out += ["", "## The default digits recipe end to end (its own process)", "",
            f"wall {fmt(d.get('wall_s'))} s, digits FID {fmt(d.get('fid'))} (floor {fmt(d.get('fid_floor'))}), "
            f"evaluation of {d.get('num_samples')} samples: {d.get('eval_s')}"]
    r = result["ddp"].get("result") or {}
    out += ["", f"## DDP ({result['ddp']['backend']})", "",
            f"1 rank {fmt(r.get('img_s_1_rank'))} img/s, 2 ranks {fmt(r.get('img_s_2_ranks'))} img/s "
            "(a fresh process with its process group; 2 ranks need 2 GPUs, '-' on one)."]
    errors = [e for part in ("speed", "long") for r in result[part] for e in r.get("errors", [])]
    errors += [e for part in ("biggan", "default", "ddp") for e in result[part].get("errors", [])]
    if errors:
        out += ["", "## Failed cells", ""] + [f"- {e}" for e in errors]
    return "\n".join(out) + "\n"


def main(a) -> None:
    device = torch.device("cuda" if torch.cuda.is_available() and not a.tiny else "cpu")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.tiny:
        a.steps, a.warmup, a.long = 2, 1, 3
    n, reps = (256, 2) if a.tiny else (8192, 5)
    result: dict = {"device": device_name(device), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}
    cell(result, "peak_fp32", lambda: matmul_peak(device, torch.float32, n, reps))
    cell(result, "peak_bf16", lambda: matmul_peak(device, torch.bfloat16, n, reps))
    with tempfile.TemporaryDirectory(prefix="ganlab-bench-gpu-") as tmp:
        root = Path(tmp)
        names = presets(a.tiny, a.recipes)
        result["speed"] = [speed(r, device, a, root, result["peak_fp32"]) for r in names]
        result["long"] = [long_run(r, device, a, root) for r in names]
        result["biggan"] = biggan_row(device, a, root)
        result["default"] = default_run(device, a, root)
        result["ddp"] = ddp_row(device, a, root)
    (out / "gpu.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "gpu.md").write_text(markdown(result))
    print(markdown(result))
