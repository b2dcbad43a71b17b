"""The Swarm stack file, rendered from docker-compose.yml as Compose v2 resolves it (no engine needed)."""

import json
import re
import subprocess

import pytest

from stack import swarm
from tests.stacks import compose_binary

DATA_NODE = "node-1"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("swarm")
    settings = folder / "test.env"
    settings.write_text("COMPOSE_PROJECT_NAME=render-test\nSECRET_KEY=k3y\nPOSTGRES_PASSWORD=pw\nREPLICAS=3\n")
    config = swarm.compose_config(["--env-file", str(settings)], env={"PATH": "/usr/bin:/bin"},
                                  compose=(str(compose_binary()),))
    options = swarm.options_from(config, DATA_NODE)
    out = folder / "out"
    return swarm.Renderer(config, options, out).stack(), out


@pytest.fixture(scope="module")
def source(rendered):
    """What the rendering was made from: docker-compose.yml as Compose resolved it, and its x-swarm."""
    _, out = rendered
    config = swarm.compose_config(["--env-file", str(out.parent / "test.env")], env={"PATH": "/usr/bin:/bin"},
                                  compose=(str(compose_binary()),))
    return config, swarm.options_from(config, DATA_NODE)


def test_every_server_in_servers_toml_is_a_replicated_service(rendered, source, topology):
    stack, _ = rendered
    config, options = source
    for server in topology.servers:
        service = stack["services"][server.name]
        composed = config["services"][server.name]
        deploy = service["deploy"]
        assert deploy["replicas"] == options.replicas == 3 and deploy["endpoint_mode"] == "dnsrr", server.name
        assert deploy["update_config"]["order"] == "start-first"
        limits = composed["deploy"]["resources"]["limits"]
        assert deploy["resources"]["limits"] == {"cpus": str(limits["cpus"]), "memory": str(limits["memory"])}
        assert service["command"] == [f"/app/{server.command}"]
        assert service["environment"]["SERVED_BY"] == server.name
        for name, value in server.env.items():
            assert service["environment"][name] == value
        # nginx has no fixed address: the servers trust the network only it and they are on.
        assert service["environment"]["FORWARDED_ALLOW_IPS"] == options.front_subnet
        assert service["networks"] == ["front", "back"]
        # Swarm kills an unhealthy task: Compose's check must fail for 30 s first (README), not 15.
        check = service["healthcheck"]
        assert check["interval"] == composed["healthcheck"]["interval"]
        assert check["retries"] * swarm.seconds(check["interval"]) >= 30, check


def test_nothing_swarm_ignores_is_left_and_hardening_is_kept(rendered):
    stack, _ = rendered
    for name, service in stack["services"].items():
        assert not set(service) & {"build", "depends_on", "restart", "security_opt", "tmpfs"}, name
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert service["deploy"]["endpoint_mode"] == "dnsrr", name  # no VIPs without IPVS
        assert "healthcheck" in service, name


def test_secrets_are_swarm_secrets_not_environment(rendered):
    stack, out = rendered
    secret_values = {"k3y", "pw", "postgres://app:pw@postgres:5432/app"}
    text = json.dumps(stack["services"])
    assert not [value for value in secret_values if value in text]
    assert {path.read_text() for path in (out / "secrets").iterdir()} == secret_values
    app = stack["services"]["gunicorn"]
    assert app["environment"]["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
    assert app["environment"]["DATABASE_URL_FILE"] == "/run/secrets/database_url"
    postgres = stack["services"]["postgres"]["environment"]
    assert postgres["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    # Content-addressed names: a changed secret is a new one, which Swarm rolls out.
    assert all(secret["name"].startswith("render-test_") for secret in stack["secrets"].values())


def test_data_services_are_pinned_and_nginx_publishes_in_host_mode(rendered, topology):
    stack, _ = rendered
    for name in ("postgres", "redis"):
        deploy = stack["services"][name]["deploy"]
        assert deploy["placement"]["constraints"] == [f"node.hostname == {DATA_NODE}"]
        assert deploy["replicas"] == 1 and deploy["update_config"]["order"] == "stop-first"
    nginx = stack["services"]["nginx"]
    published = {port["published"] for port in nginx["ports"]}
    assert published == {topology.production.port, topology.production.tls_port,
                         *(server.port for server in topology.servers)}
    assert {port["mode"] for port in nginx["ports"]} == {"host"}
    assert nginx["deploy"]["mode"] == "global"
    assert [config["target"] for config in nginx["configs"]] == [
        "/etc/nginx/templates/default.conf.template", "/etc/nginx/templates/tls.conf.template"]


def test_nginx_on_swarm_resolves_every_replica_at_run_time(rendered, topology):
    _, out = rendered
    site = (out / "nginx" / "default.conf.template").read_text()
    assert "resolver 127.0.0.11 valid=2s" in site
    assert not re.search(r"^upstream ", site, re.M)  # resolved once at start: Compose only
    for server in topology.servers:
        assert f"set $backend tasks.{server.name}:8000;" in site


def test_nginx_swarm_site_passes_nginx_t(rendered, tmp_path):
    """The rendered Swarm site, with the image's nginx.conf layout, is valid nginx."""
    from stack import render

    _, out = rendered
    main_conf = (out / "nginx" / "nginx.conf").read_text()
    site = render.substitute_tunables((out / "nginx" / "default.conf.template").read_text())
    (tmp_path / "site.conf").write_text(site.replace("/srv/static", str(tmp_path)))
    main_conf = main_conf.replace(" /tmp/", f" {tmp_path}/")
    main_conf = main_conf.replace("/etc/nginx/conf.d/*.conf", str(tmp_path / "site.conf"))
    (tmp_path / "nginx.conf").write_text(main_conf)
    result = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_service_with_a_key_nobody_decided_on_is_refused(rendered):
    config = {"name": "x", "services": {"gunicorn": {"image": "i", "privileged": True}}}
    options = swarm.Options("x", 1, "10.0.0.0/24", "10.0.1.0/24", DATA_NODE)
    with pytest.raises(swarm.SwarmError, match="privileged"):
        swarm.Renderer(config, options, rendered[1]).service("gunicorn", config["services"]["gunicorn"])
