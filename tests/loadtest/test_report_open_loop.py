"""The open-loop capacity cells in the report: the sustained rate per server, "at least" where the
generator was the limit, every step, and the chart of latency against offered load."""

import json

from loadtest.model.results import CellResult
from loadtest.reporting import report
from tests.loadtest.test_report import ENVIRONMENT, META

CEILING = {"sustained_rps": 9000, "at_maximum": False, "slo_ms": 50.0, "max_rps": 50000,
           "stopped_because": "p99 61 ms > 50 ms at 11,700 rps", "server_cpus": "1", "steps": []}


def step(rate, p50, p99, demand=40.0, bound=False):
    return {"offered_rps": rate, "scheduled": rate * 5, "ok": rate * 5, "errors": 0, "late": 0, "p50_ms": p50,
            "p99_ms": p99, "max_ms": p99 * 1.2, "connections": 8, "loadgen_demand_pct": demand,
            "loadgen_bound": bound, "error_kinds": {}}


def cell(server, held, steps, text, bound=False):
    extra = {"sustained_rps": held, "generator_ceiling_rps": 9000, "held": text, "slo_ms": 50.0,
             "stopped_because": f"p99 80 ms > 50 ms at {held * 1.3:,.0f} rps", "steps": steps}
    return CellResult(server, "http_capacity", "http_capacity", 1, users=8, p50_ms=2.0, p99_ms=20.0,
                      loadgen_bound=bound, extra=extra)


def write(tmp_path):
    cells = [
        cell("gunicorn", 1300, [step(1000, 1.0, 9.0), step(1300, 1.5, 20.0), step(1690, 40.0, 300.0)],
             "1,300"),
        cell("uvicorn", 8500, [step(6500, 3.0, 30.0), step(8500, 4.0, 45.0, demand=85.0)],
             "at least 8,500 (the load generator's ceiling: 9,000)", bound=True),
    ]
    meta = {**META, "http_ceiling": CEILING}
    document = {"meta": meta, "environment": ENVIRONMENT, "cells": [c.as_dict() for c in cells]}
    (tmp_path / "results.json").write_text(json.dumps(document))
    report.write(tmp_path)
    return (tmp_path / "report.md").read_text()


def test_the_sustained_rate_table_reads_at_least_at_the_ceiling(tmp_path):
    markdown = write(tmp_path)
    assert "#### Sustained rate at the latency SLO" in markdown
    assert "| gunicorn | 1,300 | 2.0 | 20.0 | p99 80 ms > 50 ms at 1,690 rps | yes |" in markdown
    assert ("| uvicorn | at least 8,500 (the load generator's ceiling: 9,000) | 2.0 | 20.0 | "
            "p99 80 ms > 50 ms at 11,050 rps | NO: load generator bound |") in markdown
    assert "open-loop HTTP client's own ceiling on this machine: 9,000 rps at p99 <= 50 ms" in markdown
    assert "| gunicorn | 1,690 | 40.0 | 300.0 | 360.0 | 0 | 0 | 8 | 40 | yes |" in markdown  # every step


def test_the_chart_draws_latency_against_offered_load_and_the_findings_rank_the_valid_rates(tmp_path):
    markdown = write(tmp_path)
    assert (tmp_path / "charts" / "http_capacity_latency_by_load.png").stat().st_size > 1000
    assert "![http_capacity_latency_by_load](charts/http_capacity_latency_by_load.png)" in markdown
    assert "**Rate at a latency SLO**" in markdown
    assert "The load generator was the limit for uvicorn: a lower bound, not a result" in markdown
    assert "http_capacity @ uvicorn (load generator bound)" in markdown  # listed with the invalid cells
