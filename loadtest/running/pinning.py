"""Fair CPU budgets: the whole server side on --server-cpus, the load generator on --loadgen-cpus.

A load generator that shares a core with the servers measures itself, and servers that share
cores with nginx, PostgreSQL and each other get whatever the scheduler leaves them. So the bench
pins, for its own duration only:

- host: every thread of every process of the host run (supervisord's process tree: the app
  servers and their workers, nginx, PostgreSQL, Redis, supervisord itself). A process forked
  later (a respawned worker, a PostgreSQL backend) inherits its parent's pinned affinity.
- containers: every container of the stack's Compose project, with `docker update --cpuset-cpus`.

and restores what was there before at the end, Ctrl-C included. If a bench was killed before it
could restore (SIGKILL, a crash of the machine's power), `python -m loadtest.running.pinning --unpin`
puts the host run back on every online CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.measuring.processes import process_tree
from stack.supervisor import Supervisor

PIN_PASSES = 5  # a process forked while pinning is caught by the next pass


def parse_cpus(text: str) -> set[int]:
    """'0,2-3' -> {0, 2, 3}"""
    cpus: set[int] = set()
    for part in filter(None, text.strip().split(",")):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def format_cpus(cpus: set[int]) -> str:
    """{0, 2, 3} -> '0,2-3' (docker's and taskset's list syntax)."""
    runs: list[list[int]] = []
    for cpu in sorted(cpus):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(low) if low == high else f"{low}-{high}" for low, high in runs)


def online_cpus() -> set[int]:
    try:
        return parse_cpus(Path("/sys/devices/system/cpu/online").read_text())
    except OSError:
        return set(range(os.cpu_count() or 1))


def choose_cpus(loadgen: str, server: str | None, available: set[int]) -> tuple[set[int], set[int]]:
    """(load generator CPUs, server CPUs): the server default is every available CPU but the generator's.

    ValueError when the two overlap, or name a CPU this process may not use.
    """
    loadgen_cpus = parse_cpus(loadgen)
    server_cpus = parse_cpus(server) if server else available - loadgen_cpus
    if not loadgen_cpus or not server_cpus:
        raise ValueError(f"need CPUs for both sides: load generator {sorted(loadgen_cpus)}, "
                         f"servers {sorted(server_cpus)} (available: {sorted(available)})")
    if loadgen_cpus & server_cpus:
        raise ValueError(f"load generator CPUs {sorted(loadgen_cpus)} and server CPUs "
                         f"{sorted(server_cpus)} overlap")
    unknown = (loadgen_cpus | server_cpus) - available
    if unknown:
        raise ValueError(f"CPUs {sorted(unknown)} are not available here (available: {sorted(available)})")
    return loadgen_cpus, server_cpus


def task_ids(pid: int) -> list[int]:
    """Every thread of a process (empty if it is gone)."""
    try:
        return [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def pin_self(cpus: set[int]) -> str:
    """Pin every thread of this process (and so its children, like wrk, to come) to cpus."""
    for tid in task_ids(os.getpid()):
        os.sched_setaffinity(tid, cpus)
    return f"load generator (Locust, wrk) pinned to CPUs {format_cpus(cpus)}"


@dataclass
class HostPinning:
    """Every thread in the process tree under root_pid (supervisord) on cpus, restorable."""

    root_pid: int
    cpus: set[int]
    original: dict[int, set[int]] = field(default_factory=dict)  # tid -> affinity before
    failed: dict[int, str] = field(default_factory=dict)  # tid -> why it could not be pinned
    restored: bool = False
    root_original: set[int] = field(default_factory=online_cpus)  # what a thread born meanwhile gets back

    def apply(self) -> str:
        self.root_original = os.sched_getaffinity(self.root_pid)
        for _ in range(PIN_PASSES):
            fresh = 0
            for pid in process_tree(self.root_pid):  # parents before children: new forks inherit
                for tid in task_ids(pid):
                    if tid in self.original or tid in self.failed:
                        continue
                    try:
                        before = os.sched_getaffinity(tid)
                        os.sched_setaffinity(tid, self.cpus)
                    except ProcessLookupError:
                        continue  # exited meanwhile
                    except OSError as error:
                        self.failed[tid] = f"{type(error).__name__}: {error}"
                        continue
                    self.original[tid] = before
                    fresh += 1
            if not fresh:
                break
        return self.describe()

    def describe(self) -> str:
        processes = len(process_tree(self.root_pid))
        text = (f"server side (supervisord pid {self.root_pid} and its {processes - 1} descendant processes, "
                f"{len(self.original)} threads) pinned to CPUs {format_cpus(self.cpus)}")
        before = {format_cpus(cpus) for cpus in self.original.values()}
        if before and before != {format_cpus(online_cpus())}:
            text += (f"; before the bench they had CPUs {', '.join(sorted(before))} (left pinned by a killed "
                     "bench? `python -m loadtest.running.pinning --unpin`)")
        if self.failed:
            text += f"; {len(self.failed)} threads could not be pinned ({next(iter(self.failed.values()))})"
        return text

    def restore(self) -> str:
        """Each thread back to its own affinity; one forked during the bench to supervisord's."""
        self.restored = True
        restored = 0
        for pid in process_tree(self.root_pid):
            for tid in task_ids(pid):
                try:
                    os.sched_setaffinity(tid, self.original.get(tid, self.root_original))
                    restored += 1
                except OSError:
                    continue
        return f"server side affinity restored ({restored} threads)"


