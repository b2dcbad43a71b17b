import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest.measuring.percentiles import Reservoir, percentile, summarize

samples = st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=200)


@given(samples, st.floats(min_value=0, max_value=100))
def test_matches_numpy_linear_interpolation(values, q):
    assert percentile(sorted(values), q) == pytest.approx(numpy.percentile(values, q), rel=1e-9, abs=1e-9)


def test_known_values():
    ordered = list(range(1, 101))  # 1..100
    assert percentile(ordered, 50) == 50.5
    assert percentile(ordered, 99) == pytest.approx(99.01)
    assert percentile([7.0], 95) == 7.0


def test_rejects_no_samples_and_bad_q():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


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
    assert 45_000 < percentile(sorted(reservoir.values), 50) < 55_000
