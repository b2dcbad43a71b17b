"""The capacity ramp's verdict (clients held, why it stopped) on recorded steps."""

import os

from loadtest.drivers.capacity import Step, clients_held, held_text, per_core, server_side, why_stopped
from loadtest.measuring.server_cpu import ProcessTreeMeter
from loadtest.model.results import CellResult, summarize_runs
from loadtest.reporting.tables import capacity_table


def step(clients, p95, failures=0, lost=0, demand=30.0, bound=False):
    return Step(
        clients=clients, handshake_failures=failures, broadcasts=10, lost=lost, p50_ms=p95 / 2, p95_ms=p95,
        loadgen_demand_pct=demand, loadgen_bound=bound,
    )


def test_held_is_the_last_step_under_the_bound():
    steps = [step(100, 20), step(200, 90), step(300, 240), step(400, 310)]
    assert clients_held(steps, 250) == 300
    assert why_stopped(steps, 250, 3000) == "broadcast p95 310 ms > 250 ms at 400 clients"


def test_a_failed_handshake_ends_the_ramp_even_when_fast():
    steps = [step(100, 20), step(180, 30, failures=20)]
    assert clients_held(steps, 250) == 100
    assert why_stopped(steps, 250, 3000) == "20 handshakes failed at 200 clients"


def test_lost_deliveries_fail_a_step():
    steps = [step(100, 20), step(200, 30, lost=5)]
    assert clients_held(steps, 250) == 100
    assert "5 deliveries lost" in why_stopped(steps, 250, 3000)


def test_a_recovery_after_a_failed_step_does_not_count():
    steps = [step(100, 20), step(200, 400), step(300, 100)]
    assert clients_held(steps, 250) == 100


def test_reaching_the_maximum():
    steps = [step(100, 20), step(200, 30)]
    assert clients_held(steps, 250) == 200
    assert why_stopped(steps, 250, 200) == "reached the profile's maximum of 200 clients"
    assert clients_held([], 250) == 0


def test_a_step_the_client_could_not_keep_up_with_ends_the_ramp_as_a_lower_bound():
    steps = [step(100, 20), step(200, 60), step(300, 120, demand=93.0, bound=True)]
    assert clients_held(steps, 250) == 200  # fast enough, but measured by a saturated client
    assert held_text(steps, 250) == "at least 200 (load generator bound)"
    assert why_stopped(steps, 250, 3000).startswith("load generator bound at 300 clients (its demand 93 %")
    assert held_text(steps[:2], 250) == "200"


def test_the_server_side_is_read_from_its_processes():
    """This process stands in for a server: its real affinity, pinned to one CPU and back."""
    here = os.getpid()
    before = os.sched_getaffinity(here)
    try:
        os.sched_setaffinity(here, {min(before)})
        assert server_side(ProcessTreeMeter(here, "this test")) == {"server_cpus": 1, "server_processes": 1}
    finally:
        os.sched_setaffinity(here, before)
    assert server_side(ProcessTreeMeter(here, "this test"))["server_cpus"] == len(before)


def test_the_capacity_table_states_members_per_server_cpu():
    steps = [step(2000, 200).as_dict(), step(2250, 300).as_dict()]
    cell = CellResult("uvicorn", "ws_capacity", "ws_capacity", 1, rps=2000.0, p50_ms=100, p95_ms=200,
                      p99_ms=None, requests=20, loadgen_bound=False,
                      extra={"clients_held": 2000, "bound_ms": 250, "stopped_because": "p95", "steps": steps,
                             "server_cpus": 2, "server_processes": 3, "per_core": per_core(2000, 2)})
    table = capacity_table(summarize_runs([cell]))
    row = dict(zip(table.headers, table.rows[0], strict=True))
    assert row["clients held"] == "2,000"
    assert row["per server CPU"] == "1,000"
    assert row["server CPUs / processes"] == "2 / 3"
    assert per_core(2000, 0) is None
