"""wrk as a second load generator for plaintext: if it gets far more out of a server than Locust,
the Locust number for that server is the load generator's limit, not the server's.

A Lua done() hook prints exact p50/p95/p99 (wrk's --latency table has no p95).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SUMMARY_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d %d\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    socket_errors: int
    status_errors: int  # non-2xx/3xx responses
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        """Successful requests per second."""
        return (self.requests - self.status_errors) / self.duration_s


def available() -> bool:
    return shutil.which("wrk") is not None


def parse(output: str) -> WrkResult:
    """The BENCH line our done() hook printed (times in microseconds)."""
    for line in output.splitlines():
        if line.startswith("BENCH "):
            requests, duration_us, socket_errors, status_errors, p50, p95, p99 = map(int, line.split()[1:])
            return WrkResult(
                requests, duration_us / 1e6, socket_errors, status_errors, p50 / 1e3, p95 / 1e3, p99 / 1e3
            )
    raise ValueError(f"no BENCH summary in wrk output:\n{output}")


def command(url: str, connections: int, threads: int, seconds: float, script: Path) -> list[str]:
    threads = max(1, min(threads, connections))
    return ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", str(script), url]


def script_file(directory: Path) -> Path:
    """The done() hook, written next to the results it produced."""
    path = directory / "wrk_summary.lua"
    path.write_text(SUMMARY_SCRIPT)
    return path


def start(url: str, connections: int, threads: int, seconds: float, script: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command(url, connections, threads, seconds, script),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
