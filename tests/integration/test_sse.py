"""Server-sent events through nginx, as the README describes them on ASGI servers.

An async generator's events leave one by one (nginx passes them on because the view says
`X-Accel-Buffering: no`); a sync generator's arrive all at once, since Django reads a sync
iterator to the end before an ASGI server sends the first byte.

Each event carries the time it was made (`time`), so the order of events is checked without a
wall-clock threshold: "one by one" means the client had event k before event k+1 was made; "all at
once" means the client had nothing before the last event was made. Client and server share the
clock (the host run, and containers on the same kernel).
"""

import json
import time
from itertools import pairwise

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("stack")]

EVENTS = 4
INTERVAL_MS = 300


def arrivals(port: int, kind: str) -> list[tuple[float, float]]:
    """(made, received) for each event of /sse/<kind>, both in epoch seconds."""
    url = f"http://127.0.0.1:{port}/sse/{kind}?events={EVENTS}&interval_ms={INTERVAL_MS}"
    received = []
    with httpx.stream("GET", url, timeout=30) as response:
        assert response.status_code == 200, (port, kind)
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                received.append((json.loads(line[len("data: "):])["time"], time.time()))
    assert len(received) == EVENTS, (port, kind, received)
    return received


def asgi_servers(topology):
    return [server for server in topology.servers if server.protocol == "asgi"]


def test_an_async_generator_streams_event_by_event_on_every_asgi_server(topology):
    for server in asgi_servers(topology):
        events = arrivals(server.port, "async")
        held = [number for number, ((_, got), (next_made, _)) in enumerate(pairwise(events), 1)
                if got >= next_made]
        assert not held, f"{server.name}: events {held} reached the client only after the next one was made"


def test_a_sync_generator_arrives_all_at_once_on_every_asgi_server(topology):
    for server in asgi_servers(topology):
        events = arrivals(server.port, "sync")
        last_made = events[-1][0]
        early = [number for number, (_, got) in enumerate(events, 1) if got < last_made]
        assert not early, f"{server.name}: events {early} arrived before the last one was made"
