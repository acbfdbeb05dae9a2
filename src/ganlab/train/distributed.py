"""Data-parallel training on torch.distributed (DDP), whichever way the ranks were started.

Ranks come from the environment: torchrun's RANK / WORLD_SIZE / LOCAL_RANK, or SLURM's (srun or
submitit) SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID; `ganlab-train hardware.devices=N` starts
N processes itself with launch() (train/launch.py: how ranks start). Backend: nccl on CUDA, gloo on CPU.

A `Dist` is what the trainer knows about the other ranks. With one process every method is a
no-op, so the single-process trainer runs exactly the code it always ran.
"""
from __future__ import annotations

import datetime
import os
import zlib
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn

from ganlab.models.base import DOut
from ganlab.train.launch import ranks_from_env, slurm_rendezvous

TIMEOUT = datetime.timedelta(minutes=30)   # rank 0 may extract reference features while the others wait


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    find_unused: bool = False

    @property
    def main(self) -> bool:
        """Rank 0: the only rank that writes files."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    # ---- set-up ---------------------------------------------------------------------------------
    @classmethod
    def init(cls, device: torch.device, devices: int = 1, sync_bn: bool = False,
             find_unused: bool = False) -> tuple["Dist", torch.device]:
        """Join the process group the environment describes; -> (Dist, this rank's device)."""
        ranks = ranks_from_env()
        if ranks is None:
            if devices > 1:
                raise ValueError(f"hardware.devices={devices} but no ranks were started; run ganlab-train "
                                 f"(it starts them) or torchrun --nproc_per_node={devices}")
            return cls(), device
        rank, world, local = ranks
        if devices > 1 and devices != world:
            raise ValueError(f"hardware.devices={devices} but the launcher started {world} ranks; "
                             f"leave hardware.devices=1 under torchrun/SLURM or make them agree")
        if sync_bn and device.type != "cuda":
            raise ValueError(f"hardware.sync_bn=true needs CUDA devices (SyncBatchNorm has no CPU kernel); "
                             f"got hardware.device={device.type}")
        if "SLURM_PROCID" in os.environ and "MASTER_ADDR" not in os.environ:
            slurm_rendezvous()
        on_cuda = device.type == "cuda"
        if on_cuda:   # one GPU per rank
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if on_cuda else "gloo", rank=rank, world_size=world, timeout=TIMEOUT)
        return cls(rank, world, local, find_unused), device

    def close(self, finished: bool) -> None:
        """Leave the process group in order: after a finished run every rank waits for the others, then
        tears gloo/nccl down itself. Left to interpreter exit, a rank can abort (SIGABRT) on its peer's
        closed sockets. After a failure there is no barrier: the peers may never reach it."""
        if not (self.active and dist.is_initialized()):
            return
        if finished:
            dist.barrier()
        dist.destroy_process_group()

    def seed(self, seed: int) -> None:
        """Different noise, augmentation and APA masks per rank (the weights come from rank 0)."""
        if self.active:
            torch.manual_seed(seed * 1000 + self.rank + 1)

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """DDP around module (gradients averaged in backward); the module itself with one rank.

        static_graph: the set of parameters a step uses is the same every iteration, and DDP learns it
        in the first one. That covers heads called outside D's forward (AugSelf), heads a recipe never
        uses (AugSelf's color head when DiffAugment has no color) and the extra forwards of R1, GP and
        CutMix, with no graph search per step. hardware.find_unused_parameters=true is for a model whose
        set changes between iterations. Buffers are not broadcast at every forward: sync_buffers() does
        it once per iteration."""
        if not self.active:
            return module
        return nn.parallel.DistributedDataParallel(
            module, device_ids=None if device.type != "cuda" else [device.index], forward_sync_buffers=False,
            find_unused_parameters=self.find_unused, static_graph=not self.find_unused)

    def wrap_models(self, g: nn.Module, d: nn.Module, regs: list[nn.Module], hardware) -> tuple | None:
        """(DDP(G), DDP(D + heads)), compiled as the hardware asks; None with one rank."""
        if not self.active:
            return None
        d_ddp = hardware.compiled(self.wrap(DWithHeads(d, regs), hardware.device))
        return hardware.compiled(self.wrap(g, hardware.device)), lambda x, y: DOut(*d_ddp(x, y))

    # ---- collectives (no-ops with one rank) -------------------------------------------------------
    def _backend_tensor(self, t: torch.Tensor) -> torch.Tensor:
        return t if t.is_cuda or dist.get_backend() != "nccl" else t.cuda()

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        """All-reduce t (sum) in place; returns t."""
        if self.active:
            moved = self._backend_tensor(t)
            dist.all_reduce(moved)
            if moved is not t:
                t.copy_(moved)
        return t

    def any_true(self, flag: bool) -> bool:
        """Whether any rank's flag is set (one all-reduce; none on a single process)."""
        if not self.active:
            return flag
        return not bool(self.all_true(torch.tensor([not flag])).all())

    def all_true(self, flags: torch.Tensor) -> torch.Tensor:
        """Element-wise AND of a bool tensor over the ranks."""
        if not self.active:
            return flags
        t = self._backend_tensor(flags.to(torch.int32))
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return t.to(flags.device).bool()

    def gather(self, obj) -> list:
        """Every rank's obj (picklable), in rank order, on every rank."""
        if not self.active:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj):
        """Rank 0's obj on every rank."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def same_names(self, names: list[str]) -> list[str]:
        """The union of every rank's names, sorted; one tiny all-reduce when they already agree."""
        if not self.active:
            return sorted(names)
        h = zlib.crc32("\n".join(sorted(names)).encode())
        t = self._backend_tensor(torch.tensor([h, -h], dtype=torch.int64))
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        if int(t[0]) == -int(t[1]):
            return sorted(names)
        return sorted(set().union(*self.gather(list(names))))

    @torch.no_grad()
    def sync_buffers(self, *modules: nn.Module) -> None:
        """Rank 0's buffers (BN running stats, SN vectors) to every rank, one flat broadcast per dtype,
        so all ranks hold the same state dicts (and EMA) after every iteration."""
        if not self.active:
            return
        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
        for m in modules:
            for b in m.buffers():
                by_dtype.setdefault(b.dtype, []).append(b)
        for bufs in by_dtype.values():
            flat = self._backend_tensor(torch.cat([b.reshape(-1) for b in bufs]))
            dist.broadcast(flat, src=0)
            for b, v in zip(bufs, flat.split([b.numel() for b in bufs])):
                b.copy_(v.view_as(b))

    def rank_states(self, local: dict) -> dict:
        """Per-rank parts of a checkpoint (RNG, partial statistics), gathered for rank 0 to write."""
        return {"world_size": self.world, "ranks": self.gather(local) if self.active else None}

    def own_state(self, state: dict, path) -> dict | None:
        """This rank's part of a checkpoint written with the same number of ranks; refuse a world-size change."""
        written = int(state.get("world_size", 1))
        if written != self.world:
            raise ValueError(
                f"cannot resume {path}: it was written with {written} rank(s) and this run has {self.world}; the "
                f"weights load with any number of ranks, but each rank's place in the epoch permutation does not. "
                f"Resume with {written} rank(s) (hardware.devices={written} or torchrun --nproc_per_node={written}), "
                f"or evaluate / sample it, or start a new run")
        return state["ranks"][self.rank] if self.active else None


class DWithHeads(nn.Module):
    """D and the regularizers' trainable heads (AugSelf) as one module, so one DDP averages all of D's
    optimizer's gradients. Its forward is D's, as a tuple: DDP must see the output tensors (a DOut is
    opaque to it, and static_graph's first iteration would then skip the all-reduce). Heads are
    called by their regularizers as before."""

    def __init__(self, d: nn.Module, regs: list[nn.Module]):
        super().__init__()
        self.d = d
        self.heads = nn.ModuleList([r for r in regs if any(p.requires_grad for p in r.parameters())])

    def forward(self, x: torch.Tensor, y: torch.Tensor | None):
        out = self.d(x, y)
        return out.logits, out.pixel_logits, out.features


def convert_sync_bn(module: nn.Module) -> nn.Module:
    """Every BatchNorm (also the one inside ConditionalBatchNorm2d) -> SyncBatchNorm (cross-replica BN)."""
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)
