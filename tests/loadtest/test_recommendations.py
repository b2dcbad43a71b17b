"""The findings' end: each ASGI server's sync and async cost side by side, and which server to pick
per workload with its margin over the runner-up and whether that margin is beyond the noise."""

import json

from loadtest.model.results import CellResult, summarize_runs
from loadtest.reporting import lineup, report
from loadtest.reporting.findings import findings
from tests.loadtest.test_report import ENVIRONMENT
from tests.loadtest.test_report import META as REPORT_META

META = {
    "servers": [
        {"name": "gunicorn", "protocol": "wsgi"},
        {"name": "granian-wsgi", "protocol": "wsgi"},
        {"name": "uvicorn", "protocol": "asgi"},
        {"name": "granian", "protocol": "asgi"},
    ],
    "baselines": {"http": "gunicorn", "websocket": "uvicorn"},
}


def cells(spread: float = 0.0) -> list[CellResult]:
    """Three runs per cell; their figures differ by spread (a fraction of the median). ws_echo is
    paced, as in the bench: the same rps every run, only its server CPU varies."""
    figures = {  # scenario: {server: req/CPU s (sync, async, ws) or rps (waiting)}
        "plaintext": {"gunicorn": 1000, "granian-wsgi": 1300, "uvicorn": 300, "granian": 320},
        "plaintext_async": {"uvicorn": 900, "granian": 950},
        "wait_async": {"gunicorn": 20, "granian-wsgi": 20, "uvicorn": 400, "granian": 412},
        "ws_echo": {"uvicorn": 800, "granian": 700},
    }
    found = []
    for scenario, by_server in figures.items():
        kind = "ws_echo" if scenario == "ws_echo" else "http"
        for server, figure in by_server.items():
            for run, shift in enumerate((-spread / 2, 0.0, spread / 2), 1):
                rps = figure if kind == "ws_echo" else figure * (1 + shift)
                found.append(CellResult(server, scenario, kind, run, rps=rps,
                                        req_per_server_cpu_s=figure * (1 + shift)))
    return found


def found(spread: float = 0.0):
    return findings(summarize_runs(cells(spread)), lineup.from_meta(META), {})


def test_each_asgi_server_has_its_sync_and_async_cost_side_by_side():
    costs = {c.server: c for c in found().async_costs}
    assert set(costs) == {"uvicorn", "granian"}  # the WSGI servers run no async-view cell
    assert (costs["uvicorn"].sync_req_per_cpu_s, costs["uvicorn"].async_req_per_cpu_s) == (300, 900)
    assert costs["uvicorn"].async_over_sync == 3.0
    assert costs["granian"].async_vs_baseline_sync == 0.95  # against gunicorn's sync plaintext
    story = next(line for line in found().stories if line.startswith("**Async views**"))
    assert story.startswith("**Async views** (requests per server CPU second ÷ gunicorn plaintext's")
    assert "uvicorn plaintext 300 → plaintext_async 900 (3.00×)" in story
    assert "Best: **granian 0.95×** gunicorn plaintext on plaintext_async" in story


def test_a_pick_per_workload_with_its_margin_beyond_or_within_the_noise():
    picks = {p.workload: p for p in found(spread=0.10).recommendations}
    assert list(picks) == ["sync-heavy", "waiting", "WebSockets", "mixed"]
    assert (picks["sync-heavy"].server, picks["sync-heavy"].runner_up) == ("granian-wsgi", "gunicorn")
    assert round(picks["sync-heavy"].margin, 2) == 1.3 and picks["sync-heavy"].noise_pct == 10
    assert picks["sync-heavy"].beyond_noise is True  # 30 % apart, runs 10 % apart
    assert (picks["waiting"].server, picks["waiting"].runner_up) == ("granian", "uvicorn")
    assert picks["waiting"].beyond_noise is False  # 3 % apart, within the 10 % spread
    assert picks["WebSockets"].server == "uvicorn" and round(picks["WebSockets"].margin, 3) == 1.143
    # Judged by the spread of round trips per server CPU second: its paced rps never varies.
    assert picks["WebSockets"].noise_pct == 10 and picks["WebSockets"].beyond_noise is True
    # One server for all three: only the ASGI servers serve WebSockets.
    assert (picks["mixed"].server, picks["mixed"].runner_up) == ("uvicorn", "granian")
    lines = found(spread=0.10).picks
    assert lines[1] == "**waiting: granian**, 1.03× uvicorn (within the noise: 3 % against a spread of 10 %)."


def test_one_run_has_no_spread_to_judge_a_margin_by():
    single = [c for c in cells() if c.run == 1]
    picks = findings(summarize_runs(single), lineup.from_meta(META), {}).recommendations
    assert all(p.beyond_noise is None and p.noise_pct is None for p in picks)
    assert "one run per cell: no spread to judge the margin by" in picks[0].sentence()


def test_the_report_writes_the_findings_as_data_for_the_docs(tmp_path):
    meta = {**REPORT_META, "servers": [{**s, "port": 8080 + i, "label": s["name"]} for i, s in
                                       enumerate(META["servers"])], "baselines": META["baselines"]}
    document = {"meta": meta, "environment": ENVIRONMENT, "cells": [c.as_dict() for c in cells(0.1)]}
    (tmp_path / "results.json").write_text(json.dumps(document))
    report.write(tmp_path)
    data = json.loads((tmp_path / "findings.json").read_text())
    assert set(data) == {"stories", "trust", "picks", "async_costs", "recommendations"}
    assert "### Which server to pick" in (tmp_path / "report.md").read_text()
    assert data["recommendations"][0] == {
        "workload": "sync-heavy", "server": "granian-wsgi", "figure": 1.3, "runner_up": "gunicorn",
        "margin": 1.3, "noise_pct": 10.0, "beyond_noise": True, "families": ["sync"]}
    ratios = {c["server"]: c["async_over_sync"] for c in data["async_costs"]}
    assert ratios == {"uvicorn": 3.0, "granian": 950 / 320}
