"""The open-loop HTTP client of the http_capacity ramp: requests on a fixed schedule, its own process.

    python -m loadtest.drivers.openloop --url http://127.0.0.1:8082/plaintext --expect-server gunicorn

At each offered rate R the schedule starts request i at t0 + i / R, whatever the server does: a
request goes out on an idle keep-alive connection, on a new one when none is idle (up to
--max-connections), or waits for one; its latency runs from its scheduled start to its answer's
last byte, so every wait (for a connection, for the server, for this client's own loop) counts.
Closed-loop clients (Locust's users, wrk) send the next request only when the last one came back,
so a stalled server is sent less and its stall never reaches the percentiles.

HTTP/1.1 on asyncio Protocols over uvloop, responses parsed by httptools (llhttp, C), the same
parser Uvicorn uses: a request costs the client tens of microseconds. The ramp's rules are in
loadtest.drivers.http_ramp. Output, one JSON object per line on stdout: {"event": "step", ...Step}
after each step, then {"event": "done", "sustained_rps": ..., "stopped_because": ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections import Counter, deque
from urllib.parse import urlsplit

import httptools
import numpy
import uvloop

from loadtest.drivers.http_ramp import RampSettings, Step, generator_bound, next_rate, sustained, why_stopped
from loadtest.measuring.demand import threads_run_and_wait_ns, usage_between
from loadtest.measuring.percentiles import summarize

DRAIN_MIN_S = 1.0  # after a step's schedule, how long its last requests may take to come back
DRAIN_SLOS = 10  # ... or this many SLOs, whichever is longer
RECOVERY_S = 20.0  # after a failed step, how long the server may take to answer within the SLO again
PROBE_GAP_S = 0.25
# The schedule's tick: every request due by then goes out at once. libuv's timers count whole
# milliseconds, so a shorter sleep returns at once and the loop would spin; the up to 1 ms a
# request waits for its tick is in its latency, like every other wait.
TICK_S = 0.001
FAILURE_TEXT_LIMIT = 160


class StepStats:
    """What one step's requests met; requests still pending when it is closed count as late."""

    def __init__(self):
        self.latencies: list[float] = []  # seconds from each request's scheduled start
        self.errors: Counter[str] = Counter()
        self.pending: set[Request] = set()
        self.closed = False
        self.drained = asyncio.Event()

    def finish(self, request: Request, failure: str | None) -> None:
        if self.closed:
            return
        self.pending.discard(request)
        if failure is None:
            self.latencies.append(time.perf_counter() - request.scheduled)
        else:
            self.errors[failure[:FAILURE_TEXT_LIMIT]] += 1
        if not self.pending:
            self.drained.set()

    def close(self) -> int:
        """Stop counting; a request still out is as late as the step's end, at least. Returns how many."""
        now = time.perf_counter()
        self.latencies += [now - request.scheduled for request in self.pending]
        self.closed = True
        return len(self.pending)


class Request:
    __slots__ = ("scheduled", "stats")

    def __init__(self, scheduled: float, stats: StepStats):
        self.scheduled, self.stats = scheduled, stats


class Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time (no pipelining, as a browser or nginx)."""

    def __init__(self, client: Client):
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.current: Request | None = None
        self.served_by: str | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.client.connected(self)

    def send(self, request: Request) -> None:
        self.current = request
        self.transport.write(self.client.request_bytes)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(f"unreadable response: {error}")
            self.transport.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"x-served-by":
            self.served_by = value.decode("latin-1")

    def on_message_complete(self) -> None:
        status, served = self.parser.get_status_code(), self.served_by
        self.served_by = None
        failure = None
        if status != 200:
            failure = f"HTTP {status}"
        elif served != self.client.expected_server:
            failure = f"served by {served!r}, not {self.client.expected_server!r}"
        request, self.current = self.current, None
        if request is not None:
            request.stats.finish(request, failure)
        if self.parser.should_keep_alive():
            self.client.idle(self)
        else:
            self.transport.close()

    def _fail(self, failure: str) -> None:
        request, self.current = self.current, None
        if request is not None:
            request.stats.finish(request, failure)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"connection lost: {exc or 'closed by the server'}")
        self.client.lost(self)


class Client:
    """Keep-alive connections, opened on demand up to a maximum, and the requests waiting for one."""

    def __init__(self, url: str, expected_server: str, max_connections: int):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.request_bytes = (f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                              "User-Agent: openloop\r\n\r\n").encode()
        self.expected_server = expected_server
        self.max_connections = max_connections
        self.connections: set[Connection] = set()
        self.idle_connections: list[Connection] = []
        self.opening = 0
        self.waiting: deque[Request] = deque()

    def submit(self, request: Request) -> None:
        request.stats.pending.add(request)
        if self.idle_connections:
            self.idle_connections.pop().send(request)
            return
        self.waiting.append(request)
        self._open_for_waiting()

    def _open_for_waiting(self) -> None:
        """One more connection when requests wait and the maximum allows it."""
        if self.waiting and len(self.connections) + self.opening < self.max_connections:
            self.opening += 1
            asyncio.get_running_loop().create_task(self._open())

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: Connection(self), self.host, self.port)
        except OSError as error:
            self.opening -= 1
            if self.waiting:
                request = self.waiting.popleft()
                request.stats.finish(request, f"connect: {error}")
            self._open_for_waiting()

    def connected(self, connection: Connection) -> None:
        self.opening -= 1
        self.connections.add(connection)
        self.idle(connection)

    def idle(self, connection: Connection) -> None:
        if self.waiting:
            connection.send(self.waiting.popleft())
        else:
            self.idle_connections.append(connection)

    def lost(self, connection: Connection) -> None:
        self.connections.discard(connection)
        if connection in self.idle_connections:
            self.idle_connections.remove(connection)
        self._open_for_waiting()  # a server that closes after each answer: its waiting requests

    def reset(self) -> None:
        """Every connection closed and nothing waiting: after a failed step, start clean."""
        self.waiting.clear()
        self.idle_connections.clear()
        for connection in list(self.connections):
            connection.transport.abort()
        self.connections.clear()


async def run_schedule(client: Client, rate: float, seconds: float,
                       slo_ms: float) -> tuple[StepStats, int, float]:
    """Offer rate for seconds: (the step's stats, requests late, seconds the schedule took)."""
    stats = StepStats()
    count = max(1, round(rate * seconds))
    started = time.perf_counter()
    sent = 0
    while sent < count:
        due = min(count, int((time.perf_counter() - started) * rate) + 1)
        while sent < due:
            client.submit(Request(started + sent / rate, stats))
            sent += 1
        if sent < count:
            await asyncio.sleep(max(TICK_S, started + sent / rate - time.perf_counter()))
    schedule_s = time.perf_counter() - started
    stats.drained.clear()  # set whenever the pending ones ran out mid-schedule
    if stats.pending:
        with contextlib.suppress(TimeoutError):  # what is still out is late
            await asyncio.wait_for(stats.drained.wait(), max(DRAIN_MIN_S, DRAIN_SLOS * slo_ms / 1000))
    return stats, stats.close(), schedule_s


async def step(client: Client, rate: float, args: argparse.Namespace) -> Step:
    before = threads_run_and_wait_ns()
    stats, late, schedule_s = await run_schedule(client, rate, args.step_s, args.slo_ms)
    demand = usage_between(before, threads_run_and_wait_ns(), schedule_s).demand_pct
    ms = numpy.asarray(stats.latencies) * 1000
    percentiles = summarize(ms)
    p50, p99 = percentiles["p50_ms"], percentiles["p99_ms"]
    return Step(
        offered_rps=rate,
        scheduled=len(stats.latencies) + sum(stats.errors.values()),
        ok=len(stats.latencies) - late,
        errors=sum(stats.errors.values()),
        late=late,
        p50_ms=None if p50 is None else round(p50, 3),
        p99_ms=None if p99 is None else round(p99, 3),
        max_ms=round(float(ms.max()), 3) if ms.size else None,
        connections=len(client.connections),
        loadgen_demand_pct=None if demand is None else round(demand, 1),
        loadgen_bound=None if demand is None else demand > args.bound_threshold * 100,
        error_kinds=dict(stats.errors.most_common(5)),
    )


async def recovered(client: Client, slo_ms: float) -> bool:
    """After a failed step: the server answers (rightly or not) within the SLO again, its backlog gone."""
    client.reset()
    # Not polling.poll_until: each look is a probe awaited on this event loop, which its synchronous
    # wait would block (and an async done() returns a coroutine, always true).
    deadline = time.monotonic() + RECOVERY_S
    while time.monotonic() < deadline:
        await asyncio.sleep(PROBE_GAP_S)
        started = time.perf_counter()
        _, late, _ = await run_schedule(client, 1.0, 0.0, slo_ms)
        if not late and (time.perf_counter() - started) * 1000 <= slo_ms:
            return True
    return False


def emit(event: dict) -> None:
    print(json.dumps(event), flush=True)


async def ramp(args: argparse.Namespace, settings: RampSettings) -> tuple[list[Step], str | None]:
    """The steps, and a reason the ramp ended that the steps do not show (None: they show it)."""
    client = Client(args.url, args.expect_server, settings.max_connections)
    deadline = time.monotonic() + settings.deadline_s
    steps: list[Step] = []
    held = failed = None
    refined = 0
    try:
        if settings.warmup_s > 0:
            await run_schedule(client, settings.start_rps, settings.warmup_s, args.slo_ms)
        while (rate := next_rate(held, failed, refined, settings)) is not None:
            if time.monotonic() > deadline:
                return steps, "deadline reached"
            if failed is not None:
                refined += 1
            steps.append(await step(client, rate, args))
            emit({"event": "step", **steps[-1].as_dict()})
            if generator_bound(steps):
                break
            if steps[-1].passed(args.slo_ms):
                held = rate
            else:
                failed = rate
                if next_rate(held, failed, refined, settings) is None:
                    break
                if not await recovered(client, args.slo_ms):
                    return steps, (f"the server did not answer within the SLO again for {RECOVERY_S:.0f} s "
                                   f"after {rate:,.0f} rps")
        return steps, None
    finally:
        client.reset()
        await asyncio.sleep(0.1)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="http:// URL every request GETs")
    parser.add_argument("--expect-server", required=True, help="X-Served-By every answer must carry")
    parser.add_argument("--slo-ms", type=float, default=50.0, help="p99 above this fails a step")
    parser.add_argument("--start-rps", type=float, default=100.0)
    parser.add_argument("--factor", type=float, default=1.3, help="rate of the next step / the last held")
    parser.add_argument("--max-rps", type=float, default=20_000.0)
    parser.add_argument("--refine-steps", type=int, default=2, help="bisections after the first failure")
    parser.add_argument("--step-s", type=float, default=5.0)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--deadline-s", type=float, default=240.0)
    parser.add_argument("--bound-threshold", type=float, default=0.8,
                        help="client demand (fraction of a core) that ends the ramp as load generator bound")
    args = parser.parse_args(argv)
    if urlsplit(args.url).scheme != "http" or args.start_rps <= 0 or args.factor <= 1 or args.step_s <= 0:
        parser.error("--url must be http://, --start-rps and --step-s above 0, --factor above 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = RampSettings(args.start_rps, args.factor, args.max_rps, args.refine_steps, args.step_s,
                            args.warmup_s, args.max_connections, args.deadline_s)
    steps, reason = uvloop.run(ramp(args, settings))
    emit({"event": "done", "sustained_rps": sustained(steps, args.slo_ms),
          "stopped_because": reason or why_stopped(steps, args.slo_ms, args.max_rps)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
