"""The endpoints through Django's test client, against the real PostgreSQL test database."""

import json

import pytest
from bench.models import Fortune, World
from django.utils.html import escape

pytestmark = pytest.mark.django_db


def test_seeded_tables():
    assert World.objects.count() == 10_000
    assert Fortune.objects.count() == 12


@pytest.mark.parametrize("suffix", ["", "/async"])
def test_plaintext_and_json(client, suffix):
    response = client.get(f"/plaintext{suffix}")
    assert response.status_code == 200
    assert response.content == b"Hello, World!"
    assert response["Content-Type"].startswith("text/plain")
    assert client.get(f"/json{suffix}").json() == {"message": "Hello, World!"}


@pytest.mark.parametrize("name", ["plaintext", "json"])
def test_the_async_variant_is_a_coroutine_beside_the_sync_view(name):
    """Beside, never instead: the sync URL keeps its sync view, so the bench can compare the two."""
    from asgiref.sync import iscoroutinefunction
    from django.urls import resolve

    assert not iscoroutinefunction(resolve(f"/{name}").func)
    assert iscoroutinefunction(resolve(f"/{name}/async").func)


def test_every_response_names_the_server(client, settings):
    settings.SERVED_BY = "unit"
    # The middleware reads the name when the stack is built, so rebuild it with the new name.
    from django.test import Client

    assert Client().get("/json")["X-Served-By"] == "unit"
    assert Client().get("/no/such/page")["X-Served-By"] == "unit"


def test_db_returns_a_world_row(client):
    row = client.get("/db").json()
    assert set(row) == {"id", "randomNumber"}
    assert World.objects.get(id=row["id"]).randomnumber == row["randomNumber"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 1), ("", 1), ("abc", 1), ("0", 1), ("-3", 1), ("1", 1), ("20", 20), ("500", 500), ("501", 500),
     ("99999999999999999999", 500)],
)
def test_queries_follows_techempower_clamping(client, raw, expected):
    url = "/queries" if raw is None else f"/queries?queries={raw}"
    rows = client.get(url).json()
    assert len(rows) == expected
    assert all(set(row) == {"id", "randomNumber"} for row in rows)


def test_updates_writes_the_new_numbers(client):
    rows = client.get("/updates?queries=5").json()
    assert len(rows) == 5
    for row in rows:
        assert World.objects.get(id=row["id"]).randomnumber == row["randomNumber"]


def test_fortunes_escapes_and_sorts(client):
    response = client.get("/fortunes")
    body = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert "<script>" not in body
    assert "&lt;script&gt;alert(&quot;This should not be displayed" in body
    assert "Additional fortune added at request time." in body
    assert "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af" in body
    assert body.index("A bad random number generator") < body.index("fortune: No such file")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_wait_reports_the_wait_it_measured(client, mode):
    body = client.get(f"/wait/{mode}?ms=50").json()
    assert body["asked_ms"] == 50 and body["mode"] == mode
    # Measured around the sleep, so a view that skipped it would report ~0. The event loop may
    # wake a timer up to its clock resolution early, hence 49.
    assert 49 <= body["waited_ms"] < 50 + 2000


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_db_read(client, mode):
    assert set(client.get(f"/db/{mode}").json()) == {"id", "randomNumber"}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_server_sent_events(client, mode):
    response = client.get(f"/sse/{mode}?events=3&interval_ms=1")
    assert response["Content-Type"] == "text/event-stream"
    assert response["X-Accel-Buffering"] == "no"
    chunks = b"".join(response).decode().strip().split("\n\n")
    assert [json.loads(chunk.split("data: ")[1])["event"] for chunk in chunks] == [1, 2, 3]


@pytest.mark.parametrize(
    "url",
    ["/wait/sync?ms=abc", "/wait/async?ms=-1", "/wait/sync?ms=10001", "/sse/sync?events=0",
     "/sse/async?interval_ms=x", "/sse/sync?events=1000&interval_ms=1000", "/wait/async?ms=1e3"],
)
def test_invalid_parameters_get_a_json_400(client, url):
    response = client.get(url)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad request"
    assert body["detail"]


def test_unknown_path_is_a_json_404(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not found"


def test_websocket_path_over_plain_http_explains_itself(client):
    assert client.get("/ws/echo/").status_code == 426
    refused = client.get("/ws/echo/", headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert refused.status_code == 501
    assert "WSGI" in refused.json()["detail"]


def test_healthz_runs_no_sql(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/healthz").json()["status"] == "ok"


def test_readyz_checks_postgresql_and_redis(client, settings):
    body = client.get("/readyz").json()
    checks = {"postgresql": "ok", "redis": "ok"}
    assert body == {"status": "ok", "server": settings.SERVED_BY, "checks": checks}


def test_readyz_names_what_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["down"] == ["redis"]


def test_the_page_lists_every_port_of_servers_toml(client, topology):
    body = client.get("/", headers={"X-Forwarded-Port": str(topology.production.port)}).content.decode()
    assert "Served by" in body
    ports = [topology.production.port, topology.production.tls_port, *(s.port for s in topology.servers)]
    for port in ports:
        assert f":{port}/" in body, port
    for server in topology.servers:
        assert escape(server.label) in body, server.name


def test_the_page_loads_the_chat_only_where_websockets_reach_an_asgi_server(client, topology):
    for port, _ in topology.websocket_ports():
        body = client.get("/", headers={"X-Forwarded-Port": str(port)}).content.decode()
        assert "/static/bench/chat." in body and 'id="close-codes"' in body, port
    for server in topology.servers:
        if not server.websocket:
            body = client.get("/", headers={"X-Forwarded-Port": str(server.port)}).content.decode()
            assert "/static/bench/chat." not in body, server.name
            assert "cannot hold a WebSocket" in body, server.name
            assert f':{topology.production.port}/">' in body, server.name


def test_admin_is_off_by_default(client):
    assert client.get("/admin/").status_code == 404
