"""Diagnostics never change training: no draw from the training RNG and no buffer update.

frozen_buffers restores BN running statistics and spectral-norm vectors after a forward pass in
train mode; side_effect_free also forks the RNGs (CPU and the training device), so an augmenting
regularizer that runs inside a diagnostic (D(G(z)) after the G step) draws from a copy, and
`train.log_every` or `eval.every` leave every later random draw unchanged.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn


@contextlib.contextmanager
def frozen_buffers(module: nn.Module):
    """Run diagnostics and sampling in train mode (batch statistics) without changing BN running
    stats or spectral-norm vectors, so logging and sampling never alter the training trajectory."""
    saved = [(b, b.detach().clone()) for b in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, value in saved:
                b.copy_(value)


@contextlib.contextmanager
def side_effect_free(device: torch.device, *modules: nn.Module):
    """No RNG draw and no buffer change of `modules` escapes this block."""
    devices = [device] if torch.device(device).type == "cuda" else []
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.random.fork_rng(devices=devices))
        for m in modules:
            stack.enter_context(frozen_buffers(m))
        yield
