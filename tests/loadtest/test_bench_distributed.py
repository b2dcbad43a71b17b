"""The bench's distributed mode for real: a Locust master (the bench) and 2 worker processes
drive the host run's nginx, and the report's totals are exactly what the workers counted."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ("gunicorn", "uvicorn")
SCENARIOS = ("plaintext", "db", "ws_echo")  # ws_echo stays in the master's process
WORKERS = 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_locust_workers_give_a_complete_report_whose_totals_are_theirs(stack, tmp_path):
    if stack.name != "host":
        pytest.skip("the bench's host target; the container stack is benched the same way")
    port = free_port()
    command = [sys.executable, "-m", "loadtest.bench", "--target", "host", "--out", str(tmp_path),
               "--servers", ",".join(SERVERS), "--scenarios", ",".join(SCENARIOS),
               "--measure", "2", "--warmup", "0.5", "--workers", str(WORKERS), "--master-port", str(port)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    leftovers = [p.pid for p in psutil.process_iter(["cmdline"])
                 if "loadtest.worker" in (p.info["cmdline"] or []) and str(port) in p.info["cmdline"]]
    assert not leftovers, f"Locust workers still running after the bench: {leftovers}"

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["meta"]["locust_workers"] == {"local": WORKERS, "remote": 0}
    cells = {(c["scenario"], c["server"]): c for c in results["cells"]}
    assert set(cells) == {(sc, sv) for sc in SCENARIOS for sv in SERVERS
                          if not (sc == "ws_echo" and sv == "gunicorn")}, done.stderr
    for key, cell in cells.items():
        assert cell["error"] is None and cell["failures"] == 0, (key, cell["failure_kinds"])
        assert cell["rps"] > 0 and cell["p50_ms"] <= cell["p95_ms"] <= cell["p99_ms"], key
        workers = cell["extra"].get("locust_workers")
        if cell["kind"] == "ws_echo":
            assert isinstance(cell["loadgen_bound"], bool), key  # wsload's own verdict, per run
            assert workers is None, key
            continue
        # Bound exactly when a generator thread (the Locust workers' included) wanted more than
        # the threshold of a core: the verdict follows from the cell's own measured demand.
        assert cell["loadgen_demand_pct"] is not None, key
        threshold = results["meta"]["bound_threshold"] * 100
        demand = cell["loadgen_demand_pct"]
        assert cell["loadgen_bound"] == (demand > threshold), (key, demand)
        assert [w["worker"] for w in workers] == list(range(WORKERS)), key
        assert all(w["requests"] > 0 for w in workers), (key, workers)  # both really generated load
        assert cell["requests"] == sum(w["requests"] for w in workers), (key, workers)
        assert cell["failures"] == sum(w["failures"] for w in workers), (key, workers)
        # The master's own share on top of the workers'; the demand is the busiest process's.
        assert cell["loadgen_cpu_pct"] >= sum(w["loadgen_cpu_pct"] for w in workers) - 0.2, key
        assert cell["loadgen_demand_pct"] >= max(w["loadgen_demand_pct"] for w in workers) - 0.1, key
    assert (tmp_path / "report.html").stat().st_size > 0
    assert f"Locust master and {WORKERS} workers" in (tmp_path / "report.md").read_text()
    assert all((tmp_path / "raw" / f"locust-worker-{index}.log").exists() for index in range(WORKERS))
