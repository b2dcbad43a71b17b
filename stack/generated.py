"""Every committed file rendered from servers.toml and settings.toml (`python -m stack render`).

They are committed so `docker compose`, `kubectl apply -k` and a reader need no Python;
tests/deploy/test_generated.py fails when one is not what this renders.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from . import compose, kubernetes, render, servers
from . import settings as settings_list
from .servers import ROOT
from .settings import Setting

ENV_EXAMPLE = ROOT / ".env.example"
NGINX_DEFAULTS = render.NGINX_DIR / "defaults.env"
CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"
WIDTH = 100

ENV_EXAMPLE_HEADER = """\
# Settings of the container stack (docker-compose.yml) and Docker Swarm: rendered from
# settings.toml by `python -m stack render`, where each is described once (docs/configuration.md
# is the same list as a table). Copy to .env and fill in the secrets; `make up` does it for you,
# with generated values for SECRET_KEY and POSTGRES_PASSWORD. Compose reads .env for the ${...}
# in docker-compose.yml; a variable set in your shell wins over this file. Never commit .env.
"""

NGINX_HEADER = """\
# Tunables of the nginx config (nginx/site.conf.j2 leaves them as ${NAME} for envsubst), rendered
# from settings.toml by `python -m stack render`. The host run substitutes them itself (the
# environment wins), the nginx image's entrypoint does it at start.
"""


def comment(text: str) -> str:
    lines = textwrap.wrap(" ".join(text.split()), WIDTH - 2)
    return "".join(f"# {line}\n" for line in lines)


def sections(settings: dict[str, Setting]) -> dict[str, list[Setting]]:
    grouped: dict[str, list[Setting]] = {}
    for setting in settings.values():
        grouped.setdefault(setting.section, []).append(setting)
    return grouped


def env_example(settings: dict[str, Setting]) -> str:
    out = [ENV_EXAMPLE_HEADER]
    for section, members in sections(settings).items():
        members = [s for s in members if not s.deployment]
        if not members:
            continue
        out.append(f"\n# --- {section} " + "-" * (WIDTH - 8 - len(section)) + "\n")
        for setting in members:
            value = "" if setting.required else setting.example if setting.example is not None \
                else setting.default
            out.append(comment(setting.meaning) + f"{setting.name}={value}\n")
    return "".join(out)


def nginx_defaults(settings: dict[str, Setting]) -> str:
    tunables = [s for s in settings.values() if {"nginx", "nginx-image"} & set(s.readers)]
    return NGINX_HEADER + "".join(comment(s.meaning) + f"{s.name}={s.default}\n" for s in tunables)


def readers(setting: Setting, topology: servers.Topology) -> str:
    """Who reads it, by server name where a start script does."""
    named = []
    for reader in setting.readers:
        if reader == "app":
            named.append("the app (every server, migrate)")
        elif reader in settings_list.PROGRAMS:
            named.append(reader)
        else:
            named.append(", ".join(s.name for s in topology.servers if s.command == reader))
    return "; ".join(named)


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def configuration_doc(settings: dict[str, Setting], topology: servers.Topology) -> str:
    out = ["# Configuration\n\n",
           "Rendered from `settings.toml` by `python -m stack render`: change a setting there, not "
           "here.\n\n",
           "Every setting comes from the environment. The host run (`make local-up`) gives every "
           "program each setting it reads (your environment wins over the default), Compose and "
           "Swarm take them from `.env` (`.env.example` lists them), Kubernetes from the `app-config` "
           "and `nginx-tunables` ConfigMaps (`deploy/kubernetes/base/app.env`, `nginx.env`). "
           "Readers: *the app* is Django's settings, in every server and in migrate; a server name "
           "is that server's start script or config; *compose* and *swarm* are the deployment "
           "files themselves. *Set by each deployment* are not yours to set: an address, a port, "
           "a server's own env in `servers.toml`.\n"]
    for section, members in sections(settings).items():
        out.append(f"\n## {section}\n\n| Setting | Default | Read by | Meaning |\n|---|---|---|---|\n")
        for s in members:
            default = "*(required)*" if s.required else f"`{s.default}`" if s.default else "*(empty)*"
            out.append(f"| `{s.name}` | {default} | {cell(readers(s, topology))} | {cell(s.meaning)} |\n")
    return "".join(out)


def rendered() -> dict[Path, str]:
    """Each generated file and its content."""
    topology = servers.load()
    settings = settings_list.load()
    return {
        compose.COMPOSE_FILE: compose.rendered(topology, settings),
        ENV_EXAMPLE: env_example(settings),
        NGINX_DEFAULTS: nginx_defaults(settings),
        CONFIGURATION_DOC: configuration_doc(settings, topology),
        **kubernetes.rendered(topology, settings),
    }


def write() -> list[Path]:
    files = rendered()
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return list(files)
