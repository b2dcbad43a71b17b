"""A soak's record of one server while it runs: memory samples, its processes, its requests."""

from __future__ import annotations

from dataclasses import dataclass, field

from loadtest.measuring.memory import Sample
from loadtest.measuring.recorder import Recorder


@dataclass
class ServerSoak:
    name: str
    protocol: str
    port: int
    samples: list[Sample] = field(default_factory=list)
    pids_seen: set[int] = field(default_factory=set)
    replaced: int = 0  # processes of the tree that went away during the soak
    recorder: Recorder = field(default_factory=lambda: Recorder(samples=20_000))
    error: str | None = None

    def record_pids(self, pids: list[int]) -> None:
        current = set(pids)
        if self.pids_seen:
            self.replaced += len(self.pids_seen - current)
        self.pids_seen = current
