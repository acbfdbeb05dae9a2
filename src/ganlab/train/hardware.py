"""Device, precision, memory format and compilation, resolved once."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn as nn

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
TUNE_MODES = ("auto", "off")   # hardware.tune (train/tune.py)


@dataclass
class Hardware:
    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    compile_backend: str = "inductor"
    devices: int = 1                    # ranks that ganlab-train starts itself (torchrun/SLURM start their own)
    sync_bn: bool = False               # BatchNorm -> SyncBatchNorm across ranks
    find_unused_parameters: bool = False   # DDP's option, for a model whose step leaves some parameters unused
    tune: str = "off"                   # auto: channels_last and compile chosen by timing (train/tune.py)

    @classmethod
    def resolve(cls, device: str = "auto", precision: str = "fp32", channels_last: bool = False,
                compile: bool = False, compile_backend: str = "inductor", devices: int = 1, sync_bn: bool = False,
                find_unused_parameters: bool = False, tune: str = "off") -> "Hardware":
        """A training run passes every key of conf/hardware/auto.yaml; the keyword defaults here are an
        eager fp32 module for the tools that only evaluate or sample (ganlab-evaluate, -sample, -prepare)."""
        if not isinstance(devices, int) or devices < 1:
            raise ValueError(f"hardware.devices must be a positive integer, got {devices!r}")
        if tune not in TUNE_MODES:
            raise ValueError(f"unknown hardware.tune '{tune}'; available: {', '.join(TUNE_MODES)}")
        if precision not in PRECISIONS:
            raise ValueError(f"unknown hardware.precision '{precision}'; available: {', '.join(PRECISIONS)}")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"hardware.device={device} but no CUDA GPU is visible; use hardware=cpu or hardware=auto")
        dev = torch.device(device)
        if dev.type == "cpu" and precision == "fp16":
            raise ValueError("hardware.precision=fp16 needs a GPU; use fp32 or bf16 on the CPU")
        if devices > 1 and dev.type != "cpu" and devices > torch.cuda.device_count():
            raise ValueError(f"hardware.devices={devices} but only {torch.cuda.device_count()} GPU(s) are visible")
        if compile and compile_backend not in torch._dynamo.list_backends(exclude_tags=()):
            raise ValueError(f"unknown hardware.compile_backend '{compile_backend}'; available: "
                             f"{', '.join(torch._dynamo.list_backends(exclude_tags=()))}")
        return cls(dev, precision, channels_last, compile, compile_backend, devices, sync_bn, find_unused_parameters,
                   tune)

    def autocast(self):
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def scaler(self) -> torch.amp.GradScaler:
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def place(self, module: nn.Module) -> nn.Module:
        """The module on the device, its 4-D weights in this memory format; in place (the tuner re-places modules
        whose optimizers already hold their parameters)."""
        module = module.to(self.device)
        return module.to(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)

    def compiled(self, module: nn.Module):
        """The callable used in the training loop (state dicts stay on the plain module)."""
        if not self.compile:
            return module
        # Spectral norm updates its u, v buffers in place at every forward, and D runs twice (real, fake) before
        # one backward. Inductor's partitioner, free to save graph inputs, saves a small v (a 1x1 conv on 3
        # channels: BigGAN's first D skip) instead of its clone, and autograd then finds it modified ("a variable
        # needed for gradient computation has been modified by an inplace operation"). Saving what the forward
        # computed, as eager does, avoids it. A process-wide setting of torch 2.14's, read when a graph compiles.
        torch._functorch.config.treat_parameters_as_free_to_save = False
        return torch.compile(module, backend=self.compile_backend)
