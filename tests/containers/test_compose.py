"""The Compose stack itself: what the integration tests cannot see through the ports.

Run by `make test-containers` (STACK=containers) after tests/integration, on the same stack: the
definition agrees with servers.toml, every container runs unprivileged and hardened with the
limits it was given, the database outlives `down` + `up`, the README's reload commands replace a
server's processes without a failed request, and a crashed server comes back.
"""

import json
import os
import subprocess
import time
import uuid

import httpx
import pytest
import yaml

from stack import servers
from stack import settings as settings_list
from stack.servers import ROOT
from tests.hardening.helpers import Load, assert_reload_failed_nothing

pytestmark = [
    pytest.mark.containers,
    pytest.mark.skipif(
        os.environ.get("STACK") != "containers",
        reason="the container stack: run `make test-containers` (STACK=containers)",
    ),
]

# Services that are not app servers; every other service must be a [servers.NAME].
SUPPORT_SERVICES = {"nginx", "postgres", "redis", "migrate"}
APP_UID = "10001"


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True, timeout=60).stdout


def memory_bytes(value: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    value = value.strip().lower().removesuffix("b")
    if value[-1] in units:
        return int(float(value[:-1]) * units[value[-1]])
    return int(value)


def process_uid(container: str) -> str:
    """The real uid of the container's PID 1 (what the kernel sees, not what the image says)."""
    status = docker("exec", container, "cat", "/proc/1/status")
    return next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))


def published_ports(nginx: dict) -> set[int]:
    return {int(port["published"]) for port in nginx.get("ports", [])}


def test_compose_services_are_servers_toml(stack, topology):
    """One service per server, named as nginx's upstream, with its start script and env."""
    config = yaml.safe_load(stack.compose("config"))
    services = config["services"]
    assert set(services) - SUPPORT_SERVICES == set(topology.names)
    for server in topology.servers:
        service = services[server.name]
        assert service["command"] == [f"/app/{server.command}"], server.name
        assert service["image"].rsplit("/", 1)[1].split(":")[0] == server.image, server.name
        environment = service["environment"]
        assert environment["SERVED_BY"] == server.name
        for name, value in server.env.items():
            assert environment.get(name) == value, (server.name, name)
        assert set(service["depends_on"]) == {"postgres", "redis", "migrate"}
        assert server.name in services["nginx"]["depends_on"]
        # Its own health check where servers.toml names one (uWSGI speaks no HTTP on its port).
        test = service["healthcheck"]["test"]
        if server.healthcheck:
            assert test == ["CMD", f"/app/{server.healthcheck}"], server.name
        else:
            assert "/healthz" in " ".join(test), server.name
    # nginx resolves its upstreams once: every server (and nginx) needs an address of its own.
    addresses = [services[name]["networks"]["default"]["ipv4_address"] for name in ["nginx", *topology.names]]
    assert len(set(addresses)) == len(addresses)
    production = topology.production
    ports = {production.port, production.tls_port, *(server.port for server in topology.servers)}
    assert published_ports(services["nginx"]) == ports
    # Only nginx is reachable from the host.
    assert [name for name, service in services.items() if service.get("ports")] == ["nginx"]


def test_every_server_runs_with_every_setting_it_reads(stack, topology):
    """settings.toml's readers, against each running server's own environment (/proc/1/environ):
    every setting it reads, with the value .env gives it, and their effect."""
    config = json.loads(stack.compose("config", "--format", "json"))
    settings = settings_list.load()
    for server in topology.servers:
        environ = docker("exec", stack.container(server.name), "cat", "/proc/1/environ")
        running = dict(entry.split("=", 1) for entry in environ.split("\0") if "=" in entry)
        given = config["services"][server.name]["environment"]
        for setting in settings.values():
            if setting.read_by(server) and not setting.image:
                assert running.get(setting.name) == given[setting.name], (server.name, setting.name)
        assert running["GRACEFUL_TIMEOUT"] == stack.settings["GRACEFUL_TIMEOUT"], server.name
        # Docker's SIGKILL follows the stop signal by GRACEFUL_TIMEOUT + 5 s, whatever .env says.
        stop_timeout = stack.inspect(server.name)["Config"]["StopTimeout"]
        assert stop_timeout == int(stack.settings["GRACEFUL_TIMEOUT"]) + 5, server.name
    # And Django, started in a server's container, reads what .env set.
    code = ("import django; from django.conf import settings; django.setup(); "
            "print(settings.CHANNEL_LAYERS['default']['CONFIG']['prefix'])")
    prefix = docker("exec", "-w", "/app/app", "-e", "DJANGO_SETTINGS_MODULE=config.settings",
                    stack.container(topology.production.websocket.name), "python", "-c", code).strip()
    assert prefix == stack.settings["CHANNEL_LAYER_PREFIX"]


