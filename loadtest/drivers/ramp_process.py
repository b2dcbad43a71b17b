"""A ramp client run as its own process (the WebSocket capacity client, the open-loop HTTP
client): it prints one JSON event per line, a "step" after each rate or room size it tried and
"done" with its closing summary."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import TypeVar

from loadtest.measuring.demand import Usage, UsageMeter

StepT = TypeVar("StepT")


class StepRecord:
    """A ramp step (a dataclass) as the client prints it and results.json keeps it."""

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


def follow(command: list[str], name: str, log: Path, parse_step: Callable[[dict], StepT],
           on_step: Callable[[StepT], None], timeout_s: float) -> tuple[list[StepT], dict, Usage]:
    """Run the client to the end of its ramp: (its steps, its closing summary, its own usage over
    the ramp, read while it still exists). RuntimeError, naming the `name`d client, when it failed."""
    steps: list[StepT] = []
    done: dict = {}
    with open(log, "w") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            usage_meter = UsageMeter(process.pid)
            usage_meter.start()
            for line in process.stdout:
                event = json.loads(line)
                if event["event"] == "step":
                    steps.append(parse_step(event))
                    on_step(steps[-1])
                elif event["event"] == "done":
                    done = event
                    break
            usage = usage_meter.stop()  # before it is reaped: a zombie still has its counters
            code = process.wait(timeout=timeout_s)
        finally:
            process.kill()
    if code != 0 or not done:
        raise RuntimeError(f"the {name} client exited with {code}: {log.read_text().strip()[-400:]}")
    return steps, done, usage
