"""What the doctor reports: a failure signature, its evidence and what to try. Its own module so that the
signature modules and the package that orders them share it without an import circle."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    signature: str
    evidence: str                          # one readable sentence: the statistic, the steps, the values
    values: dict = field(default_factory=dict)   # the raw numbers behind it
    try_next: tuple[str, ...] = ()         # ganlab overrides, each with why, most promising first
