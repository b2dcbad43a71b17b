"""The bench through the real host run: nginx, two servers, PostgreSQL, Redis, pinning and all.

A tiny plan (gunicorn and uvicorn; plaintext, db and the WebSocket echo; 2 s per cell) must give
a complete report, pin the whole server side while it runs and give every thread its CPUs back.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtest.measuring.processes import process_tree
from loadtest.polling import poll_until
from loadtest.running import pinning
from stack import local
from tests.loadtest import interruptible

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ("gunicorn", "uvicorn")
SCENARIOS = ("plaintext", "db", "ws_echo")
CELL_FIELDS = (
    "server", "scenario", "rps", "p50_ms", "p95_ms", "p99_ms", "failures", "server_cpu_s",
    "req_per_server_cpu_s", "stack_cpu_s", "loadgen_cpu_pct", "loadgen_demand_pct", "loadgen_bound", "valid",
)
CAN_PIN = len(os.sched_getaffinity(0)) >= 2


@pytest.fixture
def host_run(stack):
    if stack.name != "host":
        pytest.skip("pins and measures the host run; the container stack has its own CPU accounting")
    return pinning.host_root_pid(local.run_place().folder)


def affinities(root_pid: int) -> dict[int, set[int]]:
    """Every thread of the host run and its CPUs."""
    found = {}
    for pid in process_tree(root_pid):
        for tid in pinning.task_ids(pid):
            try:
                found[tid] = os.sched_getaffinity(tid)
            except OSError:
                continue
    return found


def bench(out: Path, measure: float, scenarios=SCENARIOS) -> subprocess.Popen:
    command = [sys.executable, "-m", "loadtest.bench", "--target", "host", "--out", str(out),
               "--servers", ",".join(SERVERS), "--scenarios", ",".join(scenarios),
               "--measure", str(measure), "--warmup", "0.5"]
    return subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)


def test_a_tiny_bench_gives_a_complete_report_and_unpins(host_run, tmp_path):
    before = affinities(host_run)
    started = time.monotonic()
    process = bench(tmp_path, measure=2.0)
    _, log = process.communicate(timeout=120)
    assert process.returncode == 0, log
    assert time.monotonic() - started < 60, "the tiny plan should take well under a minute"

    results = json.loads((tmp_path / "results.json").read_text())
    cells = {(c["scenario"], c["server"]): c for c in results["cells"]}
    expected = {(sc, sv) for sc in SCENARIOS for sv in SERVERS if not (sc == "ws_echo" and sv == "gunicorn")}
    assert set(cells) == expected, log
    for key, cell in cells.items():
        missing = [name for name in CELL_FIELDS if cell.get(name) is None]
        assert not missing, f"{key}: no {missing}\n{log}"
        assert cell["error"] is None and cell["failures"] == 0, (key, cell["failure_kinds"])
        assert cell["rps"] > 0 and cell["requests"] > 0 and cell["server_cpu_s"] > 0, key
        assert cell["p50_ms"] <= cell["p95_ms"] <= cell["p99_ms"], key
        assert cell["stack_cpu_s"] >= cell["server_cpu_s"] * 0.9, key  # the server is part of the stack
        # The flag is the demand against the threshold, and an unbound cell is a valid one.
        threshold_pct = results["meta"]["bound_threshold"] * 100
        assert cell["loadgen_bound"] is (cell["loadgen_demand_pct"] > threshold_pct), key
        assert cell["valid"] is not cell["loadgen_bound"], key
        if cell["kind"] == "http":
            assert cell["extra"]["log_bytes_per_request"] > 0, key  # nginx and the server log each request
    assert len(results["summary"]) == len(expected)

    meta = results["meta"]
    assert meta["pinned"] is CAN_PIN, meta["notes"]
    budgets = meta["budgets"]
    assert set(budgets["web_concurrency"]) == set(SERVERS) and all(budgets["web_concurrency"].values())
    assert all(budgets["server_processes"][name] >= 2 for name in SERVERS)
    assert budgets["users"]["http"] > 0
    if CAN_PIN:
        assert budgets["loadgen_cpus"] == "0"
        assert not set(meta["server_cpus"]) & set(meta["loadgen_cpus"])
        assert any(note.startswith("server side (supervisord") for note in meta["notes"]), meta["notes"]
    environment = results["environment"]
    assert environment["cpus"] and environment["python"] and environment["packages"]["django"]

    report_md = (tmp_path / "report.md").read_text()
    assert "budgets (" in report_md and "WEB_CONCURRENCY gunicorn" in report_md
    assert all(f"| {server} |" in report_md for server in SERVERS)
    assert "<svg" in (tmp_path / "report.html").read_text()
    for chart in ("heatmap", "plaintext", "db", "ws_echo", "ws_echo_distribution"):
        assert (tmp_path / "charts" / f"{chart}.png").stat().st_size > 1000, chart
    for scenario, server in expected:
        assert (tmp_path / "raw" / f"{scenario}__{server}__run1_stats.csv").exists()
    assert (tmp_path / "samples.json").exists()

    after = affinities(host_run)
    assert os.sched_getaffinity(host_run) == before[host_run]
    changed = {tid for tid in before.keys() & after.keys() if before[tid] != after[tid]}
    assert not changed, f"threads left pinned: {sorted(changed)[:10]}"


@pytest.mark.skipif(not CAN_PIN, reason="pinning needs two CPUs")
def test_ctrl_c_unpins_the_server_side(host_run, tmp_path):
    before = os.sched_getaffinity(host_run)
    process = bench(tmp_path, measure=5.0, scenarios=("plaintext",))
    pinned = lambda: os.sched_getaffinity(host_run) != before or process.poll() is not None  # noqa: E731
    assert poll_until(pinned, 30, 0.05) and process.poll() is None, process.communicate()[1]
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    _, log = process.communicate(timeout=60)
    assert process.returncode == 130, log
    assert os.sched_getaffinity(host_run) == before
    assert "affinity restored" in log
