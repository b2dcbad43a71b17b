"""The measured window of a cell: wall time, the server's CPU seconds and the load generator's
usage, read at its two edges; and the whole server side's CPU seconds and log growth when known."""

from __future__ import annotations

import time
from pathlib import Path

from loadtest.measuring.demand import Usage, UsageMeter
from loadtest.measuring.server_cpu import CpuMeter


class Window:
    """Read at open() and close(): wall time, the server's CPU seconds (meter), the load
    generator's usage (the process loadgen_pid), the whole server side's CPU seconds
    (stack_meter) and how many bytes the logs grew by."""

    def __init__(
        self,
        meter: CpuMeter | None,
        stack_meter: CpuMeter | None = None,
        logs: tuple[Path, ...] = (),
        loadgen_pid: int | str = "self",
    ):
        self.meter = meter
        self.usage = UsageMeter(loadgen_pid)
        self.stack_meter = stack_meter
        self.logs = logs
        self.stack_cpu_s: float | None = None
        self.log_bytes: int | None = None

    @staticmethod
    def _cpu(meter: CpuMeter | None) -> float | None:
        try:
            return meter.cpu_seconds() if meter else None
        except (OSError, ValueError, KeyError):
            return None  # the server went away; the cell reports no CPU rather than a wrong one

    def _log_size(self) -> int | None:
        try:
            return sum(log.stat().st_size for log in self.logs) if self.logs else None
        except OSError:
            return None

    def open(self) -> None:
        self.started = time.monotonic()
        self.cpu_before = self._cpu(self.meter)
        self.stack_before = self._cpu(self.stack_meter)
        self.logs_before = self._log_size()
        self.usage.start()

    def close(self) -> tuple[float, float | None, Usage]:
        usage = self.usage.stop()
        cpu_after = self._cpu(self.meter)
        stack_after = self._cpu(self.stack_meter)
        logs_after = self._log_size()
        used = _difference(self.cpu_before, cpu_after)
        self.stack_cpu_s = _difference(self.stack_before, stack_after)
        if self.logs_before is not None and logs_after is not None and logs_after >= self.logs_before:
            self.log_bytes = logs_after - self.logs_before  # a rotated log reads as unknown
        return time.monotonic() - self.started, used, usage


def _difference(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or after < before:
        return None
    return after - before
