"""Parameter parsing, by property: any input yields a valid value or a clear 400, nothing else."""

import pytest
from bench.params import bounded_int, techempower_queries
from django.core.exceptions import BadRequest
from django.test import RequestFactory
from hypothesis import given
from hypothesis import strategies as st

factory = RequestFactory()
text = st.text(max_size=30)


@given(raw=text)
def test_techempower_queries_is_always_in_range(raw):
    assert 1 <= techempower_queries(factory.get("/queries", {"queries": raw})) <= 500


@given(raw=st.one_of(text, st.integers(min_value=-(10**30), max_value=10**30).map(str)))
def test_bounded_int_accepts_exactly_the_range(raw):
    request = factory.get("/wait/sync", {"ms": raw})
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is not None and 0 <= value <= 10_000:
        assert bounded_int(request, "ms", 100, 0, 10_000) == value
    else:
        with pytest.raises(BadRequest, match="ms must be"):
            bounded_int(request, "ms", 100, 0, 10_000)


def test_bounded_int_default_when_missing():
    assert bounded_int(factory.get("/wait/sync"), "ms", 100, 0, 10_000) == 100
