"""Memory of a server's process tree: RSS, and PSS, which counts pages the workers share once."""

from __future__ import annotations

from dataclasses import dataclass

import psutil

MB = 1024 * 1024


def process_memory(pid: int) -> tuple[int, int] | None:
    """(RSS, PSS) bytes of one process; None when it is gone. PSS falls back to RSS where the
    kernel does not let us read it (another user's process)."""
    try:
        process = psutil.Process(pid)
        try:
            full = process.memory_full_info()
            return full.rss, full.pss
        except psutil.AccessDenied:
            rss = process.memory_info().rss
            return rss, rss
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None


@dataclass
class Sample:
    t_s: float  # since the soak started
    rss_mb: float
    pss_mb: float
    processes: int
    requests: int  # successful so far


def sample_tree(pids: list[int], t_s: float, requests: int) -> Sample:
    rss = pss = count = 0
    for pid in pids:
        memory = process_memory(pid)
        if memory is None:
            continue
        rss, pss, count = rss + memory[0], pss + memory[1], count + 1
    return Sample(round(t_s, 2), round(rss / MB, 2), round(pss / MB, 2), count, requests)
