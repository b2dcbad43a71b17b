"""Latency percentiles computed from raw samples, so every runner reports them the same way.

Locust rounds response times into buckets for its own stats; the report uses exact samples
(bounded by a reservoir) instead, and the same function serves WebSocket and wrk-free cells.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

import numpy

REPORTED = (50, 95, 99)


def summarize(values: Iterable[float]) -> dict[str, float | None]:
    """p50/p95/p99 of the samples (numpy's linear interpolation between closest ranks); None for each
    when there are none (a cell that only failed)."""
    samples = numpy.fromiter(values, dtype=float)
    if not samples.size:
        return {f"p{q}_ms": None for q in REPORTED}
    return {f"p{q}_ms": value for q, value in zip(REPORTED, numpy.percentile(samples, REPORTED).tolist(),
                                                  strict=True)}


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
