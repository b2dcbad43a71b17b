"""Runs one cell, one scenario against one server, and measures it the same way whatever its kind.

Each cell: start the load, let it warm up (not measured), then over the measured window read
the server's CPU seconds and the load generator's CPU use and run-queue wait, count successes
and failures and keep latency samples. Locust runs as a library (Environment + LocalRunner) in
this process, so the window's edges are exact and the generator measures itself.
"""

from __future__ import annotations

import csv
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from locust.env import Environment
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from loadtest.drivers import capacity, chat_fanout, http_ramp, wrk
from loadtest.drivers.users import user_class
from loadtest.drivers.ws_client import to_ws_url
from loadtest.measuring.demand import Usage, UsageMeter, combined, is_loadgen_bound
from loadtest.measuring.percentiles import summarize
from loadtest.measuring.recorder import Recorder
from loadtest.measuring.server_cpu import CpuMeter
from loadtest.measuring.window import Window
from loadtest.model.results import CellResult, per_cpu_second
from loadtest.scenarios.catalog import is_kind
from loadtest.scenarios.profiles import Cell, Profile


@dataclass(frozen=True)
class Settings:
    profile: Profile
    measure_s: float
    loadgen_cpus: int  # wrk gets one thread per CPU; Locust is one process, one core at most
    bound_threshold: float  # fraction of a core a load generator thread may want before a cell is flagged
    csv_dir: Path
    wrk_script: Path | None
    # The whole server side (host: supervisord's tree, so nginx, PostgreSQL, Redis and the log relay
    # too), read around the window as stack_cpu_s; None when it cannot be measured (containers).
    stack_meter: CpuMeter | None = None
    log_dir: Path | None = None  # host run logs: <server>.log and nginx.log bytes per request
    # The open-loop client's own ceiling (running/ceiling.py), measured before the http_capacity cells.
    http_ceiling_rps: float | None = None


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def users_for(cell: Cell, profile: Profile) -> int:
    scenario = cell.scenario
    return scenario.users if scenario.users is not None else getattr(profile, scenario.kind_of.users)


class Measurement:
    """One cell's measured window, as a context: entered when the measured load begins, left
    (or close()d earlier) when it ends; result() turns what was counted into the CellResult."""

    def __init__(self, cell: Cell, settings: Settings, meter: CpuMeter | None):
        self.cell, self.settings = cell, settings
        folder = settings.log_dir
        logs = (folder / f"{cell.server}.log", folder / "nginx.log") if folder else ()
        self.window = Window(meter, settings.stack_meter, logs)
        self.measured: tuple[float, float | None, Usage] | None = None

    def __enter__(self) -> Measurement:
        self.window.open()
        return self

    def close(self, usage: Usage | None = None) -> None:
        """End the window; usage: the load generator's, when a child process (wrk) measured it."""
        if self.measured is None:
            window_s, cpu_s, own = self.window.close()
            self.measured = (window_s, cpu_s, usage or own)

    def __exit__(self, *exc_info) -> None:
        self.close()

    def add_processes(self, usages: list[Usage]) -> None:
        """The other processes of the load generator (Locust workers), measured over the same window."""
        wall_s, cpu_s, own = self.measured
        self.measured = (wall_s, cpu_s, combined([own, *usages]))

    def result(self, users: int, window_s: float | None = None, **measured) -> CellResult:
        wall_s, cpu_s, usage = self.measured
        log_bytes = self.window.log_bytes
        if log_bytes is not None and measured.get("requests"):
            per_request = round(log_bytes / measured["requests"])
            measured.setdefault("extra", {})["log_bytes_per_request"] = per_request
        bound = measured.pop("loadgen_bound", is_loadgen_bound(usage, self.settings.bound_threshold))
        result = CellResult(
            server=self.cell.server,
            scenario=self.cell.scenario.name,
            kind=self.cell.scenario.kind,
            run=self.cell.run,
            users=users,
            window_s=round(window_s or wall_s, 3),
            server_cpu_s=_rounded(cpu_s),
            loadgen_cpu_pct=_rounded(usage.cpu_pct, 1),
            loadgen_demand_pct=_rounded(usage.demand_pct, 1),
            loadgen_bound=bound,
            stack_cpu_s=_rounded(self.window.stack_cpu_s),
            **measured,
        )
        if result.rps is not None:
            result.req_per_server_cpu_s = per_cpu_second(result.requests, cpu_s)
        return result


def write_locust_csvs(env: Environment, base: Path) -> None:
    """Locust's own stats, failures and exceptions CSVs for the measured window."""
    writer = StatsCSV(env, PERCENTILES_TO_REPORT)
    for suffix, write in (
        ("stats", writer.requests_csv),
        ("failures", writer.failures_csv),
        ("exceptions", writer.exceptions_csv),
    ):
        with open(f"{base}_{suffix}.csv", "w", newline="") as handle:
            write(csv.writer(handle))


