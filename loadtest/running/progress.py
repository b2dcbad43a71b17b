"""The live progress line: which cell, how far into it, and the current request rate.

On a terminal the line is rewritten in place; in a log (CI, redirected output) it is printed
every few seconds instead, so the log stays readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import gevent

from loadtest.model.results import CellResult
from loadtest.polling import poll_until

TICK_S = 0.5
LOG_EVERY_S = 5.0


class Progress:
    def __init__(self, total_cells: int, stream=sys.stderr):
        self.total = total_cells
        self.stream = stream
        self.live = stream.isatty()
        self.prefix = ""
        self.cell_started = time.monotonic()
        self._last_logged = 0.0

    def begin(self, index: int, scenario: str, server: str, run: int) -> None:
        self.prefix = f"[{index}/{self.total}] {scenario} @ {server} run {run}"
        self.cell_started = time.monotonic()
        self._last_logged = 0.0

    def show(self, phase: str, rate: float | None = None) -> None:
        elapsed = time.monotonic() - self.cell_started
        rate_text = f"  {rate:8.0f} rps" if rate is not None else ""
        line = f"{self.prefix}  {phase:<8} {elapsed:5.1f}s{rate_text}"
        if self.live:
            self.stream.write("\r\x1b[2K" + line)
            self.stream.flush()
        elif elapsed - self._last_logged >= LOG_EVERY_S:
            self._last_logged = elapsed
            print(line, file=self.stream, flush=True)

    def wait(self, seconds: float, phase: str, rate: Callable[[], float | None] = lambda: None) -> None:
        """Sleep (cooperatively: the users keep running) while refreshing the line."""
        def tick(seconds: float) -> None:
            gevent.sleep(seconds)
            self.show(phase, rate())

        poll_until(lambda: False, seconds, TICK_S, tick)

    def done(self, summary: str) -> None:
        if self.live:
            self.stream.write("\r\x1b[2K")
        print(f"{self.prefix}  {summary}", file=self.stream, flush=True)


def cell_summary(result: CellResult) -> str:
    """The cell's line in the live log."""
    if result.error:
        return f"ERROR {result.error}"

    def ms(value: float | None) -> str:
        return "–" if value is None else f"{value:.1f}"

    parts = []
    if "sustained_rps" in result.extra:
        parts.append(f"sustained rps {result.extra['held']}")
    elif "clients_held" in result.extra:
        parts.append(f"held {result.extra['clients_held']} clients")
    elif "answers" in result.extra:
        parts.append("; ".join(f"{answer} × {count}" for answer, count in result.extra["answers"].items()))
    else:
        parts.append(f"{result.rps:,.0f} rps")
    parts += [f"p50 {ms(result.p50_ms)}", f"p95 {ms(result.p95_ms)}", f"p99 {ms(result.p99_ms)} ms"]
    parts.append(f"fail {result.failures}")
    if "lost" in result.extra:
        parts.append(f"lost {result.extra['lost']}")
    if result.server_cpu_s is not None:
        parts.append(f"server {result.server_cpu_s:.2f} CPU s")
    if result.loadgen_demand_pct is None:
        parts.append("INVALID: load generator demand unknown")
    else:
        parts.append(f"loadgen {result.loadgen_cpu_pct:.0f}%/{result.loadgen_demand_pct:.0f}%")
    if result.loadgen_bound:
        parts.append("INVALID: load generator bound")
    return "  ".join(parts)
