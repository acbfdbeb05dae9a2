"""Batches from a dataset that does not fit in memory: a DataLoader whose workers read the files.

LoaderBatches has DeviceBatches' interface (next, preview, state_dict, load_state_dict), so the
trainer does not know which one it has. batches_for() picks: a set held in memory is sliced on
the device, anything else streams. Epochs are seeded permutations like DeviceBatches', and the
state is (epoch, batches consumed), so a resumed run reads the same batches without reading the
ones it skips.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Sampler

from ganlab.data.base import DeviceBatches, ImageSet, check_batch_size, check_world, mirrored, shard, to_float
from ganlab.errors import BadFile


class EpochBatches(Sampler):
    """Index lists for one epoch: a permutation seeded by (seed, epoch), from global batch `start` on;
    with `world` ranks, this rank's shard of each global batch of batch_size * world."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        self.n, self.batch_size, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self.epoch, self.start = 0, 0

    def __len__(self) -> int:
        return self.n // (self.batch_size * self.world) - self.start

    def __iter__(self) -> Iterator[list[int]]:
        perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100003 + self.epoch))
        step = self.batch_size * self.world
        for i in range(self.start, self.n // step):
            yield shard(perm[i * step:(i + 1) * step], self.rank, self.world).tolist()


class LoaderBatches:
    """Shuffled epochs read by `workers` processes, `prefetch` batches ahead of the trainer."""

    def __init__(self, data, batch_size: int, device: torch.device | str = "cpu", seed: int = 0,
                 mirror: bool = False, workers: int = 2, prefetch: int = 4, rank: int = 0, world: int = 1):
        check_batch_size(data, batch_size, world)
        self.data, self.batch_size, self.mirror, self.rank, self.world = data, batch_size, mirror, rank, world
        self.device = torch.device(device)
        self.sampler = EpochBatches(len(data), batch_size, seed, rank, world)
        self.loader = DataLoader(data, batch_sampler=self.sampler, num_workers=workers,
                                 pin_memory=self.device.type == "cuda", persistent_workers=workers > 0,
                                 prefetch_factor=prefetch if workers > 0 else None)
        self.gen = torch.Generator().manual_seed(seed)
        self.epoch, self.pos, self.it = 0, 0, None

    def _start(self) -> None:
        self.sampler.epoch, self.sampler.start = self.epoch, self.pos
        self.it = iter(self.loader)

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> real images float (B, C, H, W) in [-1, 1] on the device, labels (B,) or None."""
        try:
            if self.it is None:
                self._start()
            try:
                x, y = next(self.it)
            except StopIteration:
                self.epoch, self.pos = self.epoch + 1, 0
                self._start()
                x, y = next(self.it)
        except BadFile as e:   # from a worker, its message carries the worker's traceback: keep the last line
            raise BadFile(str(e).strip().splitlines()[-1].split("BadFile: ", 1)[-1]) from None
        self.pos += 1
        x = to_float(x.to(self.device, non_blocking=True))
        if self.mirror:
            x = mirrored(x, self.gen, self.rank, self.world)
        return x, (y.to(self.device, non_blocking=True) if self.data.num_classes else None)

    def preview(self, n: int) -> torch.Tensor:
        return to_float(self.data.take(torch.arange(min(n, len(self.data))))[0])

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "seed": self.sampler.seed, "epoch": self.epoch, "pos": self.pos,
                "world": self.world}

    def load_state_dict(self, state: dict) -> None:
        if "epoch" not in state:
            raise ValueError("this checkpoint was written with the dataset in memory; resume with "
                             "dataset.storage=memory (or start a new run)")
        check_world(state, self.world)
        self.gen.set_state(state["gen"])
        self.sampler.seed = int(state["seed"])
        self.epoch, self.pos, self.it = int(state["epoch"]), int(state["pos"]), None


def batches_for(data, batch_size: int, device, seed: int = 0, mirror: bool = False, rank: int = 0, world: int = 1):
    """DeviceBatches for a set in memory, LoaderBatches (data.workers processes read the files) otherwise;
    with `world` ranks, this rank's shard of every global batch."""
    if isinstance(data, ImageSet):
        return DeviceBatches(data, batch_size, device, seed=seed, mirror=mirror, rank=rank, world=world)
    return LoaderBatches(data, batch_size, device, seed=seed, mirror=mirror, workers=data.workers, rank=rank, world=world)
