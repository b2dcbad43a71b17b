"""CPU seconds used by one server under test, for either way the stack runs.

host: supervisord runs each server as a program named after its servers.toml key; its pid is
the server's master and the workers are its descendants (measuring.processes sums the tree).
containers: each server is a compose service; the kernel already sums every process of the
container in its cgroup's CPU counter, so that counter is read instead.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from loadtest.measuring.processes import process_tree, tree_cpu_seconds
from stack.supervisor import Supervisor

CGROUP_ROOT = Path("/sys/fs/cgroup")


class CpuMeter(Protocol):
    """Something whose CPU seconds can be read twice around a measured window."""

    description: str
    root_pid: int  # the server's master (host) or its container's first process

    def cpu_seconds(self) -> float: ...

    def pids(self) -> list[int]: ...


class ProcessTreeMeter:
    def __init__(self, root_pid: int, description: str):
        self.root_pid = root_pid
        self.description = description

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.root_pid)

    def pids(self) -> list[int]:
        return process_tree(self.root_pid)


class CgroupMeter:
    """cgroup v2 cpu.stat usage_usec, or cgroup v1 cpuacct.usage (ns)."""

    def __init__(self, counter: Path, root_pid: int, description: str):
        self.counter = counter
        self.root_pid = root_pid
        self.description = description

    def cpu_seconds(self) -> float:
        text = self.counter.read_text()
        if self.counter.name == "cpu.stat":
            usage = dict(line.split() for line in text.splitlines())
            return int(usage["usage_usec"]) / 1e6
        return int(text) / 1e9

    def pids(self) -> list[int]:
        return process_tree(self.root_pid)


def _run(*command: str) -> str:
    """stdout of command; LookupError (what callers handle) when it cannot run or fails."""
    try:
        done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stdout", None) or getattr(error, "stderr", None) or error
        raise LookupError(f"{command[0]} {command[-1]}: {str(detail).strip()}") from error
    return done.stdout.strip()


def supervisor_meter(name: str, run: Path) -> ProcessTreeMeter:
    """The process tree of supervisord program `name` in the host run whose folder is run."""
    pid = Supervisor(run).program_pid(name)
    return ProcessTreeMeter(pid, f"process tree of supervisord program {name} (pid {pid})")


def cgroup_counter(pid: int) -> Path:
    """The CPU usage counter of the cgroup that holds pid."""
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    for line in lines:
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0" and controllers == "" and (CGROUP_ROOT / path.lstrip("/") / "cpu.stat").exists():
            return CGROUP_ROOT / path.lstrip("/") / "cpu.stat"
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "cpuacct" in controllers.split(","):
            for mount in ("cpuacct", "cpu,cpuacct"):
                counter = CGROUP_ROOT / mount / path.lstrip("/") / "cpuacct.usage"
                if counter.exists():
                    return counter
    raise LookupError(f"no CPU accounting cgroup found for pid {pid}")


def container_meter(name: str) -> CgroupMeter:
    """The cgroup of the compose service `name` (one container per server)."""
    ids = _run("docker", "ps", "-q", "--filter", f"label=com.docker.compose.service={name}").split()
    if len(ids) != 1:
        raise LookupError(f"expected one running container for service {name!r}, found {len(ids)}")
    pid = int(_run("docker", "inspect", "-f", "{{.State.Pid}}", ids[0]))
    return CgroupMeter(cgroup_counter(pid), pid, f"cgroup of container {ids[0][:12]} (service {name})")


def server_meter(name: str, target: str, run: Path) -> CpuMeter:
    """The CPU meter of server `name` where the stack runs as `target` (host, in the run folder run,
    or containers)."""
    return supervisor_meter(name, run) if target == "host" else container_meter(name)


def server_meters(target: str, chosen, notes: list[str], run: Path) -> dict[str, CpuMeter | None]:
    """Each chosen server's meter; None, with a note saying why, where it cannot be measured."""
    meters: dict[str, CpuMeter | None] = {}
    for server in chosen:
        try:
            meters[server.name] = server_meter(server.name, target, run)
        except (LookupError, OSError, ValueError, RuntimeError) as error:
            meters[server.name] = None
            notes.append(f"no CPU accounting for {server.name}: {error}".strip())
    return meters


def stack_measures(target: str, meters: dict[str, CpuMeter | None], root_pid: Callable[[], int],
                   run: Path) -> dict:
    """The host run's whole tree and log folder (in its run folder), when the servers under test are
    its programs."""
    if target != "host" or not any(meters.values()):
        return {}
    try:
        root = root_pid()
    except LookupError:
        return {}
    return {"stack_meter": ProcessTreeMeter(root, f"supervisord tree (pid {root})"), "log_dir": run / "logs"}