def test_app_image_has_no_secret_and_runs_unprivileged(stack):
    image = json.loads(docker("image", "inspect", f"{stack.settings['IMAGE_REPOSITORY']}/app:"
                                                  f"{stack.settings['IMAGE_TAG']}"))[0]
    config = image["Config"]
    assert not [entry for entry in config["Env"] if entry.startswith("SECRET_KEY=")]
    history = docker("image", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image["Id"])
    assert stack.env_file.read_text().split("SECRET_KEY=")[1].split()[0] not in history
    assert config["User"].split(":")[0] == APP_UID
    assert config["Healthcheck"]["Test"][0] == "CMD"
    assert config["StopSignal"] == "SIGTERM"


def test_every_container_is_hardened(stack, topology):
    """Read-only root, no capabilities, no privilege gain, never root: every long-running service."""
    for service in ["nginx", "postgres", "redis", *topology.names]:
        container = stack.inspect(service)
        host = container["HostConfig"]
        assert host["ReadonlyRootfs"] is True, service
        assert host["CapDrop"] in (["ALL"], ["all"]), service
        assert "no-new-privileges:true" in host["SecurityOpt"], service
        assert host["RestartPolicy"]["Name"] == "unless-stopped", service
        assert container["Config"]["User"] not in ("", "0", "root"), service
        assert process_uid(container["Id"]) != "0", service


def nginx_dump(stack, certificate: str, key: str) -> subprocess.CompletedProcess:
    """The nginx image's entrypoint, then `nginx -T`, with these files as TLS_CERT_FILE/TLS_KEY_FILE.

    Hardened as in Compose and on the stack's network, where the upstream names resolve.
    """
    nginx = stack.inspect("nginx")
    network = next(iter(nginx["NetworkSettings"]["Networks"]))
    return subprocess.run(
        ["docker", "run", "--rm", "--read-only", "--cap-drop", "ALL",
         "--security-opt", "no-new-privileges:true",
         "--tmpfs", "/tmp:mode=1777", "--tmpfs", "/etc/nginx/conf.d:mode=1777",
         "--env-file", str(ROOT / "nginx" / "defaults.env"), "--network", network,
         "-v", f"{certificate}:/etc/nginx/certs/tls.crt:ro", "-v", f"{key}:/etc/nginx/certs/tls.key:ro",
         nginx["Config"]["Image"], "nginx", "-T"],
        capture_output=True, text=True, timeout=60,
    )


def test_nginx_without_a_certificate_serves_plain_http_only(stack, topology):
    """`make up` with TLS_CERT_FILE unset: Compose mounts /dev/null, and the TLS site is dropped."""
    result = nginx_dump(stack, "/dev/null", "/dev/null")
    assert result.returncode == 0, result.stderr
    assert "TLS off" in result.stdout + result.stderr
    assert f"listen {topology.production.port};" in result.stdout
    assert f"listen {topology.production.tls_port}" not in result.stdout


def test_nginx_with_a_certificate_but_no_key_refuses_to_start(stack):
    result = nginx_dump(stack, str(stack.tls_ca.parent / "tls.crt"), "/dev/null")
    assert result.returncode != 0
    assert "only one of TLS_CERT_FILE and TLS_KEY_FILE is set" in result.stderr


def test_app_servers_run_as_the_app_user_with_equal_limits(stack, topology):
    cpus = float(stack.settings["APP_CPUS"])
    memory = memory_bytes(stack.settings["APP_MEMORY"])
    for server in topology.servers:
        container = stack.inspect(server.name)
        assert container["Config"]["User"].split(":")[0] == APP_UID, server.name
        assert process_uid(container["Id"]) == APP_UID, server.name
        assert container["HostConfig"]["NanoCpus"] == int(cpus * 1e9), server.name
        assert container["HostConfig"]["Memory"] == memory, server.name


def test_each_server_stops_with_its_graceful_signal(stack, topology):
    """servers.toml's stop_signal is what Docker sends on `docker compose stop` (the image's STOPSIGNAL)."""
    for server in topology.servers:
        assert stack.inspect(server.name)["Config"]["StopSignal"] == f"SIG{server.stop_signal}", server.name


def test_only_the_modwsgi_image_carries_apache(stack, topology):
    """Apache lives in an image derived from the app image; every other server's image lacks it."""
    for server in topology.servers:
        found = subprocess.run(["docker", "exec", stack.container(server.name), "sh", "-c",
                                "command -v apache2 || test -e /usr/sbin/apache2"],
                               capture_output=True, text=True, timeout=60)
        assert (found.returncode == 0) == (server.name == "modwsgi"), (server.name, found.stdout)


def test_migrate_ran_once_and_exited(stack):
    container = stack.inspect("migrate")
    assert container["State"]["Status"] == "exited"
    assert container["State"]["ExitCode"] == 0
    assert container["HostConfig"]["RestartPolicy"]["Name"] in ("no", "")


