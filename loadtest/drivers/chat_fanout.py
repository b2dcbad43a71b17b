"""The chat fan-out cell's load: drivers/wsload.py in fan-out mode, a process of its own.

The client says where its measured window begins and ends ({"event": "measure"} and
{"event": "measured"} on stdout); the caller's callbacks open and close the bench's window there,
and its own usage is read over that window, from outside, as wrk's is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from loadtest.measuring.demand import Usage, UsageMeter


def command(url: str, members: int, interval_s: float, warmup_s: float, measure_s: float, grace_s: float,
            expected_server: str | None, name: str) -> list[str]:
    line = [sys.executable, "-m", "loadtest.drivers.wsload", "--mode", "fanout", "--url", url,
            "--members", str(members), "--interval-s", str(interval_s), "--warmup-s", str(warmup_s),
            "--measure-s", str(measure_s), "--grace-s", str(grace_s), "--name", name]
    return line + (["--expect-server", expected_server] if expected_server else [])


def run(command_line: list[str], log: Path, on_measure: Callable[[], None],
        on_measured: Callable[[Usage], None], timeout_s: float) -> dict:
    """The client's closing summary; RuntimeError when it failed."""
    done: dict = {}
    with open(log, "w") as errors:
        process = subprocess.Popen(command_line, stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            meter = UsageMeter(process.pid)
            for line in process.stdout:
                event = json.loads(line)
                if event["event"] == "measure":
                    on_measure()
                    meter.start()
                elif event["event"] == "measured":
                    on_measured(meter.stop())
                elif event["event"] == "done":
                    done = event
                    break
            code = process.wait(timeout=timeout_s)
        finally:
            process.kill()
    if code != 0 or not done:
        raise RuntimeError(f"the fan-out client exited with {code}: {log.read_text().strip()[-400:]}")
    return done
