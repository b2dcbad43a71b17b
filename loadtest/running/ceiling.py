"""The capacity client's own ceiling: the same ramp against a broadcast server with no Django.

The reference server (loadtest/reference/broadcast_server.py) runs on the server CPUs, the client
on the load generator's, as in every capacity cell; what the ramp reaches there is the most this
client can measure on this machine, and the report prints it beside each server's figure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from loadtest.drivers import capacity
from loadtest.running.pinning import format_cpus
from loadtest.scenarios.profiles import Profile

START_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure(profile: Profile, bound_threshold: float, server_cpus: set[int], log: Path,
            on_step: Callable[[capacity.Step], None]) -> dict:
    port = _free_port()
    command = [sys.executable, "-m", "loadtest.reference.broadcast_server", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        os.sched_setaffinity(server.pid, server_cpus)
        if not server.stdout.readline().startswith("listening"):
            raise RuntimeError(f"the reference broadcast server did not start (exit {server.poll()})")
        url = f"ws://127.0.0.1:{port}/"
        steps, done, usage = capacity.run_client(url, profile, bound_threshold, log, on_step)
    finally:
        server.terminate()
        server.wait(timeout=START_TIMEOUT_S)
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
