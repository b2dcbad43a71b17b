"""Through nginx over real sockets: every endpoint on every port, WebSockets across servers."""

import json
import time
import uuid

import httpx
import pytest
import websocket

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("stack")]

ENDPOINTS = [
    ("/", "text/html"),
    ("/plaintext", "text/plain"),
    ("/plaintext/async", "text/plain"),
    ("/json", "application/json"),
    ("/json/async", "application/json"),
    ("/db", "application/json"),
    ("/queries?queries=5", "application/json"),
    ("/fortunes", "text/html"),
    ("/updates?queries=3", "application/json"),
    ("/wait/sync?ms=10", "application/json"),
    ("/wait/async?ms=10", "application/json"),
    ("/db/sync", "application/json"),
    ("/db/async", "application/json"),
    ("/sse/sync?events=2&interval_ms=10", "text/event-stream"),
    ("/sse/async?events=2&interval_ms=10", "text/event-stream"),
    ("/healthz", "application/json"),
    ("/readyz", "application/json"),
]


def test_every_endpoint_on_every_port(topology):
    with httpx.Client(timeout=10) as client:
        for port, name in topology.http_ports():
            for path, content_type in ENDPOINTS:
                response = client.get(f"http://127.0.0.1:{port}{path}")
                assert response.status_code == 200, (port, path, response.text[:200])
                assert response.headers["x-served-by"] == name, (port, path)
                assert response.headers["content-type"].startswith(content_type), (port, path)


@pytest.mark.parametrize("path", ["/plaintext", "/plaintext/async", "/json", "/json/async"])
def test_techempower_response_rules_on_every_port(topology, path):
    """TechEmpower's rules for plaintext and json: the exact body and type, Server and Date,
    a length, no compression even when asked (the async views must answer exactly as the sync)."""
    plaintext = path.startswith("/plaintext")
    with httpx.Client(timeout=10, headers={"Accept-Encoding": "gzip, deflate"}) as client:
        for port, name in topology.http_ports():
            response = client.get(f"http://127.0.0.1:{port}{path}")
            where = (port, name, path)
            assert response.status_code == 200, where
            assert "content-encoding" not in response.headers, where
            assert {"server", "date"} <= response.headers.keys(), where
            length = response.headers.get("content-length")
            assert length == str(len(response.content)) or response.headers.get("transfer-encoding"), where
            if plaintext:
                assert response.headers["content-type"] == "text/plain", where
                assert response.content == b"Hello, World!", where
            else:
                assert response.headers["content-type"] == "application/json", where
                assert response.json() == {"message": "Hello, World!"}, where
                assert len(response.content) <= 28, where


def test_bad_parameters_are_json_400_on_every_port(topology):
    with httpx.Client(timeout=10) as client:
        for port, name in topology.http_ports():
            response = client.get(f"http://127.0.0.1:{port}/wait/async?ms=-5")
            assert response.status_code == 400
            assert response.json()["error"] == "bad request"
            assert response.headers["x-served-by"] == name


def test_static_files_come_from_nginx_with_a_long_cache(topology):
    with httpx.Client(timeout=10) as client:
        page = client.get(f"http://127.0.0.1:{topology.production.port}/").text
        script = page.split('<script src="')[1].split('"')[0]
        for port, _ in topology.http_ports():
            response = client.get(f"http://127.0.0.1:{port}{script}")
            assert response.status_code == 200
            assert response.headers["x-served-by"] == "nginx"
            assert "immutable" in response.headers["cache-control"]
            assert response.headers["server"] == "nginx"  # no version: server_tokens off


def open_socket(port: int, path: str) -> websocket.WebSocket:
    return websocket.create_connection(
        f"ws://127.0.0.1:{port}{path}", timeout=10, origin=f"http://127.0.0.1:{port}"
    )


def test_websocket_echo_on_every_asgi_port(topology):
    for port, name in topology.websocket_ports():
        sock = open_socket(port, "/ws/echo/")
        try:
            # Servers that drop an app's handshake headers say so in servers.toml; the chat test
            # names them through its events instead.
            expected = None if "no-handshake-headers" in topology[name].quirks else name
            assert sock.getheaders().get("x-served-by") == expected, (port, name)
            message = json.dumps({"sent_at": time.time(), "n": port})
            sock.send(message)
            assert sock.recv() == message
            sock.send_binary(b"\x00\x01\x02")
            assert sock.recv() == b"\x00\x01\x02"
        finally:
            sock.close()


# Longer than channels-redis's blocking poll (5 s) and than that poll's retries (about 20 s):
# a consumer idle this long has waited on Redis several times over.
QUIET_SECONDS = 25


def chat_members(topology) -> dict[str, websocket.WebSocket]:
    """One member on each ASGI server, all in one new room."""
    room = f"/ws/chat/it-{uuid.uuid4().hex[:10]}/"
    members = {name: open_socket(port, room) for port, name in topology.websocket_ports()[1:]}
    assert len(members) >= 2
    return members


def assert_everyone_hears_everyone(members: dict[str, websocket.WebSocket]) -> None:
    for name, sock in members.items():
        sock.send(json.dumps({"message": f"hello from {name}", "sent_at": time.time(), "id": name}))
    for name, sock in members.items():
        frames = [sock.recv() for _ in members]
        assert all(frames), f"the server closed {name}'s socket"
        assert {json.loads(frame)["server"] for frame in frames} == set(members), name


def test_chat_crosses_servers_through_redis(topology):
    members = chat_members(topology)
    try:
        assert_everyone_hears_everyone(members)
    finally:
        for sock in members.values():
            sock.close()


def test_a_quiet_chat_member_stays_connected(topology):
    """Nobody speaks for a while: every member is still there, on every server, and hears the rest."""
    members = chat_members(topology)
    try:
        time.sleep(QUIET_SECONDS)
        assert_everyone_hears_everyone(members)
    finally:
        for sock in members.values():
            sock.close()


def test_websocket_on_a_wsgi_port_is_refused_with_a_clear_status(topology):
    for server in topology.servers:
        if server.websocket:
            continue
        # A refusal, not a hang: open_socket's timeout would raise something else.
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            open_socket(server.port, "/ws/echo/")
        assert refused.value.status_code == 501
        assert b"WSGI" in refused.value.resp_body


def test_foreign_origin_is_refused(topology):
    for port, _ in topology.websocket_ports():
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(f"ws://127.0.0.1:{port}/ws/echo/", timeout=10, origin="http://evil.example")
        assert refused.value.status_code == 403
