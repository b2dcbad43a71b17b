"""What each side of a bench may use (CPUs, server processes, users), stated in the report, and
the warning when a server could run on the load generator's CPUs."""

from __future__ import annotations

import os

from loadtest.measuring.processes import process_environ
from loadtest.measuring.server_cpu import CpuMeter
from loadtest.running import pinning


def budgets(chosen, meters: dict[str, CpuMeter | None], loadgen_cpus: set[int], server_cpus: set[int],
            profile) -> dict:
    """What each side may use: CPUs, server processes, users. The report states them."""
    concurrency, processes = {}, {}
    for server in chosen:
        meter = meters.get(server.name)
        if meter is None:
            continue
        concurrency[server.name] = process_environ(meter.root_pid).get("WEB_CONCURRENCY")
        try:
            processes[server.name] = len(meter.pids())
        except OSError:
            processes[server.name] = None
    return {
        "server_cpus": pinning.format_cpus(server_cpus),
        "loadgen_cpus": pinning.format_cpus(loadgen_cpus),
        "web_concurrency": concurrency,
        "server_processes": processes,
        "users": {"http": profile.http_users, "ws": profile.ws_users, "chat_members": profile.chat_members},
    }


def server_affinity_note(name: str, meter: CpuMeter, loadgen_cpus: set[int]) -> str | None:
    """A warning when a server process may run on the load generator's CPUs."""
    try:
        shared = {cpu for pid in meter.pids() for cpu in os.sched_getaffinity(pid)} & loadgen_cpus
    except OSError:
        return None
    if shared:
        return f"{name} may run on the load generator's CPUs {sorted(shared)}: results are not isolated"
    return None
