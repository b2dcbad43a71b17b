"""How much the load generator ran and how long it waited for a CPU, from /proc/<pid>/schedstat.

On-CPU time alone cannot show a starved load generator: sharing its core with a busy process it
runs only half the time, looks 50 % busy, and yet every response it reads is late. The kernel's
run-queue wait time shows it: a generator that is either running or waiting to run for most of
the window is the bottleneck, whatever its CPU percentage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path


def run_and_wait_ns(pid: int | str = "self") -> tuple[int, int]:
    """(ns on a CPU, ns runnable but waiting for one), summed over the process's threads."""
    run = wait = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "schedstat").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that just exited
        run += int(fields[0])
        wait += int(fields[1])
    return run, wait


@dataclass(frozen=True)
class Usage:
    """Load generator usage over a window, in percent of one core."""

    cpu_pct: float  # on a CPU
    demand_pct: float  # on a CPU or waiting in the run queue for one


class UsageMeter:
    """Measures a process's Usage between start() and stop()."""

    def __init__(self, pid: int | str = "self"):
        self.pid = pid
        self._started: tuple[float, int, int] | None = None

    def start(self) -> None:
        self._started = (time.monotonic(), *run_and_wait_ns(self.pid))

    def stop(self) -> Usage:
        if self._started is None:
            raise RuntimeError("UsageMeter.stop() before start()")
        began, run0, wait0 = self._started
        run1, wait1 = run_and_wait_ns(self.pid)
        wall_ns = max((time.monotonic() - began) * 1e9, 1.0)
        return Usage(
            cpu_pct=100 * (run1 - run0) / wall_ns,
            demand_pct=100 * ((run1 - run0) + (wait1 - wait0)) / wall_ns,
        )


def is_loadgen_bound(usage: Usage, budget_pct: float = 100.0, threshold: float = 0.8) -> bool:
    """True when the load generator wanted more than threshold of its CPU budget.

    The budget is 100 % per core it can use (Locust is one process: one core whatever its
    affinity; wrk: one core per thread). Past 80 % its own queueing inflates the latencies it
    measures and caps the rate it offers, so the cell measures the generator, not the server.
    """
    return usage.demand_pct > threshold * budget_pct
