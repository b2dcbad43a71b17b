"""Configuration: the server set, the rendered nginx config, the settings' required values."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from stack import render, servers
from stack.servers import ROOT


def test_servers_toml_has_unique_ports_and_routes_production_by_protocol(topology):
    # Read from the file itself, not through servers.load(), whose own check is tested below.
    spec = tomllib.loads((ROOT / "servers.toml").read_text())
    tables = [spec["production"], *spec["servers"].values()]
    ports = [t[key] for t in tables for key in ("port", "internal_port", "tls_port") if key in t]
    assert len(ports) == 2 + 2 * len(spec["servers"]) and len(set(ports)) == len(ports), sorted(ports)
    assert {"gunicorn", "uvicorn", "daphne"} <= set(topology.names)
    production = topology.production
    assert {s.protocol for s in topology.servers} == {"wsgi", "asgi"}
    assert production.http.protocol == "wsgi"
    assert production.websocket.websocket


def test_duplicate_ports_are_rejected(tmp_path):
    broken = (ROOT / "servers.toml").read_text().replace("port = 8082", "port = 8081")
    (tmp_path / "servers.toml").write_text(broken)
    with pytest.raises(ValueError, match="every port must be unique"):
        servers.load(tmp_path / "servers.toml")


def test_every_server_has_an_executable_start_script(topology):
    for server in topology.servers:
        for script in (server.command, server.healthcheck, None if server.reload_signal else server.reload):
            if script:
                assert (ROOT / script).is_file() and os.access(ROOT / script, os.X_OK), script


@pytest.mark.parametrize(("old", "new", "error"), [
    ('upstream_protocol = "uwsgi"', 'upstream_protocol = "fastcgi"',
     "upstream_protocol must be one of http, uwsgi, not 'fastcgi'"),
    ('command = "hypercorn/start"', 'command = "hypercorn/start"\nupstream_protocol = "uwsgi"',
     "the uwsgi protocol cannot carry WebSockets"),
    ('stop_signal = "WINCH"', 'stop_signal = "WNCH"', "stop_signal = 'WNCH' is no signal name"),
    ('reload = "USR1"', 'reload = "USR9"', "reload = 'USR9' is no signal name"),
])
def test_a_server_entry_nginx_or_the_host_run_cannot_use_is_rejected(tmp_path, old, new, error):
    (tmp_path / "servers.toml").write_text((ROOT / "servers.toml").read_text().replace(old, new, 1))
    with pytest.raises(ValueError, match=error):
        servers.load(tmp_path / "servers.toml")


def test_nginx_speaks_each_servers_upstream_protocol(tmp_path):
    render.write_container_config(tmp_path)
    site = (tmp_path / "default.conf.template").read_text()
    for server in servers.load().servers:
        directive = "uwsgi_pass" if server.upstream_protocol == "uwsgi" else "proxy_pass http://"
        assert f"{directive}{'' if directive.endswith('/') else ' '}{server.name};" in site, server.name
    assert "uwsgi_param HTTP_X_FORWARDED_FOR $remote_addr;" in site


def test_host_nginx_config_passes_nginx_t(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    target = render.host_target(tmp_path)
    main_conf, site = render.render(target)
    (tmp_path / "nginx").mkdir()
    (tmp_path / "nginx" / "nginx.conf").write_text(main_conf)
    (tmp_path / "nginx" / "site.conf").write_text(render.substitute_tunables(site))
    command = [nginx, "-t", "-p", str(tmp_path / "nginx"), "-c", str(tmp_path / "nginx" / "nginx.conf")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_worker_connections_is_a_tunable_of_the_one_main_template(monkeypatch, tmp_path):
    # Two sockets per proxied WebSocket: the capacity ramp needs far more than nginx's default.
    assert "worker_connections 32768;" in render.render(render.host_target(tmp_path))[0]
    monkeypatch.setenv("NGINX_WORKER_CONNECTIONS", "4096")
    for target in (render.host_target(tmp_path), render.CONTAINER):
        assert "worker_connections 4096;" in render.render(target)[0]


def test_container_config_routes_by_service_name_and_keeps_tunables_for_envsubst(tmp_path):
    render.write_container_config(tmp_path)
    site = (tmp_path / "default.conf.template").read_text()
    for server in servers.load().servers:
        assert f"server {server.name}:8000;" in site
        assert f"listen {server.port};" in site
    assert "${NGINX_CLIENT_MAX_BODY_SIZE}" in site
    assert "$http_upgrade" in site


def test_unknown_tunable_is_a_clear_error():
    with pytest.raises(SystemExit, match="NGINX_NOPE"):
        render.substitute_tunables("x ${NGINX_NOPE};", environ={})


def test_missing_secret_key_is_a_clear_error():
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=Path(ROOT / "app"), env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
