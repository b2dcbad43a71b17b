"""The trend of memory over a soak: a least-squares line, and whether it says "growing"."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from loadtest.measuring.memory import Sample


@dataclass(frozen=True)
class Fit:
    slope: float  # per minute
    intercept: float
    r2: float | None  # None when every value is the same
    points: int


def least_squares(points: list[tuple[float, float]]) -> Fit | None:
    """Ordinary least squares y = slope * x + intercept; None with fewer than 2 distinct x."""
    if len({x for x, _ in points}) < 2:
        return None
    xs, ys = [x for x, _ in points], [y for _, y in points]
    slope, intercept = statistics.linear_regression(xs, ys)
    r2 = statistics.correlation(xs, ys) ** 2 if len(set(ys)) > 1 else None
    return Fit(slope, intercept, r2, len(points))


def memory_slope(samples: list[Sample], since_s: float = 0.0, value: str = "rss_mb") -> Fit | None:
    """MB per minute over the samples taken at or after since_s."""
    return least_squares([(s.t_s / 60, getattr(s, value)) for s in samples if s.t_s >= since_s])


def verdict(after_settle: Fit | None, last_half: Fit | None, threshold: float) -> str:
    """'growing' when memory climbs faster than threshold MB/min after settling and still at the end."""
    if after_settle is None or last_half is None:
        return "too short"
    if after_settle.slope > threshold and last_half.slope > threshold:
        return "growing"
    return "flat"
