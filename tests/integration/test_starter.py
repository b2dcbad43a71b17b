"""The starter lifts out: docs/starter.md's files, copied into an empty folder, serve a new app.

The copy gets exactly the files the page lists to copy, the edits it says to make (the site's
apps in SITE_APPS, only production's servers in servers.toml), and a tiny app of its own: a view,
a static file and a WebSocket consumer that answers through the channel layer. The copy's own
`python -m stack up` starts it, and everything is checked through its nginx over real sockets.
A core file that imports the demo, a file the core needs but the page leaves out, or a demo URL
that survives the copy fails it.

The copy runs beside the project's host run, if that is up: its ports are free ones (servers.toml
and LOCAL_PG_PORT/LOCAL_REDIS_PORT, which the host run reads), the only edit not in the page.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import httpx
import pytest
import websocket

from stack.servers import ROOT

pytestmark = pytest.mark.integration

PAGE = ROOT / "docs" / "starter.md"
COPY_MARKER = "<!-- files to copy -->"
CONTAINER_MARKER = "<!-- files to copy for containers -->"
APP = "hello"

# The tiny app of a starter's user: one view, one static file, one consumer. The consumer answers
# through a group, so the core's channel layer (Redis) carries it.
APP_FILES = {
    "__init__.py": "",
    "views.py": '''
from django.http import JsonResponse
from django.templatetags.static import static


def hello(request):
    return JsonResponse({"hello": "world", "static": static("hello/hello.txt")})
''',
    "urls.py": '''
from django.urls import path

from . import views

urlpatterns = [path("hello", views.hello)]
''',
    "consumers.py": '''
from channels.generic.websocket import AsyncWebsocketConsumer


class HelloConsumer(AsyncWebsocketConsumer):
    groups = ["hello"]

    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send("hello", {"type": "hello.message", "text": text_data})

    async def hello_message(self, event):
        await self.send(text_data=f"hello, {event['text']}")
''',
    "routing.py": '''
from django.urls import path

from .consumers import HelloConsumer

websocket_urlpatterns = [path("ws/hello/", HelloConsumer.as_asgi())]
''',
    "static/hello/hello.txt": "a static file of the starter's own app\n",
}


def listed(marker: str) -> list[str]:
    """The paths in the code block that follows `marker` in the page."""
    text = PAGE.read_text()
    assert marker in text, f"{PAGE.name} lost its marker {marker!r}"
    block = re.search(r"```text\n(.*?)```", text[text.index(marker):], re.DOTALL)
    assert block, f"no ```text block after {marker!r} in {PAGE.name}"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def copy_listed(target: Path) -> None:
    for name in listed(COPY_MARKER):
        source = ROOT / name
        assert source.exists(), f"{PAGE.name} says to copy {name}, which does not exist"
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def set_site_apps(target: Path) -> None:
    """The page's one settings edit: SITE_APPS names the site's own apps."""
    settings = target / "app" / "config" / "settings.py"
    text, count = re.subn(r"^SITE_APPS = .*$", f'SITE_APPS = ["{APP}"]', settings.read_text(), flags=re.M)
    assert count == 1, "settings.py should have one SITE_APPS line, as docs/starter.md says"
    settings.write_text(text)


def keep_production_servers(target: Path) -> dict[str, int]:
    """servers.toml with only production's servers, as the page says, on free ports; the ports."""
    path = target / "servers.toml"
    spec = tomllib.loads(path.read_text())
    keep = {spec["production"]["http"], spec["production"]["websocket"]}
    sections = re.split(r"(?m)^(?=\[)", path.read_text())
    text = "".join(s for s in sections if not (m := re.match(r"\[servers\.([\w-]+)\]", s)) or m[1] in keep)
    keys = ["port", "tls_port"]
    keys += [f"{name}.{key}" for name in sorted(keep) for key in ("port", "internal_port")]
    ports = dict(zip(keys, free_ports(len(keys)), strict=True))
    current = None

    def replace(line: str) -> str:
        nonlocal current
        if header := re.match(r"\[servers\.([\w-]+)\]", line):
            current = header[1]
        if key := re.match(r"(port|tls_port|internal_port) = \d+$", line):
            return f"{key[1]} = {ports[f'{current}.{key[1]}' if current else key[1]]}"
        return line

    path.write_text("\n".join(replace(line) for line in text.splitlines()) + "\n")
    return ports


def add_app(target: Path) -> None:
    for name, content in APP_FILES.items():
        path = target / "app" / APP / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content.lstrip())


