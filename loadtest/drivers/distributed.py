"""Locust's own distributed mode for the bench's HTTP cells: the bench is the master, and worker
processes (started by it, or `python -m loadtest.worker` on other machines) generate the load.

Locust ships each worker's request stats to the master, but the bench counts with its Recorder
(exact latency samples, failures by kind) and measures the load generator's CPU use and demand,
which Locust does not. So every cell is bracketed by messages: `cell` names the server the answers
must come from, `record` opens each worker's measured window and `stop_recording` closes it,
and each worker answers `recorded` with what it counted and its own CPU use and run-queue wait.
The cell's totals are the workers' sums; its demand is that of the busiest thread of any of its
processes, so one lagging worker marks the cell like a starved single process does.

Importing this module imports Locust (gevent's monkey-patching).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import gevent
from locust import User
from locust.env import Environment

from loadtest.drivers.users import user_class
from loadtest.measuring.demand import Usage, UsageMeter
from loadtest.measuring.recorder import Recorder
from loadtest.polling import poll_until
from loadtest.scenarios.catalog import SCENARIOS

DEFAULT_PORT = 5557  # Locust's own default master port
CONNECT_TIMEOUT_S = 60.0
REPORT_TIMEOUT_S = 30.0
ROOT = Path(__file__).resolve().parents[2]


def user_classes() -> dict[str, type[User]]:
    """One class per distributable scenario, named as in a local cell: master and workers agree
    on the names, and a `cell` message sets the server each one checks for."""
    classes = (user_class(scenario) for scenario in SCENARIOS if scenario.kind_of.distributable)
    return {cls.__name__: cls for cls in classes}


@dataclass(frozen=True)
class WorkerReport:
    """What one worker counted in its measured window."""

    worker: int
    requests: int
    failures: dict[str, int]
    samples: list[float]
    usage: Usage

    def as_dict(self) -> dict:
        rounded = {name: None if value is None else round(value, 1) for name, value in
                   (("loadgen_cpu_pct", self.usage.cpu_pct), ("loadgen_demand_pct", self.usage.demand_pct))}
        return {"worker": self.worker, "requests": self.requests, "failures": sum(self.failures.values()),
                **rounded}


class Master:
    """The bench's side: a Locust MasterRunner for the whole bench, local workers it started,
    and the workers' reports per cell."""

    def __init__(self, local_workers: int, remote_workers: int = 0, bind_host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT, log_dir: Path | None = None):
        self.expected = local_workers + remote_workers
        if self.expected < 1:
            raise ValueError("a distributed bench needs at least one worker")
        self.classes = user_classes()
        self.env = Environment(user_classes=list(self.classes.values()))
        self.runner = self.env.create_master_runner(bind_host, port)
        self.runner.register_message("recorded", self._on_recorded)
        self.runner.register_message("recording", self._on_recording)
        self.reports: dict[str, WorkerReport] = {}
        self.recording: set[str] = set()
        self.processes: list[subprocess.Popen] = []
        self.logs = []
        connect_to = "127.0.0.1" if bind_host in ("0.0.0.0", "") else bind_host  # noqa: S104
        for index in range(local_workers):
            # Started after the bench pinned itself, so the workers inherit the load generator's CPUs.
            log = open(log_dir / f"locust-worker-{index}.log", "w") if log_dir else subprocess.DEVNULL  # noqa: SIM115
            self.logs.append(log)
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "loadtest.worker", "--master", connect_to, "--master-port", str(port)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        try:
            self.wait_ready(CONNECT_TIMEOUT_S, "to connect")
        except RuntimeError:
            self.close()
            raise

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def wait_ready(self, timeout_s: float, what: str) -> None:
        def ready() -> bool:
            exited = [p.args for p in self.processes if p.poll() is not None]
            if exited:
                raise RuntimeError(f"a Locust worker exited: {exited[0]} (see raw/locust-worker-*.log)")
            return len(self.runner.clients.ready) >= self.expected

        if not poll_until(ready, timeout_s, 0.1, gevent.sleep):
            raise RuntimeError(f"{len(self.runner.clients.ready)} of {self.expected} Locust workers "
                               f"ready after {timeout_s:.0f} s waiting for them {what}")

    def start(self, scenario_name: str, server: str, base_url: str, users: int, spawn_rate: float) -> None:
        self.wait_ready(REPORT_TIMEOUT_S, "to finish the previous cell")
        cls = next(c for c in self.classes.values() if c.request_name == scenario_name)
        self.runner.send_message("cell", {"class": cls.__name__, "server": server})
        self.env.host = base_url
        self.runner.start(users, spawn_rate, user_classes=[cls])

    def record(self, metric: str) -> None:
        """Open every worker's window; Locust's own stats restart once each worker has sent what it
        counted before (its raw CSVs then cover the same window as the Recorders)."""
        self.reports.clear()
        self.recording.clear()
        self.runner.send_message("record", {"metric": metric})
        self._wait_for(self.recording, "opened their window")
        self.env.stats.reset_all()

    def stop_recording(self) -> None:
        self.runner.send_message("stop_recording")

    def collect(self) -> list[WorkerReport]:
        """Every worker's report of the window just closed; a worker that does not answer fails the cell."""
        self._wait_for(self.reports, "reported their window")
        return sorted(self.reports.values(), key=lambda report: report.worker)

    def _wait_for(self, answered, what: str) -> None:
        if not poll_until(lambda: len(answered) >= self.expected, REPORT_TIMEOUT_S, 0.01, gevent.sleep):
            raise RuntimeError(f"{len(answered)} of {self.expected} Locust workers {what} "
                               f"within {REPORT_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        self.runner.stop()

    def _on_recording(self, environment, msg, **_) -> None:
        self.recording.add(msg.node_id)

    def _on_recorded(self, environment, msg, **_) -> None:
        data = msg.data
        self.reports[msg.node_id] = WorkerReport(
            worker=data["worker"], requests=data["requests"], failures=data["failures"],
            samples=data["samples"], usage=Usage(data["cpu_pct"], data["demand_pct"]))

    def close(self) -> None:
        self.runner.quit()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self.logs:
            if log is not subprocess.DEVNULL:
                log.close()


def serve(master_host: str, master_port: int = DEFAULT_PORT) -> None:
    """A worker: connect to the master and generate load until it says quit."""
    classes = user_classes()
    env = Environment(user_classes=list(classes.values()))
    runner = env.create_worker_runner(master_host, master_port)
    state = {"recorder": Recorder(recording=False), "meter": UsageMeter()}
    env.events.request.add_listener(lambda **event: state["recorder"].on_request(**event))

    def on_cell(environment, msg, **_):
        classes[msg.data["class"]].expected_server = msg.data["server"]

    # Locust's own stats report, sent at the window's edges rather than at its next 3 s tick, so
    # the master's stats hold exactly the window (the master's messages arrive in order).
    def on_record(environment, msg, **_):
        runner._send_stats()
        state["recorder"] = Recorder(msg.data["metric"], recording=True)
        state["meter"] = UsageMeter()
        state["meter"].start()
        runner.send_message("recording")

    def on_stop_recording(environment, msg, **_):
        recorder = state["recorder"]
        recorder.recording = False
        usage = state["meter"].stop()
        runner._send_stats()
        runner.send_message("recorded", {
            "worker": runner.worker_index, "requests": recorder.ok, "failures": dict(recorder.failures),
            "samples": recorder.samples.values, "cpu_pct": usage.cpu_pct, "demand_pct": usage.demand_pct})

    runner.register_message("cell", on_cell)
    runner.register_message("record", on_record)
    runner.register_message("stop_recording", on_stop_recording)
    runner.greenlet.join()
