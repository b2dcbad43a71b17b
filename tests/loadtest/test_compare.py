"""bench-compare on real recorded runs: what moved beyond both runs' spread, and the refusals."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from loadtest.reporting import compare

ROOT = Path(__file__).resolve().parents[2]
RECORDED = Path(__file__).with_name("recorded")
WC1, WC2, WC1_ONCE = RECORDED / "quick-wc1", RECORDED / "quick-wc2", RECORDED / "quick-wc1-once"


def run_compare(a: Path, b: Path, out: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "loadtest.reporting.compare", str(a), str(b), "--out", str(out)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_second_worker_per_server_doubles_sync_waits_beyond_the_noise(tmp_path):
    done = run_compare(WC1, WC2, tmp_path)
    assert done.returncode == 0, done.stderr
    markdown = (tmp_path / "compare.md").read_text()
    assert "web concurrency: granian-wsgi 1 → 2, gunicorn 1 → 2, uvicorn 1 → 2" in markdown
    # One sync worker serves 100 ms waits at ~10/s, two at ~20/s: far beyond either run's spread.
    assert "- **▲ better: wait_sync @ gunicorn, rps 9.5 → 16.1 (+69 %)**" in markdown
    assert markdown.index("## What differs") < markdown.index("## Moved beyond the noise")
    comparison = compare.compare(compare.Run.load(WC1), compare.Run.load(WC2))
    verdicts = {c.verdict for found in comparison.cells.values() for c in found}
    assert {"better", "worse", "noise"} <= verdicts
    assert "single run" not in verdicts  # two runs a cell on both sides: every figure judged
    html = (tmp_path / "compare.html").read_text()
    assert "<strong>9.5 → 16.1 (+69 %) ▲ better</strong>" in html and "http://" not in html


def test_a_single_run_comparison_is_flagged_not_judged():
    once = compare.Run.load(WC1_ONCE)
    comparison = compare.compare(once, once)
    assert comparison.moved == []
    assert comparison.count("single run") > 0 and comparison.count("noise") == 0
    assert any("Single-run comparisons, not judged" in line for line in compare.summary_lines(comparison))


def test_runs_with_different_windows_are_refused_with_the_reason(tmp_path):
    done = run_compare(WC1_ONCE, WC2, tmp_path / "out")
    assert done.returncode == 2
    assert "bench-compare: the runs are not comparable:" in done.stderr
    assert "scenario setting measure_s: 8.0 vs 5.0" in done.stderr
    assert "bench both runs with the same SERVERS, SCENARIOS and RUNS" in done.stderr  # what to do
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


def test_runs_on_another_machine_or_budget_are_refused(tmp_path):
    other = tmp_path / "other"
    shutil.copytree(WC2, other)
    results = json.loads((other / "results.json").read_text())
    results["environment"]["cpu_model"] = "Some Other CPU"
    results["meta"]["budgets"]["server_cpus"] = "1-3"
    results["meta"]["scenarios"]["wait_sync"]["users"] = 200
    (other / "results.json").write_text(json.dumps(results))
    done = run_compare(WC1, other, tmp_path / "out")
    assert done.returncode == 2
    assert "machine cpu_model: " in done.stderr and "'Some Other CPU'" in done.stderr
    assert "budget server_cpus: '1' vs '1-3'" in done.stderr
    assert "scenario wait_sync: " in done.stderr and "'users': 200" in done.stderr


def test_a_directory_without_a_run_gets_a_clear_message(tmp_path):
    done = subprocess.run(["make", "-s", "bench-compare", f"A={tmp_path}", f"B={WC2}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert f"bench-compare: {tmp_path}: no results.json; give a run directory of `make bench`" in done.stderr
    missing = subprocess.run(["make", "-s", "bench-compare"], cwd=ROOT, capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode != 0 and "A=reports/<t1> B=reports/<t2>" in missing.stderr