def unpin_host(root_pid: int, cpus: set[int] | None = None) -> int:
    """Every thread under root_pid on cpus (default: every online CPU); the number of threads set."""
    cpus = cpus or online_cpus()
    count = 0
    for pid in process_tree(root_pid):
        for tid in task_ids(pid):
            try:
                os.sched_setaffinity(tid, cpus)
                count += 1
            except OSError:
                continue
    return count


def host_root_pid(run_dir: Path) -> int:
    """supervisord's pid in the host run at run_dir; LookupError when it is not running."""
    return Supervisor(run_dir).pid()


def _docker(*args: str) -> str:
    try:
        done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", None) or error
        raise LookupError(f"docker {args[0]}: {str(detail).strip()}") from None
    return done.stdout.strip()


@dataclass
class ContainerPinning:
    """Every running container of the Compose project that runs `server` on cpus, restorable."""

    server: str  # a compose service of the stack, to find its project
    cpus: set[int]
    original: dict[str, str] = field(default_factory=dict)  # container id -> CpusetCpus before
    restored: bool = False

    def containers(self) -> tuple[str, list[str]]:
        ids = _docker("ps", "-q", "--filter", f"label=com.docker.compose.service={self.server}").split()
        if len(ids) != 1:
            raise LookupError(f"expected one running container for service {self.server!r}, found {len(ids)}")
        project = _docker("inspect", "-f", '{{index .Config.Labels "com.docker.compose.project"}}', ids[0])
        members = _docker("ps", "-q", "--filter", f"label=com.docker.compose.project={project}").split()
        return project, members

    def apply(self) -> str:
        project, members = self.containers()
        for container in members:
            inspected = json.loads(_docker("inspect", container))[0]
            self.original[container] = inspected["HostConfig"].get("CpusetCpus") or ""
        _docker("update", "--cpuset-cpus", format_cpus(self.cpus), *members)
        return (f"server side (the {len(members)} containers of Compose project {project}) pinned to "
                f"CPUs {format_cpus(self.cpus)} with docker update --cpuset-cpus")

    def restore(self) -> str:
        self.restored = True
        # `--cpuset-cpus ""` changes nothing in docker update: no cpuset is every online CPU.
        everything = format_cpus(online_cpus())
        by_value: dict[str, list[str]] = {}
        for container, cpuset in self.original.items():
            by_value.setdefault(cpuset or everything, []).append(container)
        problems = []
        for cpuset, containers in by_value.items():
            try:
                _docker("update", "--cpuset-cpus", cpuset, *containers)
            except LookupError as error:
                problems.append(str(error))
        note = f"container cpusets restored ({len(self.original)} containers)"
        return note + (f"; failed: {'; '.join(problems)}" if problems else "")


def server_side(target: str, chosen, cpus: set[int], notes: list[str], run_dir: Path):
    """HostPinning or ContainerPinning, not yet applied; None (with a note) when there is no stack."""
    if target == "containers":
        return ContainerPinning(chosen[0].name, cpus)
    try:
        return HostPinning(host_root_pid(run_dir), cpus)
    except LookupError as error:
        notes.append(f"server side NOT pinned: {error}")
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description="Unpin a host run a killed bench left pinned.")
    parser.add_argument("--unpin", action="store_true", required=True)
    parser.add_argument("--run-dir", type=Path, help="host run folder (default: LOCAL_RUN_DIR or .run)")
    args = parser.parse_args()
    if args.run_dir is None:
        # Here only: the rest of running/ takes the folder from its caller (tests/loadtest/test_layout.py).
        from stack import local

        args.run_dir = local.run_place().folder
    count = unpin_host(host_root_pid(args.run_dir))
    print(f"{count} threads of the host run in {args.run_dir} on CPUs {format_cpus(online_cpus())}")


if __name__ == "__main__":
    main()