def run_locust_cell(
    cell: Cell, base_url: str, settings: Settings, meter: CpuMeter | None, progress
) -> tuple[CellResult, list[float]]:
    scenario, profile = cell.scenario, settings.profile
    users = users_for(cell, profile)
    env = Environment(user_classes=[user_class(scenario, expected_server=cell.server)], host=base_url)
    recorder = Recorder(scenario.name, recording=False)
    env.events.request.add_listener(recorder.on_request)
    runner = env.create_local_runner()
    rate = lambda: env.stats.total.current_rps  # noqa: E731
    try:
        runner.start(users, spawn_rate=users / min(0.5, profile.warmup_s / 2))
        progress.wait(profile.warmup_s, "warm-up", rate)
        env.stats.reset_all()
        recorder.recording = True
        with Measurement(cell, settings, meter) as measurement:
            progress.wait(scenario.duration_s or settings.measure_s, "measure", rate)
        recorder.recording = False
        write_locust_csvs(env, settings.csv_dir / cell.key)
        extra = {}
        if is_kind(scenario, "ws_handshake"):
            answers = {kind.split(": ", 1)[1]: count for kind, count in recorder.failures.items()}
            extra["answers"] = {**({"accepted (HTTP 101)": recorder.ok} if recorder.ok else {}), **answers}
        if runner.exceptions:
            extra["user_exceptions"] = sum(e["count"] for e in runner.exceptions.values())
    finally:
        runner.quit()
    window_s = measurement.measured[0]
    result = measurement.result(
        users,
        requests=recorder.ok,
        rps=recorder.ok / window_s,
        failures=sum(recorder.failures.values()),
        failure_kinds=dict(recorder.failures.most_common(5)),
        extra=extra,
        **summarize(recorder.samples.values),
    )
    return result, recorder.samples.values


def run_wrk_cell(
    cell: Cell, base_url: str, settings: Settings, meter: CpuMeter | None, progress
) -> tuple[CellResult, list[float]]:
    profile = settings.profile
    connections = users_for(cell, profile)
    url = base_url + cell.scenario.path
    threads = settings.loadgen_cpus
    warmup = wrk.start(url, connections, threads, profile.warmup_s, settings.wrk_script)
    try:
        progress.show("warm-up")
        warmup.communicate(timeout=profile.warmup_s + 30)
    finally:
        warmup.kill()
    with Measurement(cell, settings, meter) as measurement:
        process = wrk.start(url, connections, threads, settings.measure_s, settings.wrk_script)
        try:
            # wrk measures itself; its own CPU use is read just before it exits, while it still exists.
            usage_meter = UsageMeter(process.pid)
            usage_meter.start()
            progress.wait(max(0.5, round(settings.measure_s) - 0.3), "measure")
            usage = usage_meter.stop()
            output, _ = process.communicate(timeout=30)
        finally:
            process.kill()
        measurement.close(usage)
    (settings.csv_dir / f"{cell.key}_wrk.txt").write_text(output)
    measured = wrk.parse(output)
    failures = measured.socket_errors + measured.status_errors
    return measurement.result(
        connections,
        window_s=measured.duration_s,
        requests=measured.requests - measured.status_errors,
        rps=measured.rps,
        p50_ms=measured.p50_ms,
        p95_ms=measured.p95_ms,
        p99_ms=measured.p99_ms,
        failures=failures,
        failure_kinds={"socket errors": measured.socket_errors, "non-2xx/3xx": measured.status_errors}
        if failures
        else {},
        extra={"threads": threads, "wall_s": round(measurement.measured[0], 3)},
    ), []


def run_capacity_cell(
    cell: Cell, base_url: str, settings: Settings, meter: CpuMeter | None, progress
) -> tuple[CellResult, list[float]]:
    profile = settings.profile
    room_path = cell.scenario.path.format(room=f"capacity-{uuid.uuid4().hex[:8]}")
    url = to_ws_url(base_url, room_path)
    with Measurement(cell, settings, meter) as measurement:
        steps, done, usage = capacity.run_client(
            url, profile, settings.bound_threshold, settings.csv_dir / f"{cell.key}_wsload.log",
            on_step=lambda step: progress.show(f"{step.clients} clients p95 {step.p95_ms or 0:.0f} ms"),
        )
        measurement.close(usage)
        side = capacity.server_side(meter) if meter else {}
    held = capacity.clients_held(steps, profile.capacity_bound_ms)
    last_good = next((s for s in reversed(steps) if s.clients == held), None)
    bound = capacity.generator_bound(steps)
    unknown = any(s.loadgen_bound is None for s in steps)
    return measurement.result(
        held,
        requests=sum(s.broadcasts for s in steps),
        p50_ms=last_good.p50_ms if last_good else None,
        p95_ms=last_good.p95_ms if last_good else None,
        failures=sum(s.handshake_failures + s.lost for s in steps),
        failure_kinds=done.get("handshake_errors", {}),
        # Per step, from the client's demand while broadcasts were in flight, not over the ramp.
        loadgen_bound=True if bound else (None if unknown else False),
        extra={
            "clients_held": held,
            "held": capacity.held_text(steps, profile.capacity_bound_ms),
            "bound_ms": profile.capacity_bound_ms,
            "stopped_because": done["stopped_because"],
            "steps": [s.as_dict() for s in steps],
            **side,
            "per_core": capacity.per_core(held, side.get("server_cpus", 0)),
        },
    ), []


