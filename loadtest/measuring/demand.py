"""How much the load generator ran and how long it waited for a CPU, from /proc/<pid>/schedstat.

On-CPU time alone cannot show a starved load generator: sharing its core with a busy process it
runs only half the time, looks 50 % busy, and yet every response it reads is late. The kernel's
run-queue wait shows it: a generator thread that is either running or waiting to run for most
of the window is the bottleneck, whatever its CPU percentage.

Per thread, because a generator is as saturated as its busiest thread: Locust does all its work
in the one gevent thread (its other threads only resolve names), wrk gives each thread its own
connections.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def threads_run_and_wait_ns(pid: int | str = "self") -> dict[str, tuple[int, int]] | None:
    """{thread id: (ns on a CPU, ns runnable but waiting for one)} of a process's threads; None
    when the kernel keeps no schedstat (built without CONFIG_SCHED_INFO): unknown, not idle."""
    threads = {}
    for task in (PROC / str(pid) / "task").iterdir():
        try:
            fields = (task / "schedstat").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            if task.exists():
                return None  # the thread is there, its schedstat is not
            continue  # a thread that just exited
        threads[task.name] = (int(fields[0]), int(fields[1]))
    return threads


@dataclass(frozen=True)
class Usage:
    """Load generator usage over a window, in percent of one core."""

    cpu_pct: float | None  # all threads on a CPU (over 100 when several threads ran at once)
    demand_pct: float | None  # the busiest thread: on a CPU or waiting in the run queue for one


UNKNOWN = Usage(cpu_pct=None, demand_pct=None)


def usage_between(
    before: dict[str, tuple[int, int]] | None, after: dict[str, tuple[int, int]] | None, wall_s: float
) -> Usage:
    if before is None or after is None:
        return UNKNOWN
    wall_ns = max(wall_s * 1e9, 1.0)
    run_total, busiest = 0, 0
    for tid, (run, wait) in after.items():
        run0, wait0 = before.get(tid, (0, 0))  # a thread started inside the window counts from zero
        run_total += run - run0
        busiest = max(busiest, (run - run0) + (wait - wait0))
    return Usage(cpu_pct=100 * run_total / wall_ns, demand_pct=100 * busiest / wall_ns)


class UsageMeter:
    """Measures a process's Usage between start() and stop()."""

    def __init__(self, pid: int | str = "self"):
        self.pid = pid
        self._started: float | None = None

    def start(self) -> None:
        self._before = threads_run_and_wait_ns(self.pid)
        self._started = time.monotonic()

    def stop(self) -> Usage:
        if self._started is None:
            raise RuntimeError("UsageMeter.stop() before start()")
        after = threads_run_and_wait_ns(self.pid)
        return usage_between(self._before, after, time.monotonic() - self._started)


def combined(usages: list[Usage]) -> Usage:
    """A load generator made of several processes (Locust's master and workers): their CPU use
    adds up, and it is as saturated as its busiest thread in any of them. One process whose demand
    is unknown makes the whole unknown."""
    cpu = [u.cpu_pct for u in usages]
    demand = [u.demand_pct for u in usages]
    return Usage(cpu_pct=None if None in cpu else sum(cpu),
                 demand_pct=None if None in demand else max(demand))


def is_loadgen_bound(usage: Usage, threshold: float = 0.8) -> bool | None:
    """True when a load generator thread wanted more than threshold of a core; None when its
    demand is unknown, which must never read as "not bound".

    Past 80 % its own queueing inflates the latencies it measures and caps the rate it offers,
    so the cell measures the generator, not the server.
    """
    if usage.demand_pct is None:
        return None
    return usage.demand_pct > threshold * 100
