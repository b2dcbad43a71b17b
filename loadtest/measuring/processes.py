"""Process trees and their CPU time (psutil), for servers whose workers are child processes.

The total used by a tree is, over every live member, its own user+system time plus its reaped
children's (what its children that already exited used). Taking that sum before and after a
window counts workers that were restarted mid-window exactly once: their time moves from their
own counters into their parent's "children" counters when they are reaped.
"""

from __future__ import annotations

import psutil


def process_tree(root: int) -> list[int]:
    """The root and all its live descendants; empty when the root is gone."""
    try:
        process = psutil.Process(root)
        return [root] + [child.pid for child in process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by the process tree under root, including reaped children."""
    total = 0.0
    for pid in process_tree(root):
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue  # a worker that exits now is counted in its parent's children times next time
        total += times.user + times.system + times.children_user + times.children_system
    return total


def process_environ(pid: int) -> dict[str, str]:
    """The environment a process started with (empty if it cannot be read)."""
    try:
        return psutil.Process(pid).environ()
    except psutil.Error:
        return {}
