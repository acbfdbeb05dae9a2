"""Pretrained weights from a path, torch.hub's cache or a download; offline, one message that names the
file, where to put it and the setting that takes a path instead."""
from __future__ import annotations

from pathlib import Path

import torch


def hub_file(name: str) -> Path:
    """Where torch.hub looks for a downloaded checkpoint file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def check_path(key: str, path) -> None:
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"{key}={path}: no such file")


def missing(what: str, url: str, key: str, err: Exception, extra: str = "", file: str | None = None) -> FileNotFoundError:
    """The error for weights that could not be downloaded: `key` is the setting that takes a path."""
    file = file or Path(url).name
    setting = f"{key} /path/to/{file}" if key.startswith("--") else f"{key}=/path/to/{file}"   # a flag or a config key
    return FileNotFoundError(
        f"could not load the {what} weights ({type(err).__name__}: {err}).\n"
        f"Download {url}\nand either put it at {hub_file(file)}\nor pass {setting}.\n{extra}")


def state_dict(url: str, path: str | None, key: str, what: str, extra: str = "") -> dict:
    """The state dict at `path` (the setting `key` named it), else torch.hub's cache or a download of `url`."""
    if path is not None:
        check_path(key, path)
        return torch.load(path, map_location="cpu", weights_only=True)
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=False)
    except Exception as e:  # offline: the download fails
        raise missing(what, url, key, e, extra) from None
