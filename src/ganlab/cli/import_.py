"""ganlab-import: an official checkpoint -> a ganlab run directory for ganlab-sample, ganlab-evaluate, init_from.

  ganlab-import --from biggan-pytorch G.pth [--ema G_ema.pth] [--d D.pth] --model biggan dataset=cifar10 --out DIR

The settings (key=value as for ganlab-train) must describe the official network; a tensor of another shape, or
one left over, fails naming the file and key. Settings no shape shows (StudioGAN's BatchNorm eps and ReLU'd D
shortcut, BigGAN's class conditioning) come from the source. A G file named *ema*, or --ema, gives the EMA
weights; without --d the run has no D. The data's shape is recorded: ganlab-sample needs no dataset files.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml
from omegaconf import OmegaConf

from ganlab.cli.build import build_data, build_models
from ganlab.cli.choices import compose_config
from ganlab.cli.errors import command
from ganlab.config import plain
from ganlab.errors import ConfigError, user_input
from ganlab.importers import SOURCES
from ganlab.importers.common import check_part, convert, read_state
from ganlab.train import checkpoint as ckpt


def shape_of(cfg, g_state: dict, arch) -> SimpleNamespace:
    """image_size from the config, channels and classes from the official G; checked against the dataset when
    its files are here."""
    image_size = (cfg.dataset or {}).get("image_size")
    if image_size is None:
        raise ConfigError(f"dataset '{cfg.dataset.name}' has no image_size; give dataset.image_size=N")
    shape = SimpleNamespace(image_size=int(image_size), channels=int(g_state[arch.g_key].shape[0]),
                            num_classes=arch.classes(g_state))
    if shape.num_classes and not cfg.model.get("conditional", True):
        raise ConfigError(f"the official G is class-conditional ({shape.num_classes} classes): set model.conditional=true")
    if not shape.num_classes and cfg.model.get("conditional", False):
        raise ConfigError("the official G is unconditional: set model.conditional=false")
    local = cfg.copy()
    if "download" in local.dataset:   # the check never downloads
        local.dataset.download = False
    try:
        data, _ = build_data(local)
    except FileNotFoundError:
        print(f"[ganlab-import] dataset '{cfg.dataset.name}' not found here: the shape is not checked against it")
        return shape
    seen = (data.image_size, data.channels, data.num_classes if shape.num_classes else 0)
    if seen != (shape.image_size, shape.channels, shape.num_classes):
        raise ConfigError(f"dataset '{cfg.dataset.name}' gives (image_size, channels, classes) = {seen}, the official G "
                          f"{(shape.image_size, shape.channels, shape.num_classes)}")
    return shape


def with_implied(overrides: list[str], implied: dict, what: str) -> list[str]:
    """The overrides plus the model settings the official file implies; one the user set otherwise is refused."""
    given = dict(o.split("=", 1) for o in overrides if o.startswith("model.") and "=" in o)
    extra = []
    for key, value in implied.items():
        text = json.dumps(value) if isinstance(value, bool) else str(value)
        if f"model.{key}" in given and yaml.safe_load(given[f"model.{key}"]) != value:
            raise ConfigError(f"model.{key}={given[f'model.{key}']} does not fit {what}: it needs model.{key}={text}")
        extra.append(f"model.{key}={text}")
    return overrides + extra


def run(source: str, g_file: Path, model: str, overrides: list[str], out: Path, ema_file: Path | None = None,
        d_file: Path | None = None) -> Path:
    """Read and check every file, convert, write the run directory; -> the checkpoint path."""
    if source not in SOURCES:
        raise ConfigError(f"unknown --from '{source}'; available: {', '.join(SOURCES)}")
    module = SOURCES[source]
    if model not in module.ARCHS:
        raise ConfigError(f"--from {source} maps onto --model {', '.join(module.ARCHS)}, not '{model}'")
    arch = module.ARCHS[model]
    if (out / "checkpoints" / "last.pt").exists():
        raise ConfigError(f"--out {out} already holds a checkpoint; choose another directory")
    read = {part: (lambda f, p=part: read_state(f, arch.g_file if p == "G" else arch.d_file, module.READ_KEY,
                                                module.safe_globals()))
            for part in ("G", "D")}
    states = {k: read[part](f) for k, part, f in (("g", "G", g_file), ("ema", "G", ema_file), ("d", "D", d_file)) if f}
    for k, f in (("g", g_file), ("ema", ema_file), ("d", d_file)):   # every file checked before any work
        if k in states:
            check_part(states[k], arch, "D" if k == "d" else "G", str(f))
    overrides = with_implied([f"model={model}", *overrides], arch.implied(states["g"]), f"{g_file} ({source})")
    cfg = compose_config(overrides)
    shape = shape_of(cfg, states["g"], arch)
    g, d = build_models(cfg, shape)
    state = {"step": 0, "images_seen": 0, "d": None, "ema": None, "g": convert(arch, g, states["g"], "G", str(g_file))}
    if ema_file is not None:
        state["ema"] = convert(arch, g, states["ema"], "G", str(ema_file))
    elif "ema" in g_file.name.lower():
        state["ema"] = state["g"]
    if d_file is not None:
        state["d"] = convert(arch, d, states["d"], "D", str(d_file))
    files = {k: {"path": str(f.resolve()), "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
             for k, f in (("g", g_file), ("ema", ema_file), ("d", d_file)) if f}
    state.update(config=plain(cfg), shape=vars(shape), imported={"source": source, "model": model, "files": files})
    return write_run(out, cfg, overrides, state)


def write_run(out: Path, cfg, overrides: list[str], state: dict) -> Path:
    """OUT/.hydra/{config,overrides}.yaml, OUT/import.json (where the weights came from), OUT/checkpoints/last.pt."""
    (out / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, out / ".hydra" / "config.yaml")
    (out / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (out / "import.json").write_text(json.dumps({**state["imported"], "command": sys.argv}, indent=2))
    ckpt.save_atomic(state, out / "checkpoints" / "last.pt")
    return out / "checkpoints" / "last.pt"


@command("ganlab-import")
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ganlab-import", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from", dest="source", required=True, help=f"the code base: {', '.join(SOURCES)}")
    p.add_argument("g", type=Path, help="the official generator file")
    p.add_argument("--ema", type=Path, help="the official EMA generator file, when G.pth is the raw one")
    p.add_argument("--d", type=Path, help="the official discriminator file")
    p.add_argument("--model", required=True, help="the ganlab model it maps onto")
    p.add_argument("--out", type=Path, required=True, help="the run directory to write")
    p.add_argument("overrides", nargs="*", help="settings as for ganlab-train: dataset=cifar10 model.ch=64")
    a = p.parse_intermixed_args(argv)
    with user_input():
        path = run(a.source, a.g, a.model, a.overrides, a.out, a.ema, a.d)
    parts = ["G"] + (["EMA"] if a.ema or "ema" in a.g.name.lower() else []) + (["D"] if a.d else [])
    print(f"wrote {path} ({', '.join(parts)} from {a.source}); try: ganlab-sample {a.out} --grid --out {a.out}/samples")


if __name__ == "__main__":
    main()
