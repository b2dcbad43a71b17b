"""CPU time of a process tree read from /proc, for servers whose workers are child processes.

The total used by a tree is, over every live member, its own utime+stime plus cutime+cstime
(what its children that already exited and were reaped used). Taking that sum before and after
a window counts workers that were restarted mid-window exactly once: their time moves from
their own counters into their parent's "children" counters when they are reaped.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    # The command name is in parentheses and may itself contain spaces or ')'.
    text = (PROC / str(pid) / "stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def parent_and_ticks(pid: int) -> tuple[int, int]:
    """(parent pid, own + reaped children's CPU ticks) of one process."""
    fields = _stat_fields(pid)
    # After the command: state ppid ... utime(11) stime(12) cutime(13) cstime(14).
    return int(fields[1]), sum(int(value) for value in fields[11:15])


def process_tree(root: int) -> list[int]:
    """The root and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry.name))[1])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue  # exited while we were listing
        children.setdefault(parent, []).append(int(entry.name))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, ()))
    return tree


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by the process tree under root, including reaped children."""
    ticks = 0
    for pid in process_tree(root):
        try:
            ticks += parent_and_ticks(pid)[1]
        except (FileNotFoundError, ProcessLookupError):
            continue  # a worker that exits now is counted in its parent's cutime next time
    return ticks / CLOCK_TICKS


def allowed_cpus(pid: int) -> set[int]:
    """CPUs the process may run on, to check that servers and load generator are apart."""
    return os.sched_getaffinity(pid)


def process_environ(pid: int) -> dict[str, str]:
    """The environment a process started with (empty if it cannot be read)."""
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}
