"""Render docker-compose.yml from servers.toml and settings.toml (`python -m stack render`).

Committed like the Kubernetes manifests, so `docker compose` needs no Python; tests/deploy checks
the committed file is what this renders. The template (stack/docker-compose.yml.j2) holds what is
written by hand (nginx, PostgreSQL, Redis, migrate, the hardening); every server's service, nginx's
ports and its depends_on come from servers.toml, and every service's `environment:` is each
setting that service reads (settings.toml), as `${NAME:-default}` so .env reaches it.
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

from . import render, servers
from . import settings as settings_list
from .servers import ROOT, Server
from .settings import Setting

COMPOSE_FILE = ROOT / "docker-compose.yml"
TEMPLATE = "docker-compose.yml.j2"
HEADER = ("# Rendered from servers.toml and settings.toml by `python -m stack render`: do not edit by "
          "hand\n# (the hand-written parts are in stack/docker-compose.yml.j2).\n")
# nginx's fixed address in the Compose network, and the first server's (see the template).
NGINX_HOST = 10
FIRST_SERVER_HOST = 11


class Renderer:
    def __init__(self, topology: servers.Topology, settings: dict[str, Setting]):
        self.topology, self.settings = topology, settings

    def ref(self, name: str) -> str:
        """The user's value of a setting, as Compose interpolates it from .env or the shell."""
        setting = self.settings[name]
        if setting.required:
            return f"${{{name}:?set {name} in .env, see .env.example}}"
        return f"${{{name}:-{setting.default}}}"

    def value(self, setting: Setting) -> str:
        """What a container is given: the Compose value (its {NAME}s filled), else the user's,
        else, for what each deployment sets, the default."""
        if setting.compose is not None:
            return setting.compose.format_map({name: self.ref(name) for name in self.settings})
        if setting.deployment:
            return setting.default
        return self.ref(setting.name)

    def environment(self, service: str, server: Server | None = None) -> dict[str, str]:
        """Every setting the service reads, with its value. A server's own env (servers.toml) wins."""
        if service == "postgres":
            chosen = [s for s in self.settings.values() if "postgres" in s.readers]
        elif service == "nginx":
            chosen = [s for s in self.settings.values() if "nginx" in s.readers]
        elif server is None:  # migrate: Django's settings only
            chosen = [s for s in self.settings.values() if "app" in s.readers]
        else:
            chosen = [s for s in self.settings.values() if s.read_by(server)]
        values = {s.name: self.value(s) for s in chosen if not s.image}
        if "SERVED_BY" in values:
            values["SERVED_BY"] = server.name if server else service
        if server:
            values.update(server.env)
        return values

    def context(self) -> dict:
        return {
            "servers": self.topology.servers,
            "production": self.topology.production,
            "ref": self.ref,
            "environment": self.environment,
            "nginx_host": NGINX_HOST,
            "first_server_host": FIRST_SERVER_HOST,
            "container_port": render.CONTAINER_PORT,
            "nginx_image_settings": [s.name for s in self.settings.values() if "nginx-image" in s.readers],
        }


def quoted(value: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is YAML's)."""
    return json.dumps(value)


def rendered(topology: servers.Topology | None = None,
             settings: dict[str, Setting] | None = None) -> str:
    topology = topology or servers.load()
    renderer = Renderer(topology, settings or settings_list.load())
    templates = jinja2.Environment(  # noqa: S701 - renders YAML, not HTML
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates.filters["quoted"] = quoted
    return HEADER + templates.get_template(TEMPLATE).render(renderer.context())
