"""What every official-checkpoint importer shares: reading a file with weights_only, the spectral-norm
buffers that reproduce another implementation's sigma, and porting a state dict module by module.

A source module (biggan_pytorch.py, ...) only states facts about the official layout: which official
module each ganlab module is (`paths`), how its BatchNorm buffers and spectral norm are named. `port`
does the rest and checks that every ganlab tensor was filled, with the right shape, from an official
tensor, and that no official tensor was left over.
"""
from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from ganlab.train.checkpoint import problem


class FormatError(ValueError):
    """An official file that is not what the importer expects: the message names the file and what was expected."""


def strip_prefix(state: dict, prefix: str = "module.") -> dict:
    """DataParallel-saved keys (module.x) -> x, when every key has the prefix."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def read_state(path: str | Path, expected: str, key: str | None = None, allow: list = ()) -> dict[str, torch.Tensor]:
    """An official file -> its state dict (tensors), loaded with weights_only=True. `key`: the entry holding the
    state dict when the file wraps it (StudioGAN's {"state_dict": ...}); `allow`: data types besides tensors that
    the file may hold (torch.serialization.safe_globals). `expected` says what the file should be."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (expected {expected})")
    try:
        with torch.serialization.safe_globals(list(allow)):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as e:
        raise FormatError(f"{path}: {problem(path, e)}; expected {expected}") from None
    if isinstance(obj, dict) and {"g", "d", "config"} <= set(obj):
        raise FormatError(f"{path}: this is a ganlab checkpoint, not {expected}; use it directly "
                          f"(ganlab-sample, init_from=...)")
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            keys = ", ".join(map(str, list(obj)[:6])) if isinstance(obj, dict) else type(obj).__name__
            raise FormatError(f"{path}: no '{key}' entry (found: {keys}); expected {expected}")
        obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise FormatError(f"{path}: not a state dict of tensors ({type(obj).__name__}); expected {expected}")
    return strip_prefix(obj)


def sn_buffers(weight: torch.Tensor, u: torch.Tensor, eval_sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torch's spectral-norm vectors (_u, _v) for a raw weight whose other implementation holds the left vector u
    and, in train mode, runs one power iteration from u (v = n(W^T u), u' = n(W v), sigma = u' W v); eval_sigma is
    the sigma it uses in eval mode.

    With the thin SVD W = U S V^T and a = U^T u, that train-mode sigma is |S^2 a| / |S a|. torch's train mode
    starts from _v (u = n(W _v), v = n(W^T u), sigma = u W v), which gives the same value, and the same vectors at
    every later step, when _v points along V a. Its eval mode uses sigma = _u W _v as stored, so _v is scaled to
    make |W _v| = eval_sigma and _u = n(W _v): train mode only reads _v's direction."""
    w = weight.detach().reshape(len(weight), -1).double()
    v = polar_v(w, u.detach().reshape(-1).double())
    wv = w @ v
    norm = wv.norm()
    if norm == 0:
        raise FormatError("a spectrally normalised weight has a singular vector orthogonal to it (W^T u = 0)")
    v = v * (eval_sigma.double() / norm)
    return (wv / norm).to(weight.dtype), v.to(weight.dtype)


def polar_v(w: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """V U^T u for the thin SVD of w (m, n), from the eigenvectors of the smaller Gram matrix (an SVD of a
    1024 x 9216 weight takes seconds); directions whose singular value is ~0 are dropped (W maps them to 0)."""
    tall = len(w) > w.shape[1]
    s2, vecs = torch.linalg.eigh(w.T @ w if tall else w @ w.T)
    keep = s2 > s2.max() * 1e-20
    s, vecs = s2[keep].sqrt(), vecs[:, keep]
    if tall:   # vecs = V: a = U^T u = S^-1 V^T W^T u
        return vecs @ ((vecs.T @ (w.T @ u)) / s)
    return w.T @ (vecs @ ((vecs.T @ u) / s))   # vecs = U, V = W^T U S^-1


def power_sigma(weight: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """sigma after one power iteration from u, without updating it (BigGAN-PyTorch's layers.SN, eval and train)."""
    w = weight.detach().reshape(len(weight), -1).double()
    v = w.T @ u.detach().reshape(-1).double()
    v = v / v.norm()
    u2 = w @ v
    return u2.norm()


@dataclass
class Layout:
    """How a source names its tensors. sn(state, path) -> (raw weight, u, eval sigma, keys it read);
    bn: ganlab BatchNorm2d buffer/parameter name -> the official name; rename: other direct tensors
    (e.g. attention's gamma); ignore: regexes of official keys that hold nothing ganlab uses."""
    sn: Callable[[dict, str], tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str]]]
    bn: dict[str, str]
    rename: dict[str, str] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def port(model: nn.Module, state: dict, paths: Callable[[str], str], layout: Layout, file: str, expected: str) -> dict:
    """ganlab's state dict for `model`, every tensor taken from the official `state`; `paths` maps a ganlab module
    path to the official one. Raises FormatError naming `file` on a missing, left-over or wrongly shaped tensor."""
    own, out, used = model.state_dict(), {}, set()

    def take(key: str) -> torch.Tensor:
        if key not in state:
            raise FormatError(f"{file}: no tensor '{key}'; expected {expected} with these model settings")
        used.add(key)
        return state[key]

    def put(key: str, value: torch.Tensor, source: str) -> None:
        if own[key].numel() != value.numel() or (own[key].dim() > 1 and own[key].shape != value.shape):
            raise FormatError(f"{file}: '{source}' has shape {tuple(value.shape)}, ganlab's '{key}' needs "
                              f"{tuple(own[key].shape)}: the model settings (model.ch, model.z_dim, dataset.image_size, "
                              f"attention) do not match the file")
        out[key] = value.detach().reshape(own[key].shape).to(own[key].dtype).clone()

    for name, module in model.named_modules():
        if ".parametrizations" in f".{name}":
            continue
        official = paths(name)
        if hasattr(module, "parametrizations"):   # torch spectral norm: original, _u, _v from the official weight
            try:
                weight, u, sigma, keys = layout.sn(state, official)
            except KeyError as e:
                raise FormatError(f"{file}: no tensor {e} (for ganlab's '{name}'); expected {expected}") from None
            used.update(keys)
            p = _join(name, "parametrizations.weight")
            put(f"{p}.original", weight, _join(official, "weight"))
            u_new, v_new = sn_buffers(out[f"{p}.original"], u, sigma)
            put(f"{p}.0._u", u_new, _join(official, "u"))
            put(f"{p}.0._v", v_new, _join(official, "v"))
            if getattr(module, "bias", None) is not None:
                put(_join(name, "bias"), take(_join(official, "bias")), _join(official, "bias"))
            continue
        names = layout.bn if isinstance(module, nn.modules.batchnorm._BatchNorm) else {}
        for local, _ in list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False)):
            key = _join(name, local)
            if local == "num_batches_tracked":
                src = _join(official, names.get(local, local))
                out[key] = take(src).clone() if src in state else torch.zeros_like(own[key])
                continue
            src = _join(official, names.get(local, layout.rename.get(local, local)))
            put(key, take(src), src)
    missing = sorted(set(own) - set(out))
    assert not missing, f"ganlab tensors not ported: {missing}"   # every module kind above is handled
    left = [k for k in state if k not in used and not any(re.search(p, k) for p in layout.ignore)]
    if left:
        raise FormatError(f"{file}: {len(left)} tensor(s) have no place in ganlab's model ({', '.join(left[:5])}"
                          f"{', ...' if len(left) > 5 else ''}); expected {expected} with the settings given")
    return out


