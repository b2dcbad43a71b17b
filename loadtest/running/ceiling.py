"""The load clients' own ceilings: each one's ramp against a reference server with no Django.

The reference servers (loadtest/reference/) run on the server CPUs, the clients on the load
generator's, as in every capacity cell; what a ramp reaches there is the most its client can
measure on this machine, and the report prints it beside each server's figure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from loadtest.drivers import capacity, http_ramp
from loadtest.running.pinning import format_cpus
from loadtest.scenarios.profiles import Profile

START_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def reference_server(module: str, server_cpus: set[int]) -> Iterator[int]:
    """A reference server (python -m module --port N) on the server CPUs, for the block: its port."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", module, "--port", str(port)], stdout=subprocess.PIPE,
                              text=True)
    try:
        os.sched_setaffinity(server.pid, server_cpus)
        if not server.stdout.readline().startswith("listening"):
            raise RuntimeError(f"the reference server {module} did not start (exit {server.poll()})")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=START_TIMEOUT_S)


def measure(profile: Profile, bound_threshold: float, server_cpus: set[int], log: Path,
            on_step: Callable[[capacity.Step], None]) -> dict:
    """The WebSocket capacity client's ramp against the reference broadcast server."""
    with reference_server("loadtest.reference.broadcast_server", server_cpus) as port:
        steps, done, usage = capacity.run_client(f"ws://127.0.0.1:{port}/", profile, bound_threshold, log,
                                                 on_step)
    return {
        "clients_held": capacity.clients_held(steps, profile.capacity_bound_ms),
        "held": capacity.held_text(steps, profile.capacity_bound_ms),
        "bound_ms": profile.capacity_bound_ms,
        "max_clients": profile.capacity_max_clients,
        "stopped_because": done["stopped_because"],
        "server_cpus": format_cpus(server_cpus),
        "loadgen_demand_pct": usage.demand_pct,
        "steps": [s.as_dict() for s in steps],
    }


def measure_http(profile: Profile, slo_ms: float, path: str, server_cpus: set[int], log: Path,
                 on_step: Callable[[http_ramp.Step], None]) -> dict:
    """The open-loop HTTP client's ramp against the reference HTTP server.

    Its own demand does not end this ramp, as a server's does: against a server that costs next to
    nothing the client is the busy side by design, and how far it gets before the p99 passes the
    SLO is exactly its ceiling."""
    ramp = profile.http_ramp
    with reference_server("loadtest.reference.http_server", server_cpus) as port:
        command = http_ramp.client_command(f"http://127.0.0.1:{port}{path}", ramp, slo_ms, float("inf"),
                                           "reference")
        steps, done, usage = http_ramp.run_client(command, log, on_step, ramp.deadline_s)
    return {
        "sustained_rps": done["sustained_rps"],
        "at_maximum": done["sustained_rps"] >= ramp.max_rps,
        "slo_ms": slo_ms,
        "max_rps": ramp.max_rps,
        "stopped_because": done["stopped_because"],
        "server_cpus": format_cpus(server_cpus),
        "loadgen_demand_pct": usage.demand_pct,
        "steps": [s.as_dict() for s in steps],
    }