def run_fanout_cell(
    cell: Cell, base_url: str, settings: Settings, meter: CpuMeter | None, progress
) -> tuple[CellResult, list[float]]:
    scenario, profile = cell.scenario, settings.profile
    members = users_for(cell, profile)
    url = to_ws_url(base_url, scenario.path.format(room=f"bench-{uuid.uuid4().hex[:8]}"))
    line = chat_fanout.command(url, members, scenario.params["send_interval_s"], profile.warmup_s,
                               settings.measure_s, scenario.params["grace_s"], cell.server, scenario.name)
    measurement = Measurement(cell, settings, meter)
    progress.show("warm-up")
    timeout_s = profile.warmup_s + settings.measure_s + scenario.params["grace_s"] + 30
    done = chat_fanout.run(line, settings.csv_dir / f"{cell.key}_wsload.log", measurement.__enter__,
                           measurement.close, timeout_s)
    failures = Counter(done["failures"])
    return measurement.result(
        members,
        requests=done["delivered"],
        rps=done["delivered"] / measurement.measured[0],
        failures=sum(failures.values()),
        failure_kinds=dict(failures.most_common(5)),
        extra={key: done[key] for key in ("messages_sent", "deliveries_expected", "lost")},
        **summarize(done["samples"]),
    ), done["samples"]


def run_http_capacity_cell(
    cell: Cell, base_url: str, settings: Settings, meter: CpuMeter | None, progress
) -> tuple[CellResult, list[float]]:
    """The open-loop ramp (drivers/openloop.py) through nginx: the highest rate held within the SLO.

    Not a result when the client was saturated in the step that ended the ramp, or when the rate
    held reaches the client's own ceiling: then the figure reads "at least"."""
    ramp, slo_ms = settings.profile.http_ramp, cell.scenario.params["slo_ms"]
    command = http_ramp.client_command(base_url + cell.scenario.path, ramp, slo_ms, settings.bound_threshold,
                                       cell.server)
    with Measurement(cell, settings, meter) as measurement:
        steps, done, usage = http_ramp.run_client(
            command, settings.csv_dir / f"{cell.key}_openloop.log",
            lambda step: progress.show(f"{step.offered_rps:,.0f} rps p99 {step.p99_ms or 0:.0f} ms"),
            ramp.deadline_s,
        )
        measurement.close(usage)
    found = http_ramp.verdict(steps, slo_ms, settings.http_ceiling_rps)
    unknown = any(s.loadgen_bound is None for s in steps)
    there = next((s for s in steps if s.offered_rps == found.sustained_rps), None)
    return measurement.result(
        max((s.connections for s in steps), default=0),
        requests=sum(s.ok for s in steps),
        p50_ms=there.p50_ms if there else None,
        p99_ms=there.p99_ms if there else None,
        failures=sum(s.errors + s.late for s in steps),
        failure_kinds=dict(sum((Counter(s.error_kinds) for s in steps), Counter()).most_common(5)),
        loadgen_bound=True if found.generator_limited else (None if unknown else False),
        extra={
            "sustained_rps": found.sustained_rps,
            "generator_ceiling_rps": settings.http_ceiling_rps,
            "held": found.text,
            "slo_ms": slo_ms,
            "stopped_because": done["stopped_because"],
            "steps": [s.as_dict() for s in steps],
        },
    ), []


RUNNERS = {"wrk": run_wrk_cell, "ws_capacity": run_capacity_cell, "ws_chat": run_fanout_cell,
           "http_capacity": run_http_capacity_cell}


def run_cell(
    cell: Cell, base_url: str, settings: Settings, meter: CpuMeter | None, progress
) -> tuple[CellResult, list[float]]:
    """(result, latency samples in ms) of one cell."""
    return RUNNERS.get(cell.scenario.kind, run_locust_cell)(cell, base_url, settings, meter, progress)
