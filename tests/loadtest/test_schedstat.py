"""The load-generator-bound flag, on recorded numbers and on a generator really starved of CPU."""

import os
import subprocess
import sys
import time

import pytest

from loadtest.measuring import demand
from loadtest.measuring.demand import Usage, UsageMeter, combined, is_loadgen_bound, usage_between
from loadtest.model.results import CellResult, summarize_runs
from loadtest.reporting.tables import validity

MS = 1_000_000  # ns


def test_flag_reads_the_busiest_thread_on_recorded_data():
    before = {"100": (0, 0), "101": (0, 0)}
    # Main thread ran 500 ms and waited 450 ms for a CPU in a 1 s window; a helper thread barely ran.
    after = {"100": (500 * MS, 450 * MS), "101": (10 * MS, 300 * MS)}
    usage = usage_between(before, after, 1.0)
    assert usage.cpu_pct == pytest.approx(51)
    assert usage.demand_pct == pytest.approx(95)
    assert is_loadgen_bound(usage)


def test_two_threads_each_under_the_threshold_are_not_bound():
    # wrk with two threads at 60 % each: 120 % CPU in total, but no thread is saturated.
    after = {"1": (600 * MS, 50 * MS), "2": (600 * MS, 50 * MS)}
    usage = usage_between({}, after, 1.0)
    assert usage.cpu_pct == pytest.approx(120)
    assert not is_loadgen_bound(usage)


def test_threshold_is_a_parameter():
    assert is_loadgen_bound(Usage(cpu_pct=60, demand_pct=70), threshold=0.6)
    assert not is_loadgen_bound(Usage(cpu_pct=60, demand_pct=70), threshold=0.8)


def _pinned(code: str, cpu: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", code])
    os.sched_setaffinity(process.pid, {cpu})
    return process


BUSY = "import time\nend = time.monotonic() + 3\nwhile time.monotonic() < end: pass"
LIGHT = """
import time
end = time.monotonic() + 3
while time.monotonic() < end:
    spin = time.monotonic() + 0.002
    while time.monotonic() < spin: pass
    time.sleep(0.02)
"""


def _measure(process: subprocess.Popen) -> Usage:
    time.sleep(0.3)  # past interpreter start-up
    meter = UsageMeter(process.pid)
    meter.start()
    time.sleep(1.0)
    return meter.stop()


def test_flag_fires_when_a_cpu_hog_shares_the_load_generators_core():
    cpu = max(os.sched_getaffinity(0))
    loadgen, hog = _pinned(BUSY, cpu), _pinned(BUSY, cpu)
    try:
        usage = _measure(loadgen)
    finally:
        for process in (loadgen, hog):
            process.kill()
            process.wait()
    assert usage.cpu_pct < 75  # it only got about half the core: CPU % alone would not flag it
    assert is_loadgen_bound(usage)


def test_flag_stays_off_for_a_lightly_loaded_generator():
    loadgen = _pinned(LIGHT, max(os.sched_getaffinity(0)))
    try:
        usage = _measure(loadgen)
    finally:
        loadgen.kill()
        loadgen.wait()
    assert not is_loadgen_bound(usage)


def test_a_kernel_without_schedstat_reads_as_unknown_never_as_valid(tmp_path, monkeypatch):
    # A /proc whose threads have no schedstat file, as on a kernel built without CONFIG_SCHED_INFO.
    (tmp_path / "4242" / "task" / "4242").mkdir(parents=True)
    (tmp_path / "4242" / "task" / "4242" / "stat").write_text("4242 (python) S 1")
    monkeypatch.setattr(demand, "PROC", tmp_path)
    meter = UsageMeter(4242)
    meter.start()
    usage = meter.stop()
    assert usage.demand_pct is None and is_loadgen_bound(usage) is None
    cell = CellResult("uvicorn", "json", "http", 1, loadgen_bound=is_loadgen_bound(usage))
    assert not cell.valid
    assert validity(summarize_runs([cell])[0]) == "NO: load generator demand unknown"


def test_a_load_generator_of_several_processes_is_as_bound_as_its_busiest():
    """Locust's master and workers: CPU use adds up, and one lagging worker marks the cell."""
    master, calm, lagging = Usage(10, 15), Usage(40, 45), Usage(50, 95)
    assert combined([master, calm, lagging]) == Usage(cpu_pct=100, demand_pct=95)
    assert is_loadgen_bound(combined([master, calm, lagging]))
    assert not is_loadgen_bound(combined([master, calm, calm]))
    assert is_loadgen_bound(combined([master, Usage(None, None)])) is None  # unknown stays unknown


def test_a_starved_worker_marks_the_whole_load_generator():
    cpu = max(os.sched_getaffinity(0))
    calm, starved, hog = _pinned(LIGHT, cpu), _pinned(BUSY, cpu), _pinned(BUSY, cpu)
    try:
        usages = [_measure(calm), _measure(starved)]
    finally:
        for process in (calm, starved, hog):
            process.kill()
            process.wait()
    assert not is_loadgen_bound(usages[0])
    assert is_loadgen_bound(combined(usages))
