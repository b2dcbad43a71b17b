"""Counts and samples Locust request events: successes with their latency, failures by kind."""

from __future__ import annotations

from collections import Counter

from loadtest.measuring.percentiles import Reservoir

FAILURE_TEXT_LIMIT = 160  # a failure's kind is its text, cut so one odd answer cannot flood the tables


class Recorder:
    """A Locust request listener. metric: the request name whose successes count (None: every
    name; a WebSocket cell's handshakes fail visibly but are not its round trips)."""

    def __init__(self, metric: str | None = None, recording: bool = True, samples: int = 100_000):
        self.metric = metric
        self.recording = recording
        self.samples = Reservoir(samples)
        self.ok = 0
        self.failures: Counter[str] = Counter()

    def on_request(self, name, response_time, exception=None, **_):
        if not self.recording:
            return
        if exception is not None:
            self.failures[f"{name}: {exception}"[:FAILURE_TEXT_LIMIT]] += 1
        elif self.metric is None or name == self.metric:
            self.ok += 1
            self.samples.add(response_time)
