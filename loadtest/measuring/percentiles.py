"""Latency percentiles computed from raw samples, so every runner reports them the same way.

Locust rounds response times into buckets for its own stats; the report uses exact samples
(bounded by a reservoir) instead, and the same function serves WebSocket and wrk-free cells.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

REPORTED = (50, 95, 99)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    rank = (len(sorted_values) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def summarize(values: Iterable[float]) -> dict[str, float | None]:
    """p50/p95/p99 of the samples; None for each when there are none (a cell that only failed)."""
    ordered = sorted(values)
    return {f"p{q}_ms": (percentile(ordered, q) if ordered else None) for q in REPORTED}


class Reservoir:
    """Uniform sample of an unbounded stream in fixed memory (Vitter's algorithm R).

    A fast server can produce millions of samples in a long run; percentiles from a uniform
    sample of 100k are accurate to well under a millisecond at p99.
    """

    def __init__(self, size: int = 100_000, seed: int = 0):
        self.size = size
        self.seen = 0
        self.values: list[float] = []
        self._random = random.Random(seed)

    def add(self, value: float) -> None:
        self.seen += 1
        if len(self.values) < self.size:
            self.values.append(value)
            return
        slot = self._random.randrange(self.seen)
        if slot < self.size:
            self.values[slot] = value
