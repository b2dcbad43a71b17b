"""The WebSocket load client of the capacity ramp: compiled framing, its own process.

    python -m loadtest.drivers.wsload --url ws://127.0.0.1:8082/ws/chat/r1/ --max-clients 5000

Members join one room step by step; after each step one member sends a series of broadcasts and
the client times each until every member has it. The frames are parsed by picows (Cython) on
uvloop, and a delivery is recognised by the broadcast's id in the payload (no JSON decoding), so
a delivery costs the client a few microseconds where websocket-client under gevent cost 25-40.

It measures itself per step: its thread's time on a CPU plus waiting for one, over the time a
broadcast was in flight (the gaps and the settling between steps would hide saturation). A step
where that demand passes --bound-threshold ends the ramp: from there the client, not the server,
sets the latency, so the server held at least the last good step ("load generator bound").

Output, one JSON object per line on stdout: {"event": "step", ...Step} after each step, then
{"event": "done", "steps": [...], "stopped_because": "..."}. Exit 2 with a message on stderr when
the file-descriptor limit or the ephemeral ports cannot cover --max-clients. The bench runs it
(drivers/capacity.py reads the lines) and measures the process from outside as it does wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import picows
import uvloop

from loadtest.drivers.capacity import Step, why_stopped
from loadtest.measuring.demand import threads_run_and_wait_ns, usage_between
from loadtest.measuring.percentiles import summarize

CONNECT_CONCURRENCY = 100  # handshakes in flight at once while adding a step
HANDSHAKE_TIMEOUT_S = 10.0
BROADCAST_TIMEOUT_S = 2.0  # a broadcast not complete by then counts its missing deliveries lost
BROADCAST_GAP_S = 0.05
# A member counts once its handshake is done, but a server may join it to the room's group just
# after (Channels: accept() before group_add()); give the step's last joins time to land.
SETTLE_AFTER_STEP_S = 0.5
FD_HEADROOM = 64  # stdio, the event loop's own descriptors, a few spare


class LimitError(Exception):
    """This machine cannot open as many connections as asked; the message says what to change."""


def raise_fd_limit(clients: int) -> int:
    """Soft RLIMIT_NOFILE up to the hard one; LimitError when even that is too few for clients.

    Without it a ramp ends in EMFILE, which reads as the server's handshake failures."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = clients + FD_HEADROOM
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise LimitError(f"the hard limit on open files is {hard}, the ramp needs {needed}: raise it "
                         f"(ulimit -Hn, or LimitNOFILE= for a service) or lower the ramp's maximum")
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def check_ephemeral_ports(clients: int, path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> None:
    """Every client to one address and port needs its own source port."""
    low, high = map(int, path.read_text().split())
    if high - low + 1 < clients:
        raise LimitError(f"net.ipv4.ip_local_port_range is {low}-{high}, {high - low + 1} ports for "
                         f"{clients} clients: widen it (sysctl -w net.ipv4.ip_local_port_range='1024 65535')")


class Broadcast:
    """Arrivals of the one broadcast in flight: found by its id's bytes in a frame's payload."""

    def __init__(self):
        self.marker = b""
        self.expected = 0
        self.arrived = 0
        self.started = 0.0
        self.finished = 0.0
        self.done = asyncio.Event()

    def begin(self, message_id: str, expected: int) -> None:
        # Quoted, so b1-2 is not found inside b1-20.
        self.marker, self.expected, self.arrived = f'"{message_id}"'.encode(), expected, 0
        self.done.clear()
        self.started = time.perf_counter()

    def arrive(self, payload: bytes) -> None:
        if self.marker and self.marker in payload:
            self.arrived += 1
            if self.arrived == self.expected:
                self.finished = time.perf_counter()
                self.done.set()


class Member(picows.WSListener):
    def __init__(self, broadcast: Broadcast, dropped: list[int]):
        self.broadcast = broadcast
        self.dropped = dropped

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.TEXT:
            self.broadcast.arrive(frame.get_payload_as_bytes())
        elif frame.msg_type == picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self.dropped[0] += 1


class Ramp:
    def __init__(self, url: str, origin: str):
        self.url, self.origin = url, origin
        self.members: list[picows.WSTransport] = []
        self.broadcast = Broadcast()
        self.dropped = [0]  # members whose connection ended during the ramp
        self.handshake_errors: dict[str, int] = {}

    async def _open_one(self, gate: asyncio.Semaphore) -> bool:
        async with gate:
            try:
                transport, _ = await picows.ws_connect(
                    lambda: Member(self.broadcast, self.dropped), self.url,
                    websocket_handshake_timeout=HANDSHAKE_TIMEOUT_S, extra_headers={"Origin": self.origin},
                )
            except (TimeoutError, OSError, picows.WSError) as error:
                kind = f"{type(error).__name__}: {error}"[:160]
                self.handshake_errors[kind] = self.handshake_errors.get(kind, 0) + 1
                return False
        self.members.append(transport)
        return True

    async def add(self, count: int) -> int:
        """Open count more members; returns how many handshakes failed."""
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        opened = await asyncio.gather(*(self._open_one(gate) for _ in range(count)))
        return opened.count(False)

    async def time_broadcasts(self, count: int) -> tuple[list[float], int, float | None]:
        """(completion times in ms, deliveries lost, the client's demand % while they were in flight)."""
        times, lost, busy_wall, busy_demand = [], 0, 0.0, 0.0
        for number in range(count):
            message_id = f"b{len(self.members)}-{number}"
            before = threads_run_and_wait_ns()
            self.broadcast.begin(message_id, len(self.members) - self.dropped[0])
            body = json.dumps({"message": message_id, "sent_at": time.time(), "id": "capacity"})
            self.members[0].send(picows.WSMsgType.TEXT, body.encode())
            try:
                await asyncio.wait_for(self.broadcast.done.wait(), BROADCAST_TIMEOUT_S)
                elapsed = self.broadcast.finished - self.broadcast.started
                times.append(elapsed * 1000)
            except TimeoutError:
                elapsed = BROADCAST_TIMEOUT_S
                lost += self.broadcast.expected - self.broadcast.arrived
            demand = usage_between(before, threads_run_and_wait_ns(), elapsed).demand_pct
            if demand is None:
                busy_wall = None
            elif busy_wall is not None:
                busy_wall += elapsed
                busy_demand += demand * elapsed
            await asyncio.sleep(BROADCAST_GAP_S)
        return times, lost, (busy_demand / busy_wall if busy_wall else None)

    def close(self) -> None:
        for transport in self.members:
            transport.send_close(picows.WSCloseCode.GOING_AWAY)
            transport.disconnect()
        self.members.clear()


class FanoutRoom:
    """The chat fan-out: one sender paced, every member times each delivery against its sent_at."""

    def __init__(self, expected_server: str | None):
        self.expected_server = expected_server
        self.connected = 0
        self.sent: dict[str, int] = {}  # message id -> members connected when it was sent
        self.delivered: dict[str, int] = {}
        self.samples: list[float] = []
        self.sampling = False
        self.failures: dict[str, int] = {}

    def fail(self, kind: str) -> None:
        self.failures[kind[:160]] = self.failures.get(kind[:160], 0) + 1

    def on_text(self, payload: bytes) -> None:
        event = json.loads(payload)  # tens of members: decoding each is affordable here
        if event.get("type") == "error":
            self.fail(f"server error: {event.get('error')}")
        elif event.get("type") == "chat":
            if self.expected_server and event.get("server") != self.expected_server:
                self.fail(f"broadcast from {event.get('server')!r}")
            elif event.get("message") in self.sent:
                self.delivered[event["message"]] = self.delivered.get(event["message"], 0) + 1
                if self.sampling:
                    self.samples.append((time.time() - event["sent_at"]) * 1000)

    def lost(self) -> int:
        return sum(max(0, expected - self.delivered.get(mid, 0)) for mid, expected in self.sent.items())


class FanoutMember(picows.WSListener):
    def __init__(self, room: FanoutRoom):
        self.room = room

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.room.connected += 1

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.TEXT:
            self.room.on_text(frame.get_payload_as_bytes())
        elif frame.msg_type == picows.WSMsgType.CLOSE:
            self.room.fail(f"closed by server: code {frame.get_close_code()}")
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self.room.connected -= 1


async def fanout(args: argparse.Namespace) -> dict:
    """Members join; warm-up; then {"event": "measure"} ... {"event": "measured"} around the
    measured window (the bench reads them as its window's edges); then a drain for late copies."""
    room = FanoutRoom(args.expect_server)

    async def join():
        try:
            transport, _ = await picows.ws_connect(
                lambda: FanoutMember(room), args.url, websocket_handshake_timeout=HANDSHAKE_TIMEOUT_S,
                extra_headers={"Origin": args.origin})
            return transport
        except (TimeoutError, OSError, picows.WSError) as error:
            room.fail(f"{args.name} connect: {type(error).__name__}: {error}")
            return None

    members = [m for m in await asyncio.gather(*(join() for _ in range(args.members))) if m is not None]
    if not members:
        return {"messages_sent": 0, "deliveries_expected": 0, "lost": 0, "delivered": 0, "samples": [],
                "failures": room.failures}
    await asyncio.sleep(SETTLE_AFTER_STEP_S)
    recording = False
    sequence = 0

    async def send_loop():
        nonlocal sequence
        while True:
            sequence += 1
            message_id = f"m{sequence}"
            if recording:
                room.sent[message_id] = room.connected
            body = json.dumps({"message": message_id, "sent_at": time.time(), "id": "sender"})
            members[0].send(picows.WSMsgType.TEXT, body.encode())
            await asyncio.sleep(args.interval_s)

    sender = asyncio.create_task(send_loop())
    await asyncio.sleep(args.warmup_s)
    recording = room.sampling = True
    emit({"event": "measure"})
    await asyncio.sleep(args.measure_s)
    recording = room.sampling = False
    emit({"event": "measured"})
    sender.cancel()
    await asyncio.sleep(args.grace_s)  # deliveries still under way count, late ones are lost
    for transport in members:
        transport.send_close(picows.WSCloseCode.GOING_AWAY)
        transport.disconnect()
    await asyncio.sleep(0.2)
    return {"messages_sent": len(room.sent), "deliveries_expected": sum(room.sent.values()),
            "lost": room.lost(), "delivered": len(room.samples), "samples": room.samples,
            "failures": room.failures}


def emit(event: dict) -> None:
    print(json.dumps(event), flush=True)


async def ramp(args: argparse.Namespace) -> tuple[list[Step], dict[str, int]]:
    """The steps, and the handshake failures by kind."""
    steps: list[Step] = []
    deadline = time.monotonic() + args.deadline_s
    clients = Ramp(args.url, args.origin)
    try:
        while len(clients.members) < args.max_clients and time.monotonic() < deadline:
            failures = await clients.add(min(args.step, args.max_clients - len(clients.members)))
            await asyncio.sleep(SETTLE_AFTER_STEP_S)
            if not clients.members:
                break  # not one handshake went through: nothing to broadcast to
            times, lost, demand = await clients.time_broadcasts(args.broadcasts)
            latencies = summarize(times)
            step = Step(
                clients=len(clients.members) - clients.dropped[0],
                handshake_failures=failures,
                broadcasts=len(times),
                lost=lost,
                p50_ms=latencies["p50_ms"],
                p95_ms=latencies["p95_ms"],
                loadgen_demand_pct=None if demand is None else round(demand, 1),
                loadgen_bound=None if demand is None else demand > args.bound_threshold * 100,
                dropped=clients.dropped[0],
            )
            steps.append(step)
            emit({"event": "step", **step.as_dict()})
            if not step.passed(args.bound_ms) or step.loadgen_bound:
                break
    finally:
        clients.close()
        await asyncio.sleep(0.2)  # let the close frames go out before the process ends
    return steps, clients.handshake_errors


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("ramp", "fanout"), default="ramp")
    parser.add_argument("--url", required=True, help="ws:// URL of one chat room")
    parser.add_argument("--origin", help="Origin header (default: http:// and the URL's host)")
    parser.add_argument("--step", type=int, default=100, help="members added per step")
    parser.add_argument("--max-clients", type=int, default=5000)
    parser.add_argument("--broadcasts", type=int, default=20, help="broadcasts timed at each step")
    parser.add_argument("--bound-ms", type=float, default=250.0, help="broadcast p95 that ends the ramp")
    parser.add_argument("--deadline-s", type=float, default=180.0, help="the ramp never takes longer")
    parser.add_argument("--bound-threshold", type=float, default=0.8,
                        help="client demand (fraction of a core) that ends the ramp as load generator bound")
    fan = parser.add_argument_group("fanout: members of one room, one paced sender, a measured window")
    fan.add_argument("--members", type=int, default=20)
    fan.add_argument("--interval-s", type=float, default=0.05, help="between two messages of the sender")
    fan.add_argument("--warmup-s", type=float, default=1.0)
    fan.add_argument("--measure-s", type=float, default=8.0)
    fan.add_argument("--grace-s", type=float, default=2.0, help="after the window, for deliveries under way")
    fan.add_argument("--expect-server", help="a broadcast from another server is a failure")
    fan.add_argument("--name", default="ws_chat", help="the scenario's name, in failure kinds")
    args = parser.parse_args(argv)
    if args.origin is None:
        args.origin = f"http://{urlsplit(args.url).netloc}"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    clients = args.members if args.mode == "fanout" else args.max_clients
    try:
        raise_fd_limit(clients)
        check_ephemeral_ports(clients)
    except LimitError as error:
        print(f"wsload: {error}", file=sys.stderr)
        return 2
    if args.mode == "fanout":
        emit({"event": "done", **uvloop.run(fanout(args))})
        return 0
    steps, handshake_errors = uvloop.run(ramp(args))
    emit({"event": "done", "steps": [s.as_dict() for s in steps], "handshake_errors": handshake_errors,
          "stopped_because": why_stopped(steps, args.bound_ms, args.max_clients)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
