"""One named statistics channel.

Any component reports a tensor under a name (`loss/d/hinge`, `reg/apa/p`); every open reader
accumulates a running sum and count on the device, so reporting never forces a host sync.
A reader (the logger every log step, APA's controller every few steps) takes the means of
what arrived since its last read. Readers' partial sums are checkpointed so that a resumed
run adjusts exactly as an uninterrupted one would.

With several ranks (`ranks`: train/distributed.py's Dist) every read is over all of them: the
sums and counts are all-reduced, so the logger, APA's controller and the plateau scheduler
decide on the same global means on every rank. Every rank must read at the same points.
"""
from __future__ import annotations

import torch


class Stats:
    def __init__(self, ranks=None) -> None:
        self._readers: dict[str, dict[str, list]] = {}
        self._only: dict[str, frozenset[str]] = {}    # readers that accumulate only these names
        self.ranks = ranks if ranks is not None and ranks.active else None

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """value.mean() over every rank's values, on the device (no host sync)."""
        if self.ranks is None:
            return value.mean()
        count = torch.tensor(float(value.numel()), device=value.device)
        t = self.ranks.sum_(torch.stack([value.detach().float().sum(), count]))
        return t[0] / t[1]

    def _settle(self, acc: dict) -> dict[str, tuple[float, int]]:
        """{name: (total, count)} of a reader, all-reduced over the ranks (a name some rank lacks counts 0)."""
        if self.ranks is None:
            return {name: (float(total), count) for name, (total, count) in acc.items()}
        names = self.ranks.same_names([n for n, (_, c) in acc.items() if c])
        flat = torch.tensor([float(acc[n][0]) if n in acc else 0.0 for n in names] +
                            [acc[n][1] if n in acc else 0 for n in names], dtype=torch.float64)
        flat = self.ranks.sum_(flat)
        return {n: (float(flat[i]), int(flat[len(names) + i])) for i, n in enumerate(names)}

    def open(self, reader: str, names: tuple[str, ...] | None = None) -> None:
        """Open a reader; with `names`, it accumulates only those statistics."""
        self._readers.setdefault(reader, {})
        if names is not None:
            self._only[reader] = frozenset(names)

    def report(self, name: str, value: torch.Tensor | float) -> None:
        if not self._readers:
            return
        if isinstance(value, torch.Tensor):
            value = value.detach().float()
            total, count = value.sum(), value.numel()
        else:
            total, count = float(value), 1
        for reader, acc in self._readers.items():
            if reader in self._only and name not in self._only[reader]:
                continue
            entry = acc.get(name)
            if entry is None:
                acc[name] = [total, count]
            else:
                entry[0] = entry[0] + total
                entry[1] += count

    def read(self, reader: str) -> dict[str, float]:
        """Means of everything reported since this reader's last read (then forgets them)."""
        acc = self._readers.get(reader)
        if acc is None:
            raise KeyError(f"stats reader '{reader}' was never opened")
        out = {name: total / count for name, (total, count) in self._settle(acc).items() if count}
        acc.clear()
        return out

    def read_counts(self, reader: str) -> dict[str, tuple[float, int]]:
        """Like read, with how many values each mean is over."""
        acc = self._readers.get(reader)
        if acc is None:
            raise KeyError(f"stats reader '{reader}' was never opened")
        out = {name: (total / count, count) for name, (total, count) in self._settle(acc).items() if count}
        acc.clear()
        return out

    def state_dict(self) -> dict:
        return {r: {n: [torch.as_tensor(t, dtype=torch.float64).cpu(), c] for n, (t, c) in acc.items()}
                for r, acc in self._readers.items()}

    def load_state_dict(self, state: dict) -> None:
        for reader, acc in state.items():
            self._readers[reader] = {n: [float(t), int(c)] for n, (t, c) in acc.items()}
