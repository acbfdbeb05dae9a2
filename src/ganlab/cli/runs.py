"""Loading a finished (or running) run directory back: its config, models and checkpoint."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from omegaconf import OmegaConf

from ganlab.cli.build import build_data, build_models
from ganlab.train import checkpoint as ckpt
from ganlab.train.hardware import Hardware


def find_checkpoint(path: Path) -> tuple[Path, Path]:
    """RUN_DIR or a .pt file -> (run_dir, checkpoint path): best.pt when the run kept one, else last.pt."""
    ckpt_path = ckpt.resolve(path, ("best.pt", "last.pt"))
    return (ckpt_path.parent.parent if ckpt_path.parent.name == "checkpoints" else ckpt_path.parent), ckpt_path


def load_models(path: Path, device: str = "auto", which: str | None = None, need_data: bool = True):
    """-> (cfg, data, G (EMA weights when present), D (None when the checkpoint has none), checkpoint state,
    run_dir, checkpoint path). need_data=False: when the dataset's files are missing, a checkpoint that records
    the data's shape (an imported run, ganlab-import) still loads, with data None."""
    run_dir, ckpt_path = find_checkpoint(path)
    if which:
        ckpt_path = run_dir / "checkpoints" / which
    config_file = run_dir / ".hydra" / "config.yaml"
    if not config_file.is_file():
        raise FileNotFoundError(f"{run_dir} has no .hydra/config.yaml; is it a ganlab run directory?")
    cfg = OmegaConf.load(config_file)
    hw = Hardware.resolve(device)
    state = ckpt.load(ckpt_path, map_location=hw.device)
    try:
        data, _ = build_data(cfg)
        shape = data
    except FileNotFoundError:
        if need_data or state.get("shape") is None:
            raise
        data, shape = None, SimpleNamespace(**state["shape"])   # image_size, channels, num_classes
    g, d = build_models(cfg, shape)
    g.load_state_dict(state["ema"] if state.get("ema") is not None else state["g"])
    if state.get("d") is None:   # an imported G without its D
        d = None
    else:
        d.load_state_dict(state["d"])
        d = d.to(hw.device)
    return cfg, data, g.to(hw.device), d, state, run_dir, ckpt_path, hw