def stage_paths(blocks: nn.Module, prefix: str, official: str, per_stage: int, residual: tuple[type, ...]) -> dict:
    """{ganlab block path: official block path} for a flat list of residual blocks and attention layers, where the
    official code nests them per stage (blocks.STAGE.INDEX): `per_stage` residual blocks, then attention if any."""
    table, k = {}, 0
    for i, block in enumerate(blocks):
        if isinstance(block, residual):
            table[f"{prefix}.{i}"] = f"{official}.{k // per_stage}.{k % per_stage}"
            k += 1
        else:
            table[f"{prefix}.{i}"] = f"{official}.{(k - 1) // per_stage}.{per_stage}"
    return table


def renamer(table: dict[str, str], subs: list[tuple[str, str]]) -> Callable[[str], str]:
    """A module path map: the longest prefix found in `table` is replaced, then each regex substitution runs."""
    def rename(path: str) -> str:
        for key in sorted(table, key=len, reverse=True):
            if path == key or path.startswith(key + "."):
                path = table[key] + path[len(key):]
                break
        for pattern, repl in subs:
            path = re.sub(pattern, repl, path)
        return path
    return rename


@dataclass
class Arch:
    """One official architecture mapped onto one ganlab model: module path maps for G and D (built from the ganlab
    modules), the class count read from the official G, what each file is and a key only that file has, and the
    model settings the official G implies that no tensor's shape shows (e.g. a BatchNorm eps)."""
    g_paths: Callable[[nn.Module], Callable[[str], str]]
    d_paths: Callable[[nn.Module], Callable[[str], str]]
    classes: Callable[[dict], int]
    layout: Layout
    g_file: str
    d_file: str
    g_key: str
    d_key: str
    implied: Callable[[dict], dict] = lambda state: {}


def check_part(state: dict, arch: Arch, part: str, file: str) -> None:
    """A G file passed as D (or the reverse) fails here, by the key only the other part has."""
    own, other = (arch.g_key, arch.d_key) if part == "G" else (arch.d_key, arch.g_key)
    what = arch.g_file if part == "G" else arch.d_file
    if own not in state:
        hint = f"; it has '{other}', so it looks like the {'D' if part == 'G' else 'G'} file" if other in state else ""
        raise FormatError(f"{file}: no '{own}'{hint}; expected {what}")


def convert(arch: Arch, model: nn.Module, state: dict, part: str, file: str) -> dict:
    """The official G or D state dict -> the ganlab model's state dict (checked, see `port`)."""
    check_part(state, arch, part, file)
    paths = (arch.g_paths if part == "G" else arch.d_paths)(model)
    return port(model, state, paths, arch.layout, file, arch.g_file if part == "G" else arch.d_file)
