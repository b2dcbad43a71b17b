"""The soak's arithmetic: least-squares slope of memory over time, the verdict, the tree sampling."""

import os

import pytest

from loadtest.measuring.memory import Sample, process_memory, sample_tree
from loadtest.measuring.trend import least_squares, memory_slope, verdict
from loadtest.model.soak import ServerSoak
from loadtest.reporting.soak_report import render_markdown, summarize_server


def samples(values_by_second: list[tuple[float, float]]) -> list[Sample]:
    return [Sample(t_s=t, rss_mb=mb, pss_mb=mb / 2, processes=3, requests=0) for t, mb in values_by_second]


def test_least_squares_recovers_an_exact_line():
    fit = least_squares([(x, 3.0 * x + 7.0) for x in range(10)])
    assert fit.slope == pytest.approx(3.0)
    assert fit.intercept == pytest.approx(7.0)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.points == 10


def test_least_squares_on_noise_around_a_trend():
    # y = 2x + 1 with alternating +-1 noise: the slope stays close to 2, r2 below 1.
    fit = least_squares([(x, 2 * x + 1 + (1 if x % 2 else -1)) for x in range(20)])
    assert fit.slope == pytest.approx(2.0, abs=0.05)
    assert 0.9 < fit.r2 < 1.0


def test_least_squares_degenerate_cases():
    assert least_squares([]) is None
    assert least_squares([(1.0, 5.0)]) is None
    assert least_squares([(1.0, 5.0), (1.0, 6.0)]) is None  # no spread in time
    flat = least_squares([(x, 100.0) for x in range(5)])
    assert flat.slope == 0 and flat.r2 is None


def test_memory_slope_is_per_minute_and_skips_the_settling_time():
    # 120 MB flat for the first minute (settling), then +0.5 MB every 30 s: 1 MB/min.
    points = [(t, 120.0) for t in range(0, 60, 30)] + [(60 + 30 * i, 120.0 + 0.5 * i) for i in range(10)]
    history = samples(points)
    assert memory_slope(history, since_s=60).slope == pytest.approx(1.0)
    assert memory_slope(history, since_s=60, value="pss_mb").slope == pytest.approx(0.5)
    assert memory_slope(history).slope < 1.0  # the flat start drags the whole-run slope down


def test_verdict_needs_growth_after_settling_and_at_the_end():
    growing = least_squares([(0, 0), (1, 5)])
    flat = least_squares([(0, 0), (1, 0.1)])
    assert verdict(growing, growing, threshold=1.0) == "growing"
    assert verdict(growing, flat, threshold=1.0) == "flat"  # grew early, then levelled off
    assert verdict(None, None, threshold=1.0) == "too short"


def test_summary_of_one_server():
    server = ServerSoak("gunicorn", "wsgi", 8081)
    server.samples = samples([(60 * minute, 100.0 + 2 * minute) for minute in range(11)])
    for value in range(1, 101):
        server.recorder.on_request("gunicorn /db", float(value))
    for _ in range(2):
        server.recorder.on_request("gunicorn /db", 0.0, exception="HTTP 503")
    summary = summarize_server(server, settle_s=60, threshold=1.0)
    assert summary["slope_mb_per_min"] == pytest.approx(2.0)
    assert summary["slope_last_half_mb_per_min"] == pytest.approx(2.0)
    assert summary["verdict"] == "growing"
    assert (summary["rss_start_mb"], summary["rss_end_mb"], summary["rss_max_mb"]) == (100.0, 120.0, 120.0)
    assert summary["failures"] == 2 and summary["p50_ms"] == pytest.approx(50.5)
    meta = {"started": "t0", "finished": "t1", "duration_s": 600, "interrupted": False, "target": "host",
            "rate_per_server": 20, "users_per_server": 4, "paths": ["/plaintext"], "ws_every": 10,
            "sample_every_s": 5, "settle_s": 60, "threshold_mb_per_min": 1, "ws_round_trips": 5}
    environment = {"cpu_model": "x", "cpus": 2, "memory": "1 GB", "python": "3.11"}
    text = render_markdown(meta, environment, [summary], chart=True)
    assert "| gunicorn | 100.0 | 120.0 | 120.0 | 2.00 (1.00) |" in text and "growing" in text
    assert "HTTP 503 × 2" in text and "rss.png" in text


def test_replaced_workers_are_counted():
    server = ServerSoak("gunicorn", "wsgi", 8081)
    server.record_pids([1, 2, 3])
    server.record_pids([1, 2, 4])  # worker 3 was replaced by 4
    server.record_pids([1, 5, 6])
    assert server.replaced == 3


def test_sampling_a_live_tree():
    own = process_memory(os.getpid())
    assert own is not None and own[0] > 1024 * 1024 and 0 < own[1] <= own[0]
    sample = sample_tree([os.getpid(), 2**22 + 12345], t_s=1.5, requests=7)  # the second pid does not exist
    assert sample.processes == 1 and sample.rss_mb > 1 and sample.requests == 7
