"""The Swarm stack file, rendered from docker-compose.yml as Compose v2 resolves it (no engine needed)."""

import dataclasses
import json
import re
import subprocess

import pytest

from stack import budget, swarm, swarm_deploy
from stack import settings as settings_list
from tests.stacks import compose_binary

DATA_NODE = "node-1"


@pytest.fixture(scope="module")
def compose(tmp_path_factory):
    """docker-compose.yml as Compose resolves it, with .env.example's defaults and REPLICAS=3."""
    folder = tmp_path_factory.mktemp("swarm")
    settings = folder / "test.env"
    settings.write_text("COMPOSE_PROJECT_NAME=render-test\nSECRET_KEY=k3y\nPOSTGRES_PASSWORD=pw\nREPLICAS=3\n")
    config = swarm_deploy.compose_config(["--env-file", str(settings)], env={"PATH": "/usr/bin:/bin"},
                                  compose=(str(compose_binary()),))
    return config, folder


@pytest.fixture(scope="module")
def rendered(compose):
    config, folder = compose
    options = swarm.options_from(config, DATA_NODE)
    out = folder / "out"
    return swarm.Renderer(config, options, out).stack(), out


@pytest.fixture(scope="module")
def source(compose):
    """What the rendering was made from: docker-compose.yml as Compose resolved it, and its x-swarm."""
    config, _ = compose
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
        if settings_list.load()["FORWARDED_ALLOW_IPS"].read_by(server):
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
    secret_values = {"k3y", "pw", "postgres://app:pw@postgres:5432/app", "postgres://app:pw@pgbouncer:6432/app"}
    text = json.dumps(stack["services"])
    assert not [value for value in secret_values if value in text]
    assert {path.read_text() for path in (out / "secrets").iterdir()} == secret_values
    app = stack["services"]["gunicorn"]
    assert app["environment"]["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
    # The servers go through PgBouncer; migrate goes to PostgreSQL itself.
    assert app["environment"]["DATABASE_URL_FILE"] == "/run/secrets/database_url_pooled"
    assert stack["services"]["migrate"]["environment"]["DATABASE_URL_FILE"] == "/run/secrets/database_url"
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


def test_pgbouncer_runs_between_the_servers_and_postgresql(rendered, topology):
    stack, out = rendered
    pgbouncer = stack["services"]["pgbouncer"]
    assert pgbouncer["image"] == "django-servers/pgbouncer:latest"
    assert pgbouncer["deploy"]["replicas"] == swarm.POOLER_REPLICAS
    assert pgbouncer["deploy"]["update_config"]["order"] == "start-first"
    assert pgbouncer["networks"] == ["back"]
    assert pgbouncer["stop_signal"] == "SIGINT"
    assert pgbouncer["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert pgbouncer["volumes"] == [{"type": "tmpfs", "target": "/tmp"}]
    pooled = (out / "secrets" / "database_url_pooled").read_text()
    assert pooled.endswith(f"@{swarm.POOLER_ADDRESS}/app")
    for server in topology.servers:
        assert stack["services"][server.name]["environment"]["DB_POOLER"] == "pgbouncer"
    assert not stack["services"]["migrate"]["environment"].get("DB_POOLER")  # direct: empty


def postgres_max_connections(postgres: dict) -> int:
    found = re.search(r"max_connections=(\d+)", " ".join(postgres.get("command") or []))
    assert found, f"PostgreSQL's command sets no max_connections (default 100): {postgres.get('command')}"
    return int(found.group(1))


def swarm_budget(stack: dict, out, topology) -> tuple[budget.Budget, int]:
    """The connection budget read back from a rendered stack file, not from the renderer's own."""
    services = stack["services"]
    tasks = {name: services[name]["deploy"]["replicas"] + 1 for name in topology.names}  # start-first
    app = services[topology.names[0]]["environment"]
    pooled = (out / "secrets" / "database_url_pooled")
    pooler = None
    if "pgbouncer" in services and pooled.exists() and swarm.POOLER_ADDRESS in pooled.read_text():
        environment = services["pgbouncer"]["environment"]
        pooler = budget.Pooler(services["pgbouncer"]["deploy"]["replicas"] + 1,
                               int(environment["PGBOUNCER_POOL_SIZE"]),
                               int(environment["PGBOUNCER_MAX_CLIENT_CONN"]))
    max_connections = postgres_max_connections(services["postgres"])
    return budget.Budget("swarm", tasks, int(app["WEB_CONCURRENCY"]), int(app["DB_POOL_MAX_SIZE"]), pooler), \
        max_connections


@pytest.mark.parametrize("replicas", [1, 3, 10])
def test_swarm_cannot_exceed_postgresql_connections(compose, topology, tmp_path, replicas):
    config, _ = compose
    options = dataclasses.replace(swarm.options_from(config, DATA_NODE), replicas=replicas)
    stack = swarm.Renderer(config, options, tmp_path).stack()
    connections, max_connections = swarm_budget(stack, tmp_path, topology)
    print(f"\nREPLICAS={replicas}: {connections.server_connections} server connections, "
          f"{connections.postgres_connections} for PostgreSQL (max_connections={max_connections})")
    assert connections.problems(max_connections) == []


def test_compose_cannot_exceed_postgresql_connections(compose, topology):
    """Compose runs one container per server, each straight to PostgreSQL."""
    config, _ = compose
    services = config["services"]
    app = services[topology.names[0]]["environment"]
    connections = budget.Budget("compose", {name: 1 for name in topology.names}, int(app["WEB_CONCURRENCY"]),
                                int(app["DB_POOL_MAX_SIZE"]))
    assert connections.problems(postgres_max_connections(services["postgres"])) == []


NETWORKS = {"front_subnet": "10.0.0.0/24", "back_subnet": "10.0.1.0/24", "data_node": ""}


@pytest.mark.parametrize(("x_swarm", "error"), [
    (None, r"x-swarm lacks \['back_subnet', 'data_node', 'front_subnet', 'replicas'\]"),
    ({"replicas": "two", **NETWORKS}, "whole number, got 'two'"),
    ({"replicas": "0", **NETWORKS}, "at least 1, got 0"),
])
def test_swarm_options_that_cannot_deploy_are_a_clear_error(x_swarm, error):
    config = {"name": "x", **({"x-swarm": x_swarm} if x_swarm else {})}
    with pytest.raises(swarm.SwarmError, match=error):
        swarm.options_from(config, DATA_NODE)
