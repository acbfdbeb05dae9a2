"""One named statistics channel.

Any component reports a tensor under a name (`loss/d/hinge`, `reg/apa/p`); every open reader
accumulates a running sum and count on the device, so reporting never forces a host sync.
A reader (the logger every log step, APA's controller every few steps) takes the means of
what arrived since its last read. Readers' partial sums are checkpointed so that a resumed
run adjusts exactly as an uninterrupted one would.
"""
from __future__ import annotations

import torch


class Stats:
    def __init__(self) -> None:
        self._readers: dict[str, dict[str, list]] = {}
        self._only: dict[str, frozenset[str]] = {}    # readers that accumulate only these names

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
        out = {name: float(total) / count for name, (total, count) in acc.items() if count}
        acc.clear()
        return out

    def read_counts(self, reader: str) -> dict[str, tuple[float, int]]:
        """Like read, with how many values each mean is over."""
        acc = self._readers.get(reader)
        if acc is None:
            raise KeyError(f"stats reader '{reader}' was never opened")
        out = {name: (float(total) / count, count) for name, (total, count) in acc.items() if count}
        acc.clear()
        return out

    def state_dict(self) -> dict:
        return {r: {n: [torch.as_tensor(t, dtype=torch.float64).cpu(), c] for n, (t, c) in acc.items()}
                for r, acc in self._readers.items()}

    def load_state_dict(self, state: dict) -> None:
        for reader, acc in state.items():
            self._readers[reader] = {n: [float(t), int(c)] for n, (t, c) in acc.items()}
