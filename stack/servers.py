"""The server set, read from servers.toml: the one list every runner, test and config uses."""

from __future__ import annotations

import signal
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVERS_FILE = ROOT / "servers.toml"
UPSTREAM_PROTOCOLS = ("http", "uwsgi")


@dataclass(frozen=True)
class Server:
    name: str
    label: str
    protocol: str
    port: int
    internal_port: int
    command: str
    env: dict[str, str] = field(default_factory=dict)
    reload: str = "HUP"
    # How nginx talks to it: "http" (proxy_pass) or "uwsgi" (uwsgi_pass, uWSGI's own protocol).
    upstream_protocol: str = "http"
    # The signal that stops it gracefully: in-flight requests finish first.
    stop_signal: str = "TERM"
    # The image it runs in: "app" (the one Dockerfile), or one derived from it (modwsgi/Dockerfile).
    image: str = "app"
    # A script that exits 0 when the server on PORT (its argument) is alive; None: GET /healthz.
    healthcheck: str | None = None
    # Known, documented departures from what the others do; tests and reports read them.
    quirks: tuple[str, ...] = ()
    # "stock": Django's default ASGI plumbing, run beside the tuned path so the report can show both.
    django: str = "tuned"

    @property
    def reload_signal(self) -> str | None:
        """The signal name (HUP, USR1) when `reload` is one, None when it is a script."""
        return self.reload if self.reload.isupper() and "/" not in self.reload else None

    @property
    def websocket(self) -> bool:
        return self.protocol == "asgi"


@dataclass(frozen=True)
class Production:
    port: int
    tls_port: int
    http: Server
    websocket: Server


@dataclass(frozen=True)
class Topology:
    servers: tuple[Server, ...]
    production: Production

    def __getitem__(self, name: str) -> Server:
        for server in self.servers:
            if server.name == name:
                return server
        raise KeyError(f"no server named {name!r} in {SERVERS_FILE.name}; known: {self.names}")

    @property
    def names(self) -> list[str]:
        return [server.name for server in self.servers]

    def http_ports(self) -> list[tuple[int, str]]:
        """(nginx port, the server answering HTTP there): the production port, then each server's."""
        return [(self.production.port, self.production.http.name)] + [
            (server.port, server.name) for server in self.servers
        ]

    def websocket_ports(self) -> list[tuple[int, str]]:
        """(nginx port, the server answering WebSockets there), the same way."""
        return [(self.production.port, self.production.websocket.name)] + [
            (server.port, server.name) for server in self.servers if server.websocket
        ]


def load(path: Path = SERVERS_FILE) -> Topology:
    data = tomllib.loads(path.read_text())
    servers = tuple(
        Server(
            name=name,
            **{
                **spec,
                "env": {k: str(v) for k, v in spec.get("env", {}).items()},
                "quirks": tuple(spec.get("quirks", ())),
            },
        )
        for name, spec in data["servers"].items()
    )
    for server in servers:
        if server.protocol not in ("wsgi", "asgi"):
            raise ValueError(f"{path.name}: {server.name}: protocol must be wsgi or asgi, "
                             f"not {server.protocol!r}")
        if server.upstream_protocol not in UPSTREAM_PROTOCOLS:
            raise ValueError(f"{path.name}: {server.name}: upstream_protocol must be one of "
                             f"{', '.join(UPSTREAM_PROTOCOLS)}, not {server.upstream_protocol!r}")
        for key, name in (("reload", server.reload_signal), ("stop_signal", server.stop_signal)):
            if name and not hasattr(signal, f"SIG{name}"):
                raise ValueError(f"{path.name}: {server.name}: {key} = {name!r} is no signal name")
        if server.upstream_protocol == "uwsgi" and server.websocket:
            raise ValueError(f"{path.name}: {server.name}: the uwsgi protocol cannot carry WebSockets; "
                             "an ASGI server needs upstream_protocol = \"http\"")
    by_name = {server.name: server for server in servers}
    production = data["production"]
    ports = [production["port"], production["tls_port"]]
    ports += [s.port for s in servers] + [s.internal_port for s in servers]
    if len(set(ports)) != len(ports):
        raise ValueError(f"{path.name}: every port must be unique, got {ports}")
    for role in ("http", "websocket"):
        if production[role] not in by_name:
            raise ValueError(f"{path.name}: production {role} server {production[role]!r} is not defined")
    websocket = by_name[production["websocket"]]
    if not websocket.websocket:
        raise ValueError(f"{path.name}: production websocket server {websocket.name!r} is not ASGI")
    return Topology(
        servers=servers,
        production=Production(
            port=production["port"],
            tls_port=production["tls_port"],
            http=by_name[production["http"]],
            websocket=websocket,
        ),
    )
