"""Connection capacity: how many WebSocket clients a server holds while still broadcasting fast.

The websocket-shootout method (hashrocket): add clients to one room in steps; after each step
time a series of broadcasts from one member to all of them; stop when a handshake fails, a
broadcast does not reach everyone, the broadcast p95 passes the bound (250 ms), or the load
client itself was saturated during the broadcasts. A broadcast's time is until its last member
received it, so it covers the whole fan-out.

The client is loadtest.drivers.wsload, a process of its own (compiled framing); this module holds
the rules of the ramp and starts the client, reading its steps as they come.

Other stacks publish members per server core. A ramp records the CPUs the server's processes
could run on while it ran (their affinity: the bench pins the whole server side, nginx, Redis
and PostgreSQL included) and how many processes it had, and states its figure per core too.
One process alone on the core is `WEB_CONCURRENCY=1 python -m stack up` before the bench.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loadtest.drivers import ramp_process
from loadtest.measuring.demand import Usage
from loadtest.measuring.server_cpu import CpuMeter
from loadtest.scenarios.profiles import Profile


@dataclass(frozen=True)
class Step(ramp_process.StepRecord):
    clients: int
    handshake_failures: int
    broadcasts: int
    lost: int  # deliveries still missing when a broadcast timed out
    p50_ms: float | None
    p95_ms: float | None
    # The client's demand (its thread on a CPU or waiting for one) while the broadcasts were in
    # flight, and whether that passed the threshold; None when the kernel does not say.
    loadgen_demand_pct: float | None = None
    loadgen_bound: bool | None = False
    dropped: int = 0  # members whose connection ended before the ramp did

    def passed(self, bound_ms: float) -> bool:
        return (
            self.handshake_failures == 0
            and self.lost == 0
            and self.p95_ms is not None
            and self.p95_ms <= bound_ms
        )


def clients_held(steps: list[Step], bound_ms: float) -> int:
    """The most clients of the last step that passed with the client unsaturated, from the first on."""
    held = 0
    for step in steps:
        if not step.passed(bound_ms) or step.loadgen_bound:
            break
        held = step.clients
    return held


def generator_bound(steps: list[Step]) -> bool:
    """The ramp ended because the client, not the server, was saturated."""
    return bool(steps) and steps[-1].loadgen_bound is True


def why_stopped(steps: list[Step], bound_ms: float, max_clients: int) -> str:
    """The reason the ramp ended, for the report."""
    if not steps:
        return "no step ran"
    last = steps[-1]
    if last.loadgen_bound:
        return (f"load generator bound at {last.clients} clients (its demand {last.loadgen_demand_pct:.0f} % "
                f"of a core during the broadcasts): the server held at least {clients_held(steps, bound_ms)}")
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


def held_text(steps: list[Step], bound_ms: float) -> str:
    """The figure as a reader should take it: a lower bound when the client was the limit."""
    held = clients_held(steps, bound_ms)
    return f"at least {held:,} (load generator bound)" if generator_bound(steps) else f"{held:,}"


def server_side(meter: CpuMeter) -> dict:
    """The CPUs a server's processes could run on (joined) and how many processes it had; empty
    when its processes cannot be read."""
    try:
        pids = meter.pids()
    except OSError:
        return {}
    cpus: set[int] = set()
    for pid in pids:
        try:
            cpus |= os.sched_getaffinity(pid)
        except OSError:
            continue  # gone since it was listed
    return {"server_cpus": len(cpus), "server_processes": len(pids)}


def per_core(held: int, server_cpus: int) -> float | None:
    """Members held per CPU of the server's: the figure comparable with other stacks."""
    return held / server_cpus if server_cpus else None


def client_command(url: str, profile: Profile, bound_threshold: float) -> list[str]:
    return [
        sys.executable, "-m", "loadtest.drivers.wsload", "--url", url,
        "--step", str(profile.capacity_step), "--max-clients", str(profile.capacity_max_clients),
        "--broadcasts", str(profile.capacity_broadcasts), "--bound-ms", str(profile.capacity_bound_ms),
        "--deadline-s", str(profile.capacity_deadline_s), "--bound-threshold", str(bound_threshold),
    ]


def run_client(url: str, profile: Profile, bound_threshold: float, log: Path,
               on_step: Callable[[Step], None]) -> tuple[list[Step], dict, Usage]:
    """Run the client to the end of its ramp (ramp_process.follow); its usage is read as wrk's is."""
    return ramp_process.follow(client_command(url, profile, bound_threshold), "capacity", log,
                               Step.from_dict, on_step, timeout_s=30)
