from loadtest.scenarios.catalog import SCENARIOS, by_name
from loadtest.scenarios.profiles import FULL, QUICK, estimate_s, fit_measure_s, in_profile, plan
from stack import servers

SIX_SERVERS = [
    ("gunicorn", "wsgi"),
    ("gthread", "wsgi"),
    ("uvicorn", "asgi"),
    ("daphne", "asgi"),
    ("gunicorn_asgi", "asgi"),
    ("granian", "asgi"),
]


def test_the_quick_plan_of_the_real_servers_fits_five_minutes():
    # servers.toml as it is: every contender added there must still fit the quick budget.
    contenders = [(s.name, s.protocol) for s in servers.load().servers]
    cells = plan(QUICK, in_profile(QUICK, list(SCENARIOS)), contenders)
    measure = fit_measure_s(QUICK, cells)
    assert QUICK.budget_s == 300
    assert estimate_s(QUICK, cells, measure) <= QUICK.budget_s, (
        f"{len(contenders)} servers, {len(cells)} cells of {measure} s: over the 5-minute budget"
    )


def test_scenarios_only_meet_servers_of_their_protocol():
    cells = plan(QUICK, by_name(["ws_echo", "ws_handshake", "json"]), SIX_SERVERS)
    wsgi = {name for name, protocol in SIX_SERVERS if protocol == "wsgi"}
    assert {c.server for c in cells if c.scenario.name == "ws_handshake"} == wsgi
    assert not {c.server for c in cells if c.scenario.name == "ws_echo"} & wsgi
    assert len([c for c in cells if c.scenario.name == "json"]) == 6


def test_full_profile_repeats_whole_rounds():
    cells = plan(FULL, by_name(["json"]), SIX_SERVERS[:2])
    assert [(c.server, c.run) for c in cells] == [
        ("gunicorn", 1),
        ("gthread", 1),
        ("gunicorn", 2),
        ("gthread", 2),
        ("gunicorn", 3),
        ("gthread", 3),
    ]
    assert fit_measure_s(FULL, cells) == FULL.measure_s


def test_quick_is_a_subset_and_every_scenario_has_a_protocol():
    quick = {s.name for s in in_profile(QUICK, list(SCENARIOS))}
    assert quick < {s.name for s in in_profile(FULL, list(SCENARIOS))}
    assert all(s.protocols for s in SCENARIOS)
    assert len({s.name for s in SCENARIOS}) == len(SCENARIOS)
