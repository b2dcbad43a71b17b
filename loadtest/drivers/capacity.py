"""Connection capacity: how many WebSocket clients a server holds while still broadcasting fast.

The websocket-shootout method (hashrocket): add clients to one room in steps; after each step
time a series of broadcasts from one member to all of them; stop when a handshake fails, a
broadcast does not reach everyone, or the broadcast p95 passes the bound (250 ms). A
broadcast's time is until its last member received it, so it covers the whole fan-out.
"""

from __future__ import annotations

import contextlib
import json
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import gevent
import gevent.event
import gevent.pool
import websocket

from loadtest.drivers import ws_client
from loadtest.measuring.percentiles import summarize

CONNECT_CONCURRENCY = 50  # handshakes in flight at once while adding a step
BROADCAST_TIMEOUT_S = 2.0  # a broadcast not complete by then counts its missing deliveries lost
BROADCAST_GAP_S = 0.05
# A member counts once its handshake is done, but a server may join it to the room's group just
# after (Channels: accept() before group_add()); give the step's last joins time to land.
SETTLE_AFTER_STEP_S = 0.5


@dataclass(frozen=True)
class Step:
    clients: int
    handshake_failures: int
    broadcasts: int
    lost: int  # deliveries still missing when a broadcast timed out
    p50_ms: float | None
    p95_ms: float | None

    def passed(self, bound_ms: float) -> bool:
        return (
            self.handshake_failures == 0
            and self.lost == 0
            and self.p95_ms is not None
            and self.p95_ms <= bound_ms
        )

    def as_dict(self) -> dict:
        return asdict(self)


def clients_held(steps: list[Step], bound_ms: float) -> int:
    """The most clients of the last step that passed, counting from the first step on."""
    held = 0
    for step in steps:
        if not step.passed(bound_ms):
            break
        held = step.clients
    return held


def why_stopped(steps: list[Step], bound_ms: float, max_clients: int) -> str:
    """The reason the ramp ended, for the report."""
    if not steps:
        return "no step ran"
    last = steps[-1]
    if last.handshake_failures:
        return (
            f"{last.handshake_failures} handshakes failed at {last.clients + last.handshake_failures} clients"
        )
    if last.lost:
        return f"{last.lost} deliveries lost at {last.clients} clients"
    if last.p95_ms is None or last.p95_ms > bound_ms:
        return f"broadcast p95 {last.p95_ms or 0:.0f} ms > {bound_ms:.0f} ms at {last.clients} clients"
    if last.clients >= max_clients:
        return f"reached the profile's maximum of {max_clients} clients"
    return "deadline reached"


def raise_fd_limit() -> int:
    """Let this process open as many sockets as the hard limit allows; returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Broadcast:
    """Arrivals of the one broadcast in flight."""

    def __init__(self):
        self.message_id: str | None = None
        self.expected = 0
        self.arrived = 0
        self.started = 0.0
        self.finished = 0.0
        self.done = gevent.event.Event()

    def begin(self, message_id: str, expected: int) -> None:
        self.message_id, self.expected, self.arrived = message_id, expected, 0
        self.done.clear()
        self.started = time.perf_counter()

    def arrive(self, message_id: str) -> None:
        if message_id != self.message_id:
            return  # a late copy of an earlier, timed-out broadcast
        self.arrived += 1
        if self.arrived >= self.expected:
            self.finished = time.perf_counter()
            self.done.set()


def _listen(ws: websocket.WebSocket, broadcast: Broadcast) -> None:
    while True:
        try:
            event = json.loads(ws_client.receive(ws))
        except (ws_client.Closed, OSError, websocket.WebSocketException, ValueError):
            return  # its missing deliveries show up as lost
        if event.get("type") == "chat":
            broadcast.arrive(event.get("message"))


class Ramp:
    """Clients in one room, added step by step, each with a greenlet counting what it receives."""

    def __init__(self, events, url: str, name: str):
        self.events, self.url, self.name = events, url, name
        self.clients: list[websocket.WebSocket] = []
        self.listeners = gevent.pool.Group()
        self.broadcast = Broadcast()

    def add(self, count: int) -> int:
        """Open count more clients; returns how many handshakes failed."""

        def open_one(_):
            ws = ws_client.connect(self.events, self.url, f"{self.name} connect")
            if ws is not None:
                ws.settimeout(None)  # listeners block until a message or the close
                self.clients.append(ws)
                self.listeners.spawn(_listen, ws, self.broadcast)
            return ws is None

        return sum(gevent.pool.Pool(CONNECT_CONCURRENCY).imap_unordered(open_one, range(count)))

    def time_broadcasts(self, count: int) -> tuple[list[float], int]:
        """(completion times in ms, deliveries lost) of count broadcasts from the first client."""
        times, lost = [], 0
        for number in range(count):
            message_id = f"b{len(self.clients)}-{number}"
            self.broadcast.begin(message_id, len(self.clients))
            body = {"message": message_id, "sent_at": time.time(), "id": "capacity"}
            try:
                self.clients[0].send(json.dumps(body))
            except (OSError, websocket.WebSocketException) as error:
                ws_client.report(self.events, self.name, 0, exception=error)
                return times, lost + len(self.clients)
            if self.broadcast.done.wait(BROADCAST_TIMEOUT_S):
                elapsed = (self.broadcast.finished - self.broadcast.started) * 1000
                times.append(elapsed)
                ws_client.report(self.events, self.name, elapsed)
            else:
                missing = self.broadcast.expected - self.broadcast.arrived
                lost += missing
                problem = RuntimeError(f"broadcast incomplete after {BROADCAST_TIMEOUT_S} s")
                ws_client.report(self.events, self.name, BROADCAST_TIMEOUT_S * 1000, exception=problem)
            gevent.sleep(BROADCAST_GAP_S)
        return times, lost

    def close(self) -> None:
        self.listeners.kill(block=False)

        def close_one(ws):
            with contextlib.suppress(OSError, websocket.WebSocketException):  # already dropped
                ws.send_close()
            ws.shutdown()

        gevent.pool.Pool(CONNECT_CONCURRENCY).map(close_one, self.clients)
        self.clients.clear()


def ramp(
    events,
    url: str,
    name: str,
    *,
    step: int,
    max_clients: int,
    broadcasts: int,
    bound_ms: float,
    deadline_s: float,
    on_step: Callable[[Step], None] = lambda step: None,
) -> list[Step]:
    """Run the ramp until it fails a step, reaches max_clients or its deadline; returns the steps."""
    raise_fd_limit()
    steps: list[Step] = []
    deadline = time.monotonic() + deadline_s
    clients = Ramp(events, url, name)
    try:
        while len(clients.clients) < max_clients and time.monotonic() < deadline:
            failures = clients.add(min(step, max_clients - len(clients.clients)))
            gevent.sleep(SETTLE_AFTER_STEP_S)
            times, lost = clients.time_broadcasts(broadcasts) if clients.clients else ([], 0)
            latencies = summarize(times)
            result = Step(
                len(clients.clients), failures, len(times), lost, latencies["p50_ms"], latencies["p95_ms"]
            )
            steps.append(result)
            on_step(result)
            if not result.passed(bound_ms):
                break
    finally:
        clients.close()
    return steps