def stack_command(target: Path, env: dict[str, str], command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stack", command], cwd=target, env=env,
                          capture_output=True, text=True, timeout=600)


def logs(target: Path) -> str:
    found = sorted((target / ".run" / "logs").glob("*.log"))
    return "\n".join(f"--- {log.name} ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
                     for log in found)


@pytest.fixture(scope="module")
def starter():
    """The copy, up; stopped and removed at the end."""
    # Traversable by the `postgres` user the host run hands PostgreSQL to when run as root.
    target = Path(tempfile.mkdtemp(prefix="starter-"))
    target.chmod(0o755)
    copy_listed(target)
    set_site_apps(target)
    ports = keep_production_servers(target)
    add_app(target)
    pg_port, redis_port = free_ports(2)
    # A new user's shell: none of the project's run settings that tests.environment exported.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
           "LOCAL_PG_PORT": str(pg_port), "LOCAL_REDIS_PORT": str(redis_port)}
    try:
        started = stack_command(target, env, "up")
        if started.returncode != 0:
            pytest.fail(f"the starter copy did not start:\n{started.stdout}\n{started.stderr}\n"
                        f"{logs(target)}")
        yield target, ports
    finally:
        stack_command(target, env, "down")
        shutil.rmtree(target, ignore_errors=True)


def nginx_ports(ports: dict[str, int]) -> list[tuple[int, str]]:
    """(port, who answers HTTP there): production, then each kept server's own."""
    spec = tomllib.loads((ROOT / "servers.toml").read_text())["production"]
    return [(ports["port"], spec["http"]), (ports[f"{spec['http']}.port"], spec["http"]),
            (ports[f"{spec['websocket']}.port"], spec["websocket"])]


def test_health_and_readiness_on_every_port(starter):
    target, ports = starter
    with httpx.Client(timeout=10) as client:
        for port, name in nginx_ports(ports):
            assert client.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok", "server": name}
            ready = client.get(f"http://127.0.0.1:{port}/readyz")
            assert ready.status_code == 200, (port, ready.text)
            assert ready.json()["checks"] == {"postgresql": "ok", "redis": "ok"}
    trust = ssl.create_default_context(cafile=target / "certs" / "ca.crt")
    with httpx.Client(timeout=10, verify=trust) as client:
        assert client.get(f"https://127.0.0.1:{ports['tls_port']}/readyz").json()["status"] == "ok"


def test_its_view_and_static_file(starter):
    _, ports = starter
    with httpx.Client(timeout=10) as client:
        for port, name in nginx_ports(ports):
            response = client.get(f"http://127.0.0.1:{port}/hello")
            assert response.status_code == 200, (port, response.text[:200])
            assert response.headers["x-served-by"] == name
            body = response.json()
            assert body["hello"] == "world"
            static = client.get(f"http://127.0.0.1:{port}{body['static']}")
            assert static.status_code == 200, (port, body["static"])
            assert static.text == APP_FILES["static/hello/hello.txt"]
            assert static.headers["x-served-by"] == "nginx"
            assert "immutable" in static.headers["cache-control"]
            assert client.get(f"http://127.0.0.1:{port}/favicon.ico").status_code == 200


def test_its_websocket_through_the_channel_layer(starter):
    _, ports = starter
    production, _, (asgi_port, _) = nginx_ports(ports)
    for port in (production[0], asgi_port):  # production's /ws/ and the ASGI server's own port
        socket_ = websocket.create_connection(f"ws://127.0.0.1:{port}/ws/hello/", timeout=10,
                                              origin=f"http://127.0.0.1:{port}")
        try:
            socket_.send("starter")
            assert socket_.recv() == "hello, starter"
        finally:
            socket_.close()


def test_the_demo_is_not_there(starter):
    target, ports = starter
    assert not (target / "app" / "bench").exists() and not (target / "app" / "realtime").exists()
    with httpx.Client(timeout=10) as client:
        for path in ("/", "/plaintext", "/json/async", "/fortunes"):
            response = client.get(f"http://127.0.0.1:{ports['port']}{path}")
            assert response.status_code == 404, path
            assert response.json()["error"] == "not found", path
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"ws://127.0.0.1:{ports['port']}/ws/chat/lobby/", timeout=10,
                                    origin=f"http://127.0.0.1:{ports['port']}")
    assert refused.value.status_code == 403


def test_the_container_files_the_page_lists_exist():
    """Not run here (the container suites run the project itself), but never a dead path."""
    for name in listed(CONTAINER_MARKER):
        assert (ROOT / name).exists(), f"{PAGE.name} says to copy {name}, which does not exist"
