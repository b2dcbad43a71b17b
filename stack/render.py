"""Render nginx's config from servers.toml, for the host run and for the nginx image alike.

Two layers, each with one job: Jinja2 expands the server list (nginx has no loops), and the
${NGINX_*} tunables stay for envsubst at start, as the official nginx image does with
/etc/nginx/templates. The host run performs that substitution itself (substitute_tunables).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from . import certs, servers
from .servers import ROOT, Server

NGINX_DIR = ROOT / "nginx"
TUNABLE = re.compile(r"\$\{(NGINX_[A-Z0-9_]+)\}")
CONTAINER_PORT = 8000


@dataclass(frozen=True)
class Target:
    """Where nginx runs: what it listens on, how it reaches the servers, where files live."""

    listen_host: str
    static_root: str
    pid_file: str
    temp_dir: str
    site_include: str
    container: bool
    # The certificate for the TLS production port; None serves no TLS port.
    tls: certs.Certificate | None = None
    # The TLS server in a file of its own (tls_site), which the nginx image drops when it is not
    # given a certificate, instead of inline in the site.
    tls_separate: bool = False
    # A DNS server to ask for the servers' addresses at run time, again every few seconds (Swarm:
    # replicas come and go); None resolves them once, at start, into upstream blocks.
    resolver: str | None = None
    # The Diffie-Hellman group for TLS 1.2's DHE suites (nginx/ffdhe2048.pem).
    dhparam: str = ""

    def upstream_address(self, server: Server) -> str:
        if self.container:
            return f"{server.name}:{CONTAINER_PORT}"
        return f"127.0.0.1:{server.internal_port}"

    def task_address(self, name: str) -> str:
        """Where a resolver target finds every replica of a server: Swarm's tasks.<service> name."""
        return f"tasks.{name}:{CONTAINER_PORT}"


def host_target(run_dir: Path, tls: certs.Certificate | None = None) -> Target:
    return Target(
        listen_host="127.0.0.1:",
        static_root=str(run_dir / "static"),
        pid_file=str(run_dir / "nginx" / "nginx.pid"),
        temp_dir=str(run_dir / "nginx"),
        site_include=str(run_dir / "nginx" / "site.conf"),
        container=False,
        tls=tls,
        dhparam=str(NGINX_DIR / "ffdhe2048.pem"),
    )


# The nginx image runs as a non-root user on a read-only root filesystem: pid and temp files
# go to the /tmp tmpfs, and the entrypoint renders the site into conf.d.
CONTAINER = Target(
    listen_host="",
    static_root="/srv/static",
    pid_file="/tmp/nginx.pid",
    temp_dir="/tmp",
    site_include="/etc/nginx/conf.d/*.conf",
    container=True,
    # docker-compose.yml mounts TLS_CERT_FILE and TLS_KEY_FILE here (empty when not set).
    tls=certs.Certificate(Path("/etc/nginx/certs/tls.crt"), Path("/etc/nginx/certs/tls.key")),
    tls_separate=True,
    dhparam="/etc/nginx/ffdhe2048.pem",
)


# The same image on Swarm (stack/swarm.py mounts this rendering over the image's templates): the
# replicas of a server are found through Docker's DNS, which Swarm keeps up to date.
SWARM = dataclasses.replace(CONTAINER, resolver="127.0.0.11")


def environment() -> jinja2.Environment:
    return jinja2.Environment(  # noqa: S701 - renders nginx config, not HTML
        loader=jinja2.FileSystemLoader(NGINX_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def context(target: Target) -> dict:
    topology = servers.load()
    return {
        "servers": topology.servers,
        "production": topology.production,
        "upstream_address": target.upstream_address,
        "task_address": target.task_address,
        **vars(target),
    }


def render(target: Target) -> tuple[str, str]:
    """The main config (its tunables filled in: the image's entrypoint only fills conf.d's) and the
    site template (still holding ${NGINX_*}) for this target."""
    templates, values = environment(), context(target)
    main = substitute_tunables(templates.get_template("nginx.conf.j2").render(values))
    site = templates.get_template("site.conf.j2").render(values)
    return main, site


def tls_site(target: Target) -> str:
    """The TLS production server alone, for a target that keeps it apart (tls_separate)."""
    return environment().get_template("tls.conf.j2").render(context(target))


def tunable_defaults() -> dict[str, str]:
    values = {}
    for line in (NGINX_DIR / "defaults.env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def substitute_tunables(template: str, environ=os.environ) -> str:
    """envsubst for ${NGINX_*} only: nginx's own $variables are left alone. An empty value (the nginx
    image's build argument, not given) keeps the default: no tunable is valid empty."""
    values = {**tunable_defaults(), **{k: v for k, v in environ.items() if k.startswith("NGINX_") and v}}

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise SystemExit(f"nginx template uses ${{{name}}}, but it is not in nginx/defaults.env")
        return values[name]

    return TUNABLE.sub(value, template)


def write_container_config(out: str | Path, target: Target = CONTAINER) -> None:
    """nginx.conf and the templates for conf.d (the site, the TLS site), for the nginx image."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    main_conf, site = render(target)
    (out / "nginx.conf").write_text(main_conf)
    (out / "default.conf.template").write_text(site)
    (out / "tls.conf.template").write_text(tls_site(target))
