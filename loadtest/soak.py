"""Soak: a steady, modest load on every server at once for a long while, watching memory.

    python -m loadtest.soak --minutes 10 [--servers gunicorn,uvicorn] [--rate 20] [--target host]

Each server gets --rate requests per second (paced, not as fast as it can) from --users users, in
parallel, cycling through a mix that touches everything that could leak: plain responses,
JSON, the ORM and the connection pool, templates, row updates, sync and async waits, an async
stream, and on ASGI servers WebSocket echo and chat sessions (connect, talk, close).
Every --sample-every seconds the total RSS (and PSS, which does not count pages the workers share
with their master twice) of each server's process tree is sampled. The report gives, per server,
the least-squares slope in MB/min after --settle seconds (caches and pools fill up first) and over
the last half; a server whose memory keeps growing in both is flagged. Workers that were
replaced during the run (a restart hides a leak) are counted.

Output in reports/<UTC timestamp>-soak/: soak.json, soak.csv, soak.md and rss.png.
Ctrl-C ends the soak early and still writes the report.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import gevent
import locust  # noqa: F401  (first: it monkey-patches sockets for gevent)
from locust import FastHttpUser, constant_pacing, task
from locust.env import Environment

from loadtest import ws_client
from loadtest.envinfo import describe
from loadtest.server_cpu import CpuMeter, server_meter
from loadtest.soak_report import WS_ROUND_TRIPS, ServerSoak, sample_tree, write_report
from stack import servers as stack_servers

ROOT = Path(__file__).resolve().parent.parent
HTTP_PATHS = (
    "/plaintext",
    "/json",
    "/db",
    "/queries?queries=5",
    "/fortunes",
    "/updates?queries=2",
    "/wait/sync?ms=10",
    "/wait/async?ms=10",
    "/db/async",
    "/sse/async?events=3&interval_ms=10",
)


# ---- the load ------------------------------------------------------------------------------


class SoakUser(FastHttpUser):
    """One server's user: the HTTP mix in turn and, on ASGI servers, a WebSocket session every so often."""

    abstract = True
    server = ""
    websockets = False
    ws_every = 10  # every n-th step is a WebSocket session instead of a request

    def on_start(self):
        self.steps = itertools.count()
        self.paths = itertools.cycle(HTTP_PATHS)

    @task
    def step(self):
        number = next(self.steps)
        if self.websockets and number % self.ws_every == self.ws_every - 1:
            self.websocket_session(chat=number % (2 * self.ws_every) == 2 * self.ws_every - 1)
            return
        path = next(self.paths)
        name = f"{self.server} {path.split('?')[0]}"
        with self.client.get(path, name=name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
            elif response.headers.get("X-Served-By") != self.server:
                response.failure(f"X-Served-By {response.headers.get('X-Served-By')!r}")
            else:
                response.success()

    def websocket_session(self, chat: bool) -> None:
        """Connect, a few round trips (echo) or one broadcast to ourselves (chat), close."""
        events = self.environment.events
        path = f"/ws/chat/soak-{uuid.uuid4().hex[:8]}/" if chat else "/ws/echo/"
        name = f"{self.server} {'/ws/chat/' if chat else '/ws/echo/'}"
        ws = ws_client.connect(events, ws_client.to_ws_url(self.host, path), name)
        if ws is None:
            return
        try:
            for _ in range(1 if chat else WS_ROUND_TRIPS):
                started = time.perf_counter()
                message = json.dumps({"message": "soak", "sent_at": time.time(), "id": "soak"})
                ws.send(message)
                answer = ws_client.receive(ws)
                if not chat and answer != message.encode():
                    raise ValueError("echo differs from the message sent")
                if chat and json.loads(answer).get("type") != "chat":
                    raise ValueError(f"unexpected chat answer {answer[:80]!r}")
                ws_client.report(events, name, ws_client.elapsed_ms(started), len(answer))
        except Exception as error:  # every failure is counted, none stops the soak
            ws_client.report(events, name, 0, exception=error)
        finally:
            ws_client.close(ws)


def user_classes(servers: list[ServerSoak], users: int, rate: float, ws_every: int) -> list[type]:
    pacing = users / rate  # seconds per step for each user, so the server sees `rate` steps per second
    return [
        type(
            f"Soak{index}User",
            (SoakUser,),
            {
                "__module__": __name__,
                "abstract": False,
                "host": f"http://127.0.0.1:{server.port}",
                "server": server.name,
                "websockets": server.protocol == "asgi",
                "ws_every": ws_every,
                "fixed_count": users,
                "wait_time": constant_pacing(pacing),
            },
        )
        for index, server in enumerate(servers)
    ]


# ---- the run -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--servers", help="comma-separated servers.toml names (default: all)")
    parser.add_argument("--target", choices=("host", "containers"), default="host")
    parser.add_argument("--rate", type=float, default=20.0, help="steps per second per server")
    parser.add_argument("--users", type=int, default=4, help="concurrent users per server")
    parser.add_argument("--ws-every", type=int, default=10, help="ASGI: every n-th step is a WebSocket one")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds between memory samples")
    parser.add_argument("--settle", type=float, help="seconds left out of the slope (default: 10 %%, <= 60)")
    parser.add_argument("--threshold", type=float, default=1.0, help="MB/min of growth that flags a server")
    parser.add_argument("--out", type=Path, help="report directory (default: reports/<UTC timestamp>-soak)")
    parser.add_argument("--servers-file", type=Path, default=stack_servers.SERVERS_FILE)
    return parser.parse_args(argv)


def total_ok(servers: list[ServerSoak]) -> int:
    return sum(server.ok for server in servers)


def sample_all(servers: list[ServerSoak], meters: dict[str, CpuMeter | None], started: float) -> None:
    now = time.monotonic() - started
    for server in servers:
        meter = meters.get(server.name)
        if meter is None:
            continue
        try:
            pids = meter.pids()
        except OSError as error:
            server.error = f"could not list its processes: {error}"
            continue
        server.record_pids(pids)
        server.samples.append(sample_tree(pids, now, server.ok))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    topology = stack_servers.load(args.servers_file)
    chosen = [topology[name] for name in args.servers.split(",")] if args.servers else list(topology.servers)
    duration_s = args.minutes * 60
    settle_s = args.settle if args.settle is not None else min(60.0, duration_s / 10)
    out = args.out or ROOT / "reports" / (datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + "-soak")
    out.mkdir(parents=True, exist_ok=True)

    servers = [ServerSoak(s.name, s.protocol, s.port) for s in chosen]
    by_name = {server.name: server for server in servers}
    meters: dict[str, CpuMeter | None] = {}
    for server in servers:
        try:
            meters[server.name] = server_meter(server.name, args.target)
        except (LookupError, OSError, ValueError) as error:
            meters[server.name] = None
            server.error = f"no process tree to sample: {error}"
            print(f"note: {server.name}: {server.error}", file=sys.stderr)

    def on_request(name, response_time, exception=None, **_):
        server = by_name.get(name.split(" ", 1)[0])
        if server is None:
            return
        if exception is not None:
            kind = f"{name}: {exception}"[:160]
            server.failures[kind] = server.failures.get(kind, 0) + 1
        else:
            server.ok += 1
            server.latencies.add(response_time)

    env = Environment(user_classes=user_classes(servers, args.users, args.rate, args.ws_every))
    env.events.request.add_listener(on_request)
    runner = env.create_local_runner()
    started = time.monotonic()
    meta = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": args.target,
        "minutes": args.minutes,
        "rate_per_server": args.rate,
        "users_per_server": args.users,
        "ws_every": args.ws_every,
        "sample_every_s": args.sample_every,
        "settle_s": settle_s,
        "threshold_mb_per_min": args.threshold,
        "paths": list(HTTP_PATHS),
        "interrupted": False,
    }
    print(f"soak: {len(servers)} servers x {args.rate:g} steps/s for {args.minutes:g} min; report in {out}",
          file=sys.stderr)
    try:
        sample_all(servers, meters, started)
        runner.start(args.users * len(servers), spawn_rate=max(10, args.users * len(servers)))
        next_sample = started + args.sample_every
        next_line = started + 30
        while (now := time.monotonic()) < started + duration_s:
            gevent.sleep(max(0.0, min(next_sample, started + duration_s) - now))
            if time.monotonic() >= next_sample:
                sample_all(servers, meters, started)
                next_sample += args.sample_every
            if time.monotonic() >= next_line:
                next_line += 30
                memory = ", ".join(f"{s.name} {s.samples[-1].rss_mb:.0f}" for s in servers if s.samples)
                elapsed = (time.monotonic() - started) / 60
                line = f"  {elapsed:4.1f} min  {total_ok(servers):,} ok  RSS MB: {memory}"
                print(line, file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        meta["interrupted"] = True
        print("\ninterrupted: reporting what was sampled", file=sys.stderr)
    finally:
        runner.quit()
    sample_all(servers, meters, started)
    meta["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    meta["duration_s"] = round(time.monotonic() - started, 1)
    write_report(out, meta, describe(), servers, settle_s, args.threshold)
    print(f"report: {out / 'soak.md'}", file=sys.stderr)
    return 130 if meta["interrupted"] else 0


if __name__ == "__main__":
    sys.exit(main())
