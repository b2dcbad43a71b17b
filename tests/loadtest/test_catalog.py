import subprocess
import sys

import pytest

from loadtest.scenarios.catalog import KINDS, SCENARIOS, is_kind, of_kind
from stack.servers import ROOT


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


def test_every_kind_is_run_by_a_runner_of_its_own_or_by_locust_users():
    # run_cell falls back to Locust users for a kind not in RUNNERS, so a misspelt key there would
    # quietly run a kind the wrong way. A subprocess: importing them lets Locust monkey-patch.
    code = ("from loadtest.running.cells import RUNNERS; from loadtest.drivers.users import BASES; "
            "print(' '.join(RUNNERS)); print(' '.join(BASES))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=60)
    runners, bases = (set(line.split()) for line in done.stdout.splitlines())
    assert runners | bases == set(KINDS)
