"""The landing page: which server answered, every port of the stack, and the chat where it can work.

The port list is servers.toml's. The app reads that file itself rather than importing the
`stack` package: every server's process (and the app image) has only app/ on its path, and the
page needs nothing but ports, labels and protocols.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.http.request import split_domain_port
from django.shortcuts import render

SERVERS_FILE = Path(settings.BASE_DIR).parent / "servers.toml"

# What a chat socket's close code means, for the page to say why it lost its connection
# (the README's table, plus the codes a browser reports when no close frame came).
CLOSE_CODES = {
    1000: "closed normally",
    1001: "the server is going away (a restart or a deploy); reconnecting",
    1003: "the chat takes text frames of JSON only",
    1006: "the connection dropped without a close frame: the server or nginx is unreachable",
    1008: "a rule was broken: an invalid room name, or messages faster than the server allows",
    1009: "the message was larger than the server accepts",
    1011: "the server hit an unexpected error",
    1013: "the chat's channel layer (Redis) is unreachable; try again later",
}


@dataclass(frozen=True)
class Port:
    """One nginx port: who answers plain HTTP there, and who answers WebSockets (None: nobody)."""

    port: int
    label: str
    http: str
    websocket: str | None
    tls: bool = False

    def url(self, host: str) -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/"


@functools.cache
def ports() -> tuple[Port, ...]:
    data = tomllib.loads(SERVERS_FILE.read_text())
    production = data["production"]
    routing = f"production routing: HTTP to {production['http']}, WebSockets to {production['websocket']}"
    listed = [
        Port(production["port"], routing, production["http"], production["websocket"]),
        Port(production["tls_port"], f"{routing}, over TLS and HTTP/2", production["http"],
             production["websocket"], tls=True),
    ]
    for name, server in data["servers"].items():
        websocket = name if server["protocol"] == "asgi" else None
        listed.append(Port(server["port"], f"{server['label']} only", name, websocket))
    return tuple(listed)


def asgi_servers() -> set[str]:
    return {port.websocket for port in ports() if port.websocket}


def this_port(request) -> Port:
    """The nginx port the request came through (nginx says so in X-Forwarded-Port).

    Reached some other way, the page guesses from the server that answered it.
    """
    forwarded = request.headers.get("X-Forwarded-Port", "")
    for port in ports():
        if forwarded == str(port.port):
            return port
    served_by = settings.SERVED_BY
    websocket = None if served_by in wsgi_servers() else served_by
    return Port(int(request.get_port()), f"{served_by}, not through nginx", served_by, websocket)


def wsgi_servers() -> set[str]:
    return {port.http for port in ports()} - asgi_servers()


def index(request):
    here = this_port(request)
    host, _ = split_domain_port(request.get_host())
    links = [{"port": port, "here": port == here, "url": port.url(host)} for port in ports()]
    chat_links = [link for link in links if link["port"].websocket and not link["port"].tls]
    return render(request, "bench/index.html", {
        "server": settings.SERVED_BY,
        "here": here,
        "links": links,
        "chat_links": chat_links,
        "close_codes": CLOSE_CODES,
    })
