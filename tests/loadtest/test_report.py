"""The report rebuilt from a recorded results.json: tables, invalid cells marked, charts inline."""

import json

from loadtest.reporting import report
from loadtest.reporting.results import CellResult

ENVIRONMENT = {
    "cpu_model": "AMD EPYC",
    "cpus": 2,
    "memory": "24 GB",
    "os": "Debian 12",
    "kernel": "6.1",
    "python": "3.11",
    "packages": {"locust": "2.47.0"},
    "wrk": "wrk 4.1.0",
    "nginx": None,
}
META = {
    "profile": "quick",
    "target": "host",
    "started": "t0",
    "finished": "t1",
    "interrupted": False,
    "servers": [
        {"name": "gunicorn", "label": "G", "protocol": "wsgi", "port": 8081},
        {"name": "uvicorn", "label": "U", "protocol": "asgi", "port": 8082},
    ],
    "users": {"http": 32},
    "warmup_s": 1,
    "measure_s": 4.0,
    "runs": 1,
    "loadgen_cpus": [0],
    "server_cpus": [1],
    "bound_threshold": 0.8,
    "notes": [],
}


def cells():
    def cell(scenario, kind, server, rps, **more):
        return CellResult(
            server,
            scenario,
            kind,
            1,
            rps=rps,
            p50_ms=2,
            p95_ms=5,
            p99_ms=9,
            requests=int((rps or 0) * 4),
            server_cpu_s=3.0,
            req_per_server_cpu_s=rps and rps * 4 / 3,
            loadgen_cpu_pct=50,
            loadgen_demand_pct=60,
            **more,
        )

    steps = [
        {"clients": 50, "handshake_failures": 0, "broadcasts": 10, "lost": 0, "p50_ms": 5, "p95_ms": 9},
        {"clients": 100, "handshake_failures": 0, "broadcasts": 10, "lost": 0, "p50_ms": 200, "p95_ms": 300},
    ]
    return [
        cell("plaintext", "http", "gunicorn", 1300.0),
        cell("plaintext", "http", "uvicorn", 4000.0, loadgen_bound=True),
        cell("plaintext_wrk", "wrk", "gunicorn", 1400.0),
        cell("plaintext_wrk", "wrk", "uvicorn", 9000.0),
        cell("ws_echo", "ws_echo", "uvicorn", 3000.0),
        cell(
            "ws_chat",
            "ws_chat",
            "uvicorn",
            400.0,
            extra={"messages_sent": 80, "deliveries_expected": 1600, "lost": 3},
        ),
        cell(
            "ws_capacity",
            "ws_capacity",
            "uvicorn",
            None,
            extra={"clients_held": 50, "bound_ms": 250, "stopped_because": "p95", "steps": steps},
        ),
        cell(
            "ws_handshake",
            "ws_handshake",
            "gunicorn",
            0.0,
            extra={"answers": {"handshake refused: HTTP 501": 10}},
        ),
    ]


def test_report_from_recorded_results(tmp_path):
    results = {"meta": META, "environment": ENVIRONMENT, "cells": [c.as_dict() for c in cells()]}
    (tmp_path / "results.json").write_text(json.dumps(results))
    (tmp_path / "samples.json").write_text(json.dumps({"ws_echo": {"uvicorn": [1.0, 2.0, 3.0, 10.0]}}))
    report.write(tmp_path)

    markdown = (tmp_path / "report.md").read_text()
    assert "| uvicorn | 4,000 |" in markdown and "NO: load generator bound" in markdown
    assert "| gunicorn | 1,300 | 1,400 | 1.08 |" in markdown  # Locust vs wrk ratio
    assert "| uvicorn | 50 |" in markdown  # clients held
    assert "handshake refused: HTTP 501 × 10" in markdown

    html = (tmp_path / "report.html").read_text()
    assert html.count("<svg") == 5  # rps, latency, CPU efficiency, WS distribution, clients held
    assert "<tr class=invalid>" in html
    assert "<img" not in html and "<?xml" not in html  # self-contained: charts inline, no files
    for name in ("rps", "latency", "cpu_efficiency", "ws_latency_distribution", "clients_held"):
        assert (tmp_path / "charts" / f"{name}.png").stat().st_size > 1000


def test_the_budgets_are_stated():
    meta = {
        **META,
        "pinned": True,
        "budgets": {
            "server_cpus": "1",
            "loadgen_cpus": "0",
            "web_concurrency": {"gunicorn": "2", "uvicorn": "2"},
            "server_processes": {"gunicorn": 3, "uvicorn": 4},
            "users": {"http": 32},
        },
    }
    line = report._budget_line(meta)
    assert line.startswith("budgets (pinned): server side (app server, nginx, PostgreSQL, Redis) on CPUs 1")
    assert "load generator (Locust, wrk) on CPUs 0" in line
    assert "WEB_CONCURRENCY gunicorn 2 (3 processes), uvicorn 2 (4 processes)" in line
    assert report._budget_line(META) == "CPUs: load generator [0], servers [1]"  # older results.json
