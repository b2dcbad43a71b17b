"""The summary's sentences come from the run's numbers: who is best, by the measure that fits."""

from loadtest.model.results import CellResult, summarize_runs
from loadtest.reporting import heatmap, lineup
from loadtest.reporting.findings import Cells, findings

META = {
    "servers": [
        {"name": "uvicorn", "protocol": "asgi"},
        {"name": "gunicorn", "protocol": "wsgi"},
        {"name": "uvicorn-stock", "protocol": "asgi", "django": "stock"},
        {"name": "granian-wsgi", "protocol": "wsgi"},
    ],
    "baselines": {"http": "gunicorn", "websocket": "uvicorn"},
}
# requests per server CPU second / rps per scenario and server
EFFICIENCY = {"gunicorn": 1000.0, "granian-wsgi": 2000.0, "uvicorn": 500.0, "uvicorn-stock": 250.0}
WAITING_RPS = {"gunicorn": 20.0, "granian-wsgi": 20.0, "uvicorn": 400.0, "uvicorn-stock": 300.0}


def run_cells() -> list[CellResult]:
    found = []
    for server, efficiency in EFFICIENCY.items():
        for scenario in ("plaintext", "json"):
            found.append(
                CellResult(server, scenario, "http", 1, rps=efficiency / 2, req_per_server_cpu_s=efficiency)
            )
        # A waiting WSGI worker is idle: it is the most "efficient" per CPU second and the slowest.
        efficiency_waiting = 5000.0 if server == "gunicorn" else 300.0
        found.append(CellResult(server, "wait_async", "http", 1, rps=WAITING_RPS[server],
                                req_per_server_cpu_s=efficiency_waiting))
    for server in ("uvicorn", "uvicorn-stock"):
        found.append(CellResult(server, "ws_echo", "ws_echo", 1, rps=1600.0,
                                req_per_server_cpu_s=800.0 if server == "uvicorn" else 1200.0))
    for server in ("gunicorn", "granian-wsgi"):
        found.append(CellResult(server, "ws_handshake", "ws_handshake", 1, rps=0.0,
                                extra={"answers": {"handshake refused: HTTP 501": 10}}))
    found.append(CellResult("uvicorn", "db", "http", 1, error="ConnectionError: refused"))
    found.append(CellResult("gunicorn", "db", "http", 1, rps=500.0, req_per_server_cpu_s=900.0))
    return found


def summary():
    cells = run_cells()
    errors = {(c.scenario, c.server): c.error for c in cells if c.error}
    return findings(summarize_runs(cells), lineup.from_meta(META), errors)


def line(found, title: str) -> str:
    return next(text for text in found.stories + found.trust if text.startswith(f"**{title}"))


def test_sync_work_names_the_most_efficient_server_and_the_ratios_to_the_baseline():
    sync = line(summary(), "Sync work")
    assert sync.startswith("**Sync work** (requests per server CPU second ÷ gunicorn's, geometric mean of")
    # the stock path is not the ASGI side's best
    assert "Best WSGI vs best ASGI server: **granian-wsgi 4.00×** uvicorn." in sync
    # db ran on gunicorn alone (uvicorn's cell failed): gunicorn is its best
    ranking = "**granian-wsgi 2.00×** (best in plaintext and json; gunicorn best in db), gunicorn 1.00×"
    assert ranking + ", uvicorn 0.50×, uvicorn-stock 0.25×" in sync
    assert "Tuned vs stock Django on ASGI: uvicorn 0.50×, stock uvicorn-stock 0.25×" in sync


def test_waiting_is_judged_by_requests_per_second_not_cpu():
    waiting = line(summary(), "Waiting")
    assert waiting.startswith("**Waiting** (requests per second at equal users ÷ gunicorn's, wait_async)")
    assert "Best ASGI vs best WSGI server: **uvicorn 20.00×** gunicorn (wait_async: 400 vs 20 rps)" in waiting
    assert "**uvicorn 20.00×** (best in wait_async)" in waiting


def test_websockets_name_the_refusals_and_the_cheapest_asgi_server():
    websockets = line(summary(), "WebSockets")
    assert "gunicorn and granian-wsgi: handshake refused: HTTP 501, every attempt" in websockets
    cheapest = "**uvicorn-stock** carried the same paced load on the least server CPU (1.50× uvicorn's"
    assert cheapest in websockets


def test_invalid_cells_are_named_with_the_reason():
    assert "db @ uvicorn (cell failed: ConnectionError: refused)" in line(summary(), "Not results")
    assert "not measured in this run" in line(summary(), "Capacity")


def test_the_heat_map_is_ratios_to_each_family_baseline():
    cells = run_cells()
    table = Cells(summarize_runs(cells), lineup.from_meta(META))
    assert table.lineup.names == ["gunicorn", "granian-wsgi", "uvicorn", "uvicorn-stock"]  # WSGI first
    assert table.ratio("plaintext", "uvicorn") == 0.5
    assert table.ratio("wait_async", "uvicorn") == 20.0
    assert table.ratio("ws_echo", "uvicorn-stock") == 1.5
    assert table.ratio("db", "uvicorn") is None  # failed: no figure
    assert heatmap.columns(table) == ["plaintext", "json", "db", "wait_async", "ws_echo"]  # no checks
    figure = heatmap.heatmap(table)
    (ax,) = figure.axes
    assert [label.get_text().split("\n")[0] for label in ax.get_xticklabels()] == heatmap.columns(table)
    assert [label.get_text() for label in ax.get_yticklabels()] == table.lineup.names
    shown = [text.get_text() for text in ax.texts]
    assert "invalid" in shown  # db @ uvicorn failed: hatched, no ratio
    assert "0.50×" in shown and "20.00×" in shown and "1.50×" in shown  # the ratios asserted above


def test_a_lone_asgi_server_is_described_by_its_valid_cells_only():
    cells = [
        CellResult("uvicorn", "ws_echo", "ws_echo", 1, rps=1600.0, req_per_server_cpu_s=800.0,
                   loadgen_bound=True),
        CellResult("uvicorn", "ws_chat", "ws_chat", 1, rps=400.0, req_per_server_cpu_s=1000.0),
    ]
    meta = {"servers": [{"name": "uvicorn", "protocol": "asgi"}]}
    found = findings(summarize_runs(cells), lineup.from_meta(meta), {})
    assert "uvicorn, the only ASGI server here, carried ws_chat at 1,000 per server CPU second" in line(
        found, "WebSockets")
    assert "ws_echo @ uvicorn (load generator bound)" in line(found, "Not results")
    assert line(findings([], lineup.from_meta(meta), {}), "No cell finished") == (
        "**No cell finished:** there is nothing to report yet.")
