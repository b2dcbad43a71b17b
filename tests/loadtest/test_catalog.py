import pytest

from loadtest.scenarios.catalog import KINDS, SCENARIOS, is_kind, of_kind


def test_of_kind_keeps_the_items_of_that_kind_in_order():
    assert [s.name for s in of_kind(SCENARIOS, "sse")] == ["sse_sync", "sse_async"]
    assert is_kind(SCENARIOS[0], "http") and not is_kind(SCENARIOS[0], "wrk")


@pytest.mark.parametrize("select", [
    # No item at all: a comparison with the misspelt name would have selected nothing, silently.
    lambda name: of_kind([], name),
    lambda name: of_kind(SCENARIOS, name),
    lambda name: is_kind(SCENARIOS[0], name),
])
def test_a_misspelt_kind_name_raises_naming_the_known_kinds(select):
    with pytest.raises(KeyError) as raised:
        select("ws_capacty")
    message = str(raised.value)
    assert "'ws_capacty'" in message
    assert all(name in message for name in KINDS)
