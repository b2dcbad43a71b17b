"""The report rebuilt from a recorded results.json: tables, invalid cells marked, charts inline."""

import json

from loadtest.model.results import CellResult
from loadtest.reporting import report, tables

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


def write_report(tmp_path, meta=META, cell_list=None):
    results = {"meta": meta, "environment": ENVIRONMENT, "cells": [c.as_dict() for c in cell_list or cells()]}
    (tmp_path / "results.json").write_text(json.dumps(results))
    (tmp_path / "samples.json").write_text(json.dumps({"ws_echo": {"uvicorn": [1.0, 2.0, 3.0, 10.0]}}))
    report.write(tmp_path)
    return (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()


def test_report_from_recorded_results(tmp_path):
    markdown, html = write_report(tmp_path)

    assert "| uvicorn | NO: load generator bound | 4,000 |" in markdown
    assert "| gunicorn | 1,300 | 1,400 | 1.08 | Locust measured the server |" in markdown  # Locust vs wrk
    assert "| uvicorn | 4,000 | 9,000 | 2.25 | the server outran Locust: Locust's rps is a floor |" \
        in markdown
    assert "client's own ceiling: not measured in this run" in markdown
    assert "| uvicorn | 50 |" in markdown  # clients held
    assert "handshake refused: HTTP 501 × 10" in markdown
    # The summary names the invalid cell, and the heat map comes before any scenario's table.
    assert "plaintext @ uvicorn (load generator bound)" in markdown
    assert markdown.index("charts/heatmap.png") < markdown.index("### plaintext")
    assert markdown.index("## What this run found") < markdown.index("## Run details")

    # heat map, then each scenario's chart: plaintext, plaintext_wrk, ws_echo (+ its CDF), ws_chat,
    # capacity; each written as a file and inlined in the page
    charts = sorted(path.stem for path in (tmp_path / "charts").glob("*.png"))
    assert len(charts) == 7, charts
    assert html.count("<svg") == len(charts)
    assert html.index("id=findings") < html.index("id=heatmap") < html.index("id=s-plaintext")
    assert html.index("id=s-plaintext") < html.index("<details>")  # run details folded at the end
    assert "<tr class=invalid>" in html
    assert "<img" not in html and "<?xml" not in html  # self-contained: charts inline, no files
    for name in ("heatmap", "plaintext", "ws_echo", "ws_echo_distribution", "ws_capacity_clients_held"):
        assert (tmp_path / "charts" / f"{name}.png").stat().st_size > 1000


def test_the_best_valid_value_of_a_column_is_marked(tmp_path):
    more = [
        CellResult("uvicorn", "json", "http", 1, rps=900.0, p50_ms=3, p95_ms=4, p99_ms=8, requests=3600,
                   server_cpu_s=3.0, req_per_server_cpu_s=1200.0),
        CellResult("gunicorn", "json", "http", 1, rps=1000.0, p50_ms=2, p95_ms=6, p99_ms=7, requests=4000,
                   server_cpu_s=2.0, req_per_server_cpu_s=2000.0),
    ]
    markdown, _ = write_report(tmp_path, cell_list=cells() + more)
    json_table = markdown.split("### json\n")[1].split("###")[0]
    assert "| gunicorn | yes | **1,000** | **2.0** | 6.0 | **7.0** | 0 | 2.00 | **2,000** |" in json_table
    assert "| uvicorn | yes | 900 | 3.0 | **4.0** | 8.0 | 0 | 3.00 | 1,200 |" in json_table
    plaintext = markdown.split("### plaintext\n")[1].split("###")[0]
    assert "**4,000**" not in plaintext  # an invalid cell is never the best


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


def test_capacity_reads_as_a_lower_bound_beside_the_clients_own_ceiling(tmp_path):
    steps = [
        {"clients": 250, "handshake_failures": 0, "broadcasts": 10, "lost": 0, "p50_ms": 40, "p95_ms": 60,
         "loadgen_demand_pct": 35.0, "loadgen_bound": False},
        {"clients": 500, "handshake_failures": 0, "broadcasts": 10, "lost": 0, "p50_ms": 90, "p95_ms": 120,
         "loadgen_demand_pct": 92.0, "loadgen_bound": True},
    ]
    extra = {"clients_held": 250, "held": "at least 250 (load generator bound)", "bound_ms": 250,
             "stopped_because": "load generator bound at 500", "steps": steps}
    capacity = CellResult("uvicorn", "ws_capacity", "ws_capacity", 1, users=250, p95_ms=60,
                          loadgen_bound=True, extra=extra)
    ceiling = {"clients_held": 5000, "held": "5,000", "bound_ms": 250, "max_clients": 10000,
               "server_cpus": "1", "stopped_because": "broadcast p95 260 ms > 250 ms at 5250 clients"}
    markdown, _ = write_report(tmp_path, {**META, "client_ceiling": ceiling}, [capacity])
    assert "| uvicorn | at least 250 (load generator bound) |" in markdown
    assert "client's own ceiling on this machine: 5,000 members at broadcast p95 <= 250 ms" in markdown
    assert "| uvicorn | 500 | 90.0 | 120.0 | 0 | 0 | 92 | NO: load generator bound |" in markdown


def test_a_ceiling_at_the_ramps_maximum_reads_as_a_lower_bound(tmp_path):
    ceiling = {"clients_held": 10000, "held": "10,000", "bound_ms": 250, "max_clients": 10000,
               "server_cpus": "1", "stopped_because": "reached the profile's maximum of 10000 clients"}
    assert tables.ceiling_sentence(ceiling).startswith(
        "WebSocket load client's own ceiling on this machine: at least 10,000 (the ramp's maximum) members")