def psql(stack, sql: str) -> str:
    user = stack.settings.get("POSTGRES_USER", "app")
    database = stack.settings.get("POSTGRES_DB", "app")
    return docker("exec", stack.container("postgres"), "psql", "-U", user, "-d", database,
                  "-v", "ON_ERROR_STOP=1", "-tAc", sql).strip()


@pytest.mark.timeout(420)
def test_database_survives_down_and_up(stack, topology):
    marker = uuid.uuid4().hex
    psql(stack, "CREATE TABLE IF NOT EXISTS compose_test_marker (value text)")
    psql(stack, f"INSERT INTO compose_test_marker VALUES ('{marker}')")

    stack.compose("down", timeout=180)  # no -v: the named volume stays
    project = f"label=com.docker.compose.project={stack.project}"
    assert not docker("ps", "-a", "-q", "--filter", project).strip()
    stack.start_all()

    assert psql(stack, f"SELECT count(*) FROM compose_test_marker WHERE value = '{marker}'") == "1"
    # And the app sees the same data (the seeded World table) through nginx.
    response = httpx.get(f"http://127.0.0.1:{topology.production.port}/db", timeout=10)
    assert response.status_code == 200


def reload(stack, server) -> None:
    """The README's commands: its reload signal to the container's main process, or its reload script.

    The signal is sent from inside the container, not with `docker kill -s HUP`: Docker marks any
    container it signals as manually stopped, and `unless-stopped` would then not restart it after
    its next crash (moby/moby#41302; test_crashed_app_server_is_restarted_by_its_policy, which runs
    after this, caught it).
    """
    if server.reload_signal:
        stack.compose("exec", "-T", server.name, "sh", "-c", f"kill -{server.reload_signal} 1")
    else:
        stack.compose("exec", "-T", server.name, f"/app/{server.reload}", timeout=120)


def worker_pids(stack, service: str) -> set[int]:
    """Children of the container's main process (as the host sees them), minus multiprocessing's helper."""
    main = stack.inspect(service)["State"]["Pid"]
    rows = docker("top", stack.container(service), "-o", "pid,ppid,args").splitlines()[1:]
    return {int(pid) for pid, ppid, args in (row.split(None, 2) for row in rows)
            if int(ppid) == main and "resource_tracker" not in args}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", servers.load().names)
def test_reload_replaces_every_process_and_fails_nothing(stack, topology, name):
    server = topology[name]
    state = stack.inspect(name)
    before = worker_pids(stack, name)
    assert before, f"{name}: no worker processes under the container's main process"
    with Load(f"http://127.0.0.1:{server.port}/wait/async?ms=50", max_seconds=90) as load:
        time.sleep(1)
        reload(stack, server)
        deadline = time.monotonic() + 60
        while before & (after := worker_pids(stack, name)) or len(after) < len(before):
            assert time.monotonic() < deadline, f"{name}: workers {before & after} not replaced in 60 s"
            time.sleep(0.5)
        time.sleep(1)
    print(f"\n{name} reload in its container: {dict(load.statuses)}; "
          f"workers {sorted(before)} -> {sorted(after)}")
    assert_reload_failed_nothing(load, server)
    now = stack.inspect(name)  # replaced inside the container, which itself never restarted
    assert now["RestartCount"] == state["RestartCount"]
    assert now["State"]["StartedAt"] == state["State"]["StartedAt"]


def crash(stack, container: dict) -> None:
    """SIGKILL the container's main process from outside Docker's API, as the OOM killer would.

    Not `docker kill`: Docker counts that as a deliberate stop and suspends the restart policy
    until the next start (docker-kill(1)), so it cannot show the policy at work. A short-lived
    helper in the engine's PID namespace sends the signal, so this works with a remote engine too.
    """
    image = f"{stack.settings['IMAGE_REPOSITORY']}/app:{stack.settings['IMAGE_TAG']}"
    docker("run", "--rm", "--pid", "host", "--network", "none", "--user", "0", "--entrypoint", "sh",
           image, "-c", f"kill -KILL {container['State']['Pid']}")


@pytest.mark.timeout(240)
def test_crashed_app_server_is_restarted_by_its_policy(stack, topology):
    server = topology.production.http
    before = stack.inspect(server.name)
    crash(stack, before)

    deadline = time.monotonic() + 60
    while True:
        state = stack.inspect(server.name)
        if state["RestartCount"] > before["RestartCount"] and state["State"]["Status"] == "running":
            break
        assert time.monotonic() < deadline, f"{server.name} was not restarted: {state['State']}"
        time.sleep(0.5)
    assert state["Id"] == before["Id"]  # the same container, restarted by Docker, not recreated
    stack.wait_healthy([server.name], timeout=120)

    # Reachable through nginx again, which resolved the server's address when it started.
    deadline = time.monotonic() + 30
    while True:
        response = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert response.status_code == 200
    assert response.headers["x-served-by"] == server.name
