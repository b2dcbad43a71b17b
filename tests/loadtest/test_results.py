import pytest

from loadtest.model.results import CellResult, per_cpu_second, summarize_runs


def cell(run, rps, bound=False, server="uvicorn"):
    return CellResult(
        server=server,
        scenario="json",
        kind="http",
        run=run,
        requests=int(rps * 10),
        rps=rps,
        p50_ms=run * 1.0,
        server_cpu_s=5.0,
        req_per_server_cpu_s=rps * 2,
        loadgen_bound=bound,
    )


def test_median_and_spread_over_runs():
    (summary,) = summarize_runs([cell(1, 900), cell(2, 1000), cell(3, 1200)])
    assert summary.runs == 3
    assert summary.rps == 1000
    assert (summary.rps_min, summary.rps_max) == (900, 1200)
    assert summary.spread_pct == pytest.approx(30)
    assert summary.p50_ms == 2.0
    assert summary.valid


def test_one_load_generator_bound_run_invalidates_the_cell():
    (summary,) = summarize_runs([cell(1, 900), cell(2, 1000, bound=True), cell(3, 1200)])
    assert summary.loadgen_bound and not summary.valid


def test_cells_group_by_scenario_and_server_in_order():
    summaries = summarize_runs([cell(1, 1, server="b"), cell(1, 2, server="a"), cell(2, 3, server="b")])
    assert [(s.server, s.runs) for s in summaries] == [("b", 2), ("a", 1)]


def test_requests_per_cpu_second():
    assert per_cpu_second(1000, 2.0) == 500
    assert per_cpu_second(1000, 0.0) is None  # no CPU measured is not infinite efficiency
    assert per_cpu_second(1000, None) is None


def test_round_trip_through_json_dict():
    original = cell(1, 5.0)
    assert CellResult.from_dict(original.as_dict()) == original


def test_a_ramps_extras_are_its_median_runs_by_its_figure():
    runs = [CellResult("uvicorn", "http_capacity", "http_capacity", run, extra={"sustained_rps": held})
            for run, held in ((1, 900), (2, 1300), (3, 1100))]
    (summary,) = summarize_runs(runs)
    assert summary.extra == {"sustained_rps": 1100}
