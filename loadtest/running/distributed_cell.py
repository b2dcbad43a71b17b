"""One HTTP cell driven by Locust workers (loadtest.drivers.distributed), measured like a local one:
the same warm-up and window, the same result, with the workers' counts summed and the load
generator's usage taken over the master and every worker."""

from __future__ import annotations

from collections import Counter

from loadtest.drivers.distributed import Master
from loadtest.measuring.percentiles import summarize
from loadtest.measuring.server_cpu import CpuMeter
from loadtest.model.results import CellResult
from loadtest.running.cells import Measurement, Settings, users_for, write_locust_csvs
from loadtest.scenarios.profiles import Cell


def run(cell: Cell, base_url: str, settings: Settings, meter: CpuMeter | None, progress,
        master: Master) -> tuple[CellResult, list[float]]:
    scenario, profile = cell.scenario, settings.profile
    users = users_for(cell, profile)
    stats = master.env.stats
    rate = lambda: stats.total.current_rps  # noqa: E731
    spawn_rate = users / min(0.5, profile.warmup_s / 2)
    try:
        master.start(scenario.name, cell.server, base_url, users, spawn_rate)
        progress.wait(profile.warmup_s, "warm-up", rate)
        with Measurement(cell, settings, meter) as measurement:
            master.record(scenario.name)
            progress.wait(scenario.duration_s or settings.measure_s, "measure", rate)
            master.stop_recording()
        reports = master.collect()
        write_locust_csvs(master.env, settings.csv_dir / cell.key)
    finally:
        master.stop()
    measurement.add_processes([report.usage for report in reports])
    requests = sum(report.requests for report in reports)
    failures = sum((Counter(report.failures) for report in reports), Counter())
    samples = [value for report in reports for value in report.samples]
    window_s = measurement.measured[0]
    result = measurement.result(
        users,
        requests=requests,
        rps=requests / window_s,
        failures=sum(failures.values()),
        failure_kinds=dict(failures.most_common(5)),
        extra={"locust_workers": [report.as_dict() for report in reports]},
        **summarize(samples),
    )
    return result, samples
