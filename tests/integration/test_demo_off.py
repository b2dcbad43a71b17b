"""DEMO_ENABLED=0: the core alone, on a real WSGI and a real ASGI server over real sockets.

Each server runs from its own start script with the host run's PostgreSQL and Redis, the demo
switched off: every demo URL is the core's JSON 404, the probes answer, and a WebSocket handshake
for the demo's chat is refused instead of reaching a consumer.
"""

import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager

import httpx
import pytest
import websocket

from stack import local
from stack.servers import ROOT
from tests.stacks import HOST_RUN_ONLY

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("stack"), HOST_RUN_ONLY]

DEMO_PATHS = ["/", "/plaintext", "/plaintext/async", "/json", "/json/async", "/db", "/queries",
              "/fortunes", "/updates", "/wait/sync", "/wait/async", "/db/sync", "/db/async",
              "/sse/sync", "/sse/async"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server_without_demo(script: str, name: str):
    """The server's start script on a free port with DEMO_ENABLED=0; stopped (its whole process
    group) at the end."""
    port = free_port()
    env = {**local.app_environment(), "DEMO_ENABLED": "0", "SERVED_BY": name, "HOST": "127.0.0.1",
           "PORT": str(port), "WEB_CONCURRENCY": "1"}
    process = subprocess.Popen([str(ROOT / script)], cwd=ROOT, env=env, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not local.healthy(port):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"{script} with DEMO_ENABLED=0 did not start:\n{process.stdout.read().decode()}")
            time.sleep(0.25)
        yield f"127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        process.stdout.close()


@pytest.mark.parametrize(("script", "name"), [("gunicorn/start", "gunicorn-core"),
                                              ("uvicorn/start", "uvicorn-core")])
def test_without_the_demo_its_urls_are_json_404_and_the_probes_answer(script, name):
    with server_without_demo(script, name) as address, httpx.Client(timeout=10) as client:
        for path in DEMO_PATHS:
            response = client.get(f"http://{address}{path}")
            assert response.status_code == 404, (script, path, response.text[:200])
            assert response.json() == {"error": "not found", "status": 404,
                                       "detail": f"no endpoint at {path}"}, (script, path)
            assert response.headers["x-served-by"] == name, (script, path)
        assert client.get(f"http://{address}/healthz").json() == {"status": "ok", "server": name}
        ready = client.get(f"http://{address}/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"postgresql": "ok", "redis": "ok"}


def test_without_the_demo_a_chat_handshake_is_refused():
    with server_without_demo("uvicorn/start", "uvicorn-core") as address:
        for path in ("/ws/echo/", "/ws/chat/lobby/"):
            with pytest.raises(websocket.WebSocketBadStatusException) as refused:
                websocket.create_connection(f"ws://{address}{path}", timeout=10,
                                            origin=f"http://{address}")
            assert refused.value.status_code == 403, path
