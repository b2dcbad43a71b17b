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
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import gevent
import locust  # noqa: F401  (first: it monkey-patches sockets for gevent)
from locust.env import Environment

from loadtest.drivers.soak_users import HTTP_PATHS, WS_ROUND_TRIPS, user_classes
from loadtest.measuring.envinfo import describe
from loadtest.measuring.memory import sample_tree
from loadtest.measuring.server_cpu import CpuMeter, server_meter
from loadtest.model.soak import ServerSoak
from loadtest.reporting.soak_report import write_report
from stack import local
from stack import servers as stack_servers

ROOT = Path(__file__).resolve().parent.parent
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
    return sum(server.recorder.ok for server in servers)


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
        server.samples.append(sample_tree(pids, now, server.recorder.ok))


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
    run_dir = local.run_place().folder
    for server in servers:
        try:
            meters[server.name] = server_meter(server.name, args.target, run_dir)
        except (LookupError, OSError, ValueError) as error:
            meters[server.name] = None
            server.error = f"no process tree to sample: {error}"
            print(f"note: {server.name}: {server.error}", file=sys.stderr)

    def on_request(name, **event):
        server = by_name.get(name.split(" ", 1)[0])
        if server is not None:
            server.recorder.on_request(name, **event)

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
        "ws_round_trips": WS_ROUND_TRIPS,
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
