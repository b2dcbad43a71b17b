"""Sync views on the ASGI servers: reused threads, bounded in number, still overlapping.

Django as shipped starts a thread per request under ASGI (and one more to join it): a burst of
sync requests made a process start hundreds. With settings.ASGI_TUNING, each request borrows one
of ASGI_THREADS threads per process (config/threads.py); a burst waits for them instead.
"""

from __future__ import annotations

import asyncio
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


async def burst(port: int, requests: int, ms: int) -> tuple[float, list[int]]:
    """`requests` GET /wait/sync?ms=`ms` all at once; seconds until the last answered, statuses."""
    limits = httpx.Limits(max_connections=requests, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        started = time.monotonic()
        responses = await asyncio.gather(
            *(client.get(f"http://127.0.0.1:{port}/wait/sync?ms={ms}") for _ in range(requests))
        )
        return time.monotonic() - started, [response.status_code for response in responses]


@pytest.mark.parametrize("name", TUNED)
def test_a_burst_of_sync_requests_keeps_the_thread_count_bounded(name):
    with PeakWatch(functools.partial(tree_threads, name), interval=0.02) as watch:
        elapsed, statuses = asyncio.run(burst(TOPOLOGY[name].port, requests=400, ms=1000))
    most = watch.peak
    bound = PROCESSES * (ASGI_THREADS + SLACK) + SLACK  # the master (or supervisord) too
    print(f"\n{name}: 400 x /wait/sync?ms=1000 in {elapsed:.2f} s; at most {most} threads (bound {bound})")
    assert set(statuses) == {200}, (name, sorted(set(statuses)))
    assert most <= bound, (name, most, bound)


@pytest.mark.parametrize("name", TUNED)
def test_sync_views_still_overlap_on_every_asgi_server(name):
    """100 concurrent 100 ms sync waits take a few rounds of the pool (0.2 s with 2 x 32 threads),
    not the 10 s they would take one at a time."""
    elapsed, statuses = asyncio.run(burst(TOPOLOGY[name].port, requests=100, ms=100))
    rounds = -(-100 // (PROCESSES * ASGI_THREADS))
    print(f"\n{name}: 100 x /wait/sync?ms=100 in {elapsed:.2f} s ({rounds} rounds of the pools: "
          f"{rounds * 0.1:.1f} s of waiting)")
    assert set(statuses) == {200}, (name, sorted(set(statuses)))
    assert elapsed < rounds * 0.1 + 2.5, (name, elapsed)
