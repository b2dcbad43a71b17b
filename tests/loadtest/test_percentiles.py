import numpy
import pytest

from loadtest.measuring.percentiles import Reservoir, summarize


def test_known_values():
    assert summarize(range(100, 0, -1)) == {"p50_ms": 50.5, "p95_ms": pytest.approx(95.05),
                                            "p99_ms": pytest.approx(99.01)}
    assert summarize([7.0]) == {"p50_ms": 7.0, "p95_ms": 7.0, "p99_ms": 7.0}


def test_summary_of_no_samples_is_none_not_zero():
    # A cell where every request failed must not report 0 ms latencies.
    assert summarize([]) == {"p50_ms": None, "p95_ms": None, "p99_ms": None}


def test_reservoir_is_bounded_and_uniform():
    reservoir = Reservoir(size=1000, seed=1)
    for value in range(100_000):
        reservoir.add(value)
    assert len(reservoir.values) == 1000
    assert reservoir.seen == 100_000
    # A uniform sample of 0..99999 has its median near 50000.
    assert 45_000 < numpy.median(reservoir.values) < 55_000
