"""Sync views on the ASGI servers: reused threads, bounded in number, still overlapping.

Django as shipped starts a thread per request under ASGI (and one more to join it): a burst of
sync requests made a process start hundreds. With settings.ASGI_TUNING, each request borrows one
of ASGI_THREADS threads per process (config/threads.py); a burst waits for them instead.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import time

import httpx
import pytest

from stack import local, servers
from tests.hardening.helpers import PeakWatch, tree_threads

pytestmark = [pytest.mark.hardening, pytest.mark.usefixtures("stack")]

TOPOLOGY = servers.load()
TUNED = [s.name for s in TOPOLOGY.servers if s.websocket and s.django == "tuned"]
ASGI_THREADS = int(local.app_environment().get("ASGI_THREADS", "32"))  # settings' default
PROCESSES = int(local.app_environment()["WEB_CONCURRENCY"])
# Threads a server process has besides its pool: its main thread, asyncio's default executor
# (logging of error responses), the server's own (Granian's Rust runtime).
SLACK = 16


async def burst(port: int, requests: int, ms: int) -> tuple[float, list[int], list[float]]:
    """`requests` GET /wait/sync?ms=`ms` all at once: seconds until the last answered, the
    statuses, and when each answer came (seconds from the start)."""
    limits = httpx.Limits(max_connections=requests, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        started = time.monotonic()
        answered: list[float] = []

        async def get() -> int:
            response = await client.get(f"http://127.0.0.1:{port}/wait/sync?ms={ms}")
            answered.append(time.monotonic() - started)
            return response.status_code

        statuses = await asyncio.gather(*(get() for _ in range(requests)))
        return time.monotonic() - started, statuses, answered


def most_within(times: list[float], window: float) -> int:
    """The most of `times` that fall within any one `window` of seconds."""
    times = sorted(times)
    return max(bisect.bisect_left(times, start + window) - index for index, start in enumerate(times))


@pytest.mark.parametrize("name", TUNED)
def test_a_burst_of_sync_requests_keeps_the_thread_count_bounded(name):
    with PeakWatch(functools.partial(tree_threads, name), interval=0.02) as watch:
        elapsed, statuses, _ = asyncio.run(burst(TOPOLOGY[name].port, requests=400, ms=1000))
    most = watch.peak
    bound = PROCESSES * (ASGI_THREADS + SLACK) + SLACK  # the master (or supervisord) too
    print(f"\n{name}: 400 x /wait/sync?ms=1000 in {elapsed:.2f} s; at most {most} threads (bound {bound})")
    assert set(statuses) == {200}, (name, sorted(set(statuses)))
    assert most <= bound, (name, most, bound)


@pytest.mark.parametrize("name", TUNED)
def test_sync_views_still_overlap_on_every_asgi_server(name):
    """100 concurrent 100 ms sync waits run side by side on the pools' threads, not one at a time
    per process. Counted, not timed: one at a time, each process ends at most one wait in any
    100 ms (two, at a window's edges); side by side, the answers come in bunches of many."""
    elapsed, statuses, answered = asyncio.run(burst(TOPOLOGY[name].port, requests=100, ms=100))
    together = most_within(answered, 0.1)
    print(f"\n{name}: 100 x /wait/sync?ms=100 in {elapsed:.2f} s; at most {together} answered "
          f"within 100 ms ({PROCESSES} x {ASGI_THREADS} threads)")
    assert set(statuses) == {200}, (name, sorted(set(statuses)))
    assert together > 4 * PROCESSES, (name, together)
