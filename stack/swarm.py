"""docker-compose.yml on Docker Swarm: the stack file rendered from it (deploying: swarm_deploy.py).

One source of truth: Compose itself resolves docker-compose.yml (`docker compose config`, with
.env and any override files), and this module turns the result into a stack file, service by
service, with every key Swarm ignores or refuses handled on purpose (SWARM_HANDLING; the README
lists them). Every [servers.NAME] of servers.toml must be a service there, and gets REPLICAS
replicas; nothing here names a server. It reads files and writes the stack file's secrets and
configs, and talks to no Docker engine: `python -m stack swarm render|up|down` does that.
"""

from __future__ import annotations

import hashlib
import math
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from . import budget, render, servers

# Swarm keeps the stack file's secrets out of `docker inspect` and the environment: these
# variables become files in /run/secrets, and the program reads NAME_FILE instead (the app's
# settings through django-environ's FileAwareEnv, PostgreSQL's entrypoint natively).
SECRET_VARIABLES = {"SECRET_KEY": "secret_key", "DATABASE_URL": "database_url",
                    "POSTGRES_PASSWORD": "postgres_password"}
# Where the nginx image looks for a certificate and key (nginx/tls-switch.sh).
TLS_FILES = {"/etc/nginx/certs/tls.crt": "tls_certificate", "/etc/nginx/certs/tls.key": "tls_key"}
NGINX_TEMPLATES = "/etc/nginx/templates"
# Services that keep state: one task, on one node, replaced stop-first (two PostgreSQL servers
# on one data folder would corrupt it).
DATA_SERVICES = {"postgres", "redis"}
ONE_SHOT = "migrate"
# PgBouncer in transaction mode between the servers and PostgreSQL (pgbouncer/): PostgreSQL then
# sees its pools only, however many REPLICAS the servers have (stack/budget.py). The migrate
# service keeps its direct connection.
POOLER = "pgbouncer"
POOLER_REPLICAS = 2
POOLER_ADDRESS = "pgbouncer:6432"

# What Swarm does with each key Compose gives a service, and what this renderer does about it.
# A key in neither this table nor KEPT stops the rendering: a new key is handled on purpose.
SWARM_HANDLING = {
    "build": "ignored by `docker stack deploy`: the images are built first (`make swarm-up` "
             "builds them with Compose) and pushed to a registry for other nodes",
    "depends_on": "refused with conditions (stack files take a list, and Swarm ignores it): "
                  "services start at once; migrate retries until PostgreSQL answers, servers "
                  "report /readyz 503 until it does, and nginx resolves servers per request",
    "restart": "ignored: replaced by deploy.restart_policy (any failure; migrate: on failure)",
    "security_opt": "ignored (no-new-privileges): Swarm services cannot set it; set "
                    "\"no-new-privileges\": true in each node's /etc/docker/daemon.json",
    # docker/cli parses `tmpfs:` and has no field for it in the service spec (cli/compose/convert/
    # service.go, https://github.com/docker/cli/blob/master/cli/compose/convert/service.go).
    "tmpfs": "silently dropped by `docker stack deploy`: rendered as tmpfs mounts, whose mode "
             "Swarm always makes 1777 (a stack file cannot set it)",
    "networks": "fixed addresses (ipv4_address) ignored: two overlay networks instead, front "
                "(nginx, servers) and back (servers, PostgreSQL, Redis); nginx re-resolves "
                "tasks.<server>, and the servers trust X-Forwarded-* from the front subnet",
    "ports": "host_ip ignored: published in host mode (no routing mesh here, see the README) "
             "on every interface of each node nginx runs on",
    "volumes": "bind mounts would need the file on every node: the TLS certificate and key "
               "become Swarm secrets; named volumes stay (on the data node)",
    "environment": "SECRET_KEY, DATABASE_URL and POSTGRES_PASSWORD become Swarm secrets (*_FILE)",
    "deploy": "resources.limits kept; replicas, placement, update and restart policies set here",
    "command": "kept (null: the image's)",
    "entrypoint": "kept (null: the image's)",
    "healthcheck": "kept: a task counts as running, and gets traffic, once healthy; but Swarm "
                   "kills a task whose check keeps failing (Compose only marks it), so retries are "
                   "raised to fail for 30 s first",
}
KEPT = {"image", "user", "read_only", "cap_drop", "cap_add", "stop_grace_period", "stop_signal",
        "env_file", "labels", "working_dir", "init", "ulimits", "sysctls"}


# How long a task's health check must fail before Swarm kills it (Kubernetes' liveness default,
# 3 x 10 s, deploy/kubernetes alike).
LIVENESS_SECONDS = 30


def seconds(duration: str) -> float:
    """A Go duration as Compose prints it ("5s", "1m30s", "500ms") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"([\d.]+)(ms|us|ns|h|m|s)", duration)
    if not parts or "".join(number + unit for number, unit in parts) != duration:
        raise SwarmError(f"cannot read the duration {duration!r}")
    return sum(float(number) * units[unit] for number, unit in parts)


class SwarmError(Exception):
    """A step failed; the message says what to do."""


@dataclass(frozen=True)
class Options:
    stack: str
    replicas: int
    front_subnet: str
    back_subnet: str
    data_node: str


def options_from(config: dict, data_node: str) -> Options:
    """The x-swarm settings of docker-compose.yml, as Compose resolved them (their defaults are
    settings.toml's, which the rendered file carries)."""
    settings = config.get("x-swarm") or {}
    missing = {"replicas", "front_subnet", "back_subnet", "data_node"} - set(settings)
    if missing:
        raise SwarmError(f"docker-compose.yml's x-swarm lacks {sorted(missing)}: render it again "
                         "with `python -m stack render`")
    try:
        replicas = int(settings["replicas"])
    except ValueError:
        raise SwarmError(f"REPLICAS must be a whole number, got {settings['replicas']!r}") from None
    if replicas < 1:
        raise SwarmError(f"REPLICAS must be at least 1, got {replicas}")
    return Options(stack=config["name"], replicas=replicas, front_subnet=settings["front_subnet"],
                   back_subnet=settings["back_subnet"], data_node=settings["data_node"] or data_node)


def through_pooler(database_url: str) -> str:
    """The servers' DATABASE_URL with PgBouncer in place of PostgreSQL's host and port."""
    parts = urllib.parse.urlsplit(database_url)
    credentials = parts.netloc.rpartition("@")[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{credentials}@{POOLER_ADDRESS}"))


def versioned(stack: str, name: str, content: bytes) -> str:
    """Swarm secrets and configs cannot change: a new content is a new name, so a deploy rolls."""
    return f"{stack}_{name}_{hashlib.sha256(content).hexdigest()[:12]}"


def compose_value(value: str) -> str:
    """A value as the program sees it: `docker compose config` prints `$` escaped as `$$`."""
    return value.replace("$$", "$")


class Renderer:
    """Compose's resolved config -> a stack file dict, plus the files its secrets and configs read."""

    def __init__(self, config: dict, options: Options, out: Path):
        self.config, self.options, self.out = config, options, out
        self.topology = servers.load()
        self.secrets: dict[str, dict] = {}
        self.configs: dict[str, dict] = {}

    def file(self, kind: str, name: str, content: bytes) -> dict:
        """Write a secret's or config's content under out/ (0600) and declare it once."""
        folder = self.out / kind
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / name
        path.touch(mode=0o600)
        path.write_bytes(content)
        table = self.secrets if kind == "secrets" else self.configs
        table[name] = {"file": str(path), "name": versioned(self.options.stack, name, content)}
        return table[name]

    def stack(self) -> dict:
        services = self.config["services"]
        missing = [name for name in self.topology.names if name not in services]
        if missing:
            raise SwarmError(f"servers.toml has {missing}, but docker-compose.yml has no such "
                             "service: add one per server (see the servers there)")
        # Always this renderer's PgBouncer (a Compose profile's, if active, is replaced): its
        # numbers come from the budget at this REPLICAS.
        services = {**services, POOLER: self.pooler_spec(services)}
        rendered = {name: self.service(name, spec) for name, spec in services.items()}
        self.fit_postgres(rendered["postgres"])
        return {
            "version": "3.8",
            "services": rendered,
            "networks": {
                # No IPVS on every kernel: the overlay carries task-to-task traffic, which is all
                # dnsrr needs. Encrypt it across hosts with driver_opts: {encrypted: ""}.
                "front": {"driver": "overlay", "ipam": {"config": [{"subnet": self.options.front_subnet}]}},
                "back": {"driver": "overlay", "ipam": {"config": [{"subnet": self.options.back_subnet}]}},
            },
            "volumes": {name: {} for name in self.config.get("volumes", {})},
            "secrets": self.secrets,
            "configs": self.configs,
        }

    def service(self, name: str, spec: dict) -> dict:
        unknown = sorted(set(spec) - set(SWARM_HANDLING) - KEPT)
        if unknown:
            raise SwarmError(f"service {name}: stack/swarm.py does not know what Swarm does with "
                             f"{unknown}; decide, and add it to SWARM_HANDLING or KEPT")
        out = {key: spec[key] for key in sorted(KEPT & set(spec)) if key != "env_file"}
        for key in ("command", "entrypoint"):
            if spec.get(key) is not None:
                out[key] = spec[key]
        if "healthcheck" in spec:
            out["healthcheck"] = self.healthcheck(spec["healthcheck"])
        out["environment"], secrets = self.environment(name, spec.get("environment") or {})
        mounts = self.tmpfs(spec.get("tmpfs") or []) + self.volumes(name, spec.get("volumes") or [], secrets)
        if mounts:
            out["volumes"] = mounts
        if secrets:
            out["secrets"] = secrets
        if name == "nginx":
            out["configs"] = self.nginx_templates()
            out["ports"] = [{"target": port["target"], "published": int(port["published"]),
                             "protocol": port.get("protocol", "tcp"), "mode": "host"}
                            for port in spec.get("ports", [])]
        elif spec.get("ports"):
            raise SwarmError(f"service {name}: only nginx publishes ports")
        out["networks"] = self.networks(name)
        out["deploy"] = self.deploy(name, spec.get("deploy") or {})
        return out

    def connection_budget(self) -> budget.Budget:
        """Every server's REPLICAS tasks, plus the one a start-first update adds, each process
        with its pool full; PgBouncer's tasks likewise."""
        # A server's environment: WEB_CONCURRENCY is the start scripts' setting, not migrate's.
        app = self.config["services"][self.topology.names[0]].get("environment") or {}
        tasks = {name: self.options.replicas + 1 for name in self.topology.names}
        servers_side = budget.Budget("swarm", tasks, int(app["WEB_CONCURRENCY"]),
                                     int(app["DB_POOL_MAX_SIZE"]))
        pooler = budget.Pooler(POOLER_REPLICAS + 1, budget.POOLER_POOL_SIZE, servers_side.max_client_conn())
        return budget.Budget("swarm", tasks, servers_side.processes, servers_side.pool_size, pooler)

    def pooler_spec(self, services: dict) -> dict:
        """PgBouncer as a Compose service declares it, with the app's image repository and tag
        and PostgreSQL's role; its numbers from the connection budget."""
        repository, _, tag = services[ONE_SHOT]["image"].rpartition(":")
        postgres = services["postgres"]["environment"]
        connections = self.connection_budget()
        app = services[ONE_SHOT].get("environment") or {}
        environment = {"POSTGRES_HOST": "postgres", "POSTGRES_PORT": "5432",
                       "POSTGRES_USER": postgres["POSTGRES_USER"],
                       "POSTGRES_PASSWORD": postgres["POSTGRES_PASSWORD"],
                       "PGBOUNCER_POOL_SIZE": str(connections.pooler.pool_size),
                       "PGBOUNCER_MAX_CLIENT_CONN": str(connections.pooler.max_clients)}
        if "DB_POOL_TIMEOUT" in app:
            environment["DB_POOL_TIMEOUT"] = app["DB_POOL_TIMEOUT"]
        return {
            "image": f"{repository.rpartition('/')[0]}/pgbouncer:{tag}",
            "read_only": True, "cap_drop": ["ALL"], "tmpfs": ["/tmp:mode=1777"],
            "environment": environment,
            # pgbouncer/Dockerfile's check, kept here: Swarm keeps an image's HEALTHCHECK, but
            # the retries are raised like every other service's.
            "healthcheck": {"test": ["CMD", "/opt/pgbouncer/healthcheck"],
                            "interval": "5s", "timeout": "5s", "retries": 3, "start_period": "5s"},
            # Its safe shutdown: transactions in flight finish.
            "stop_signal": "SIGINT", "stop_grace_period": "30s",
        }

    def fit_postgres(self, postgres: dict) -> None:
        """PostgreSQL's max_connections from the connection budget, in place of Compose's."""
        old = postgres.get("command") or ["postgres"]
        setting = "max_connections="
        command = [part for i, part in enumerate(old) if not part.startswith(setting)
                   and not (part == "-c" and old[i + 1:i + 2] and old[i + 1].startswith(setting))]
        postgres["command"] = [*command, "-c", f"{setting}{self.connection_budget().postgres_connections}"]

    @staticmethod
    def healthcheck(check: dict) -> dict:
        """Compose's check, failing for LIVENESS_SECONDS before it counts: on Swarm an unhealthy
        task is killed and replaced (Compose only marks it), so a server busy for a few seconds on
        a loaded machine must not be taken for a dead one."""
        if check.get("disable") or "interval" not in check:
            return check
        interval = seconds(check["interval"])
        return {**check, "retries": max(check.get("retries", 3), math.ceil(LIVENESS_SECONDS / interval))}

    def environment(self, service: str, environment: dict) -> tuple[dict, list[dict]]:
        kept, secrets = {}, []
        for variable, value in sorted(environment.items()):
            if variable == "DATABASE_URL" and service in self.topology.names and value is not None:
                value = through_pooler(value)
                kept["DB_POOLER"] = "pgbouncer"
            if variable in SECRET_VARIABLES and value is not None:
                secret = SECRET_VARIABLES[variable]
                if variable == "DATABASE_URL" and service in self.topology.names:
                    secret += "_pooled"
                self.file("secrets", secret, compose_value(value).encode())
                secrets.append({"source": secret, "target": secret})
                kept[f"{variable}_FILE"] = f"/run/secrets/{secret}"
            elif variable == "DB_POOLER" and variable in kept:
                continue  # Compose's default (direct), which the pooled DATABASE_URL replaced
            elif variable == "FORWARDED_ALLOW_IPS" and service in self.topology.names:
                # nginx has no fixed address on Swarm: trust the network only nginx and the
                # servers are on.
                kept[variable] = self.options.front_subnet
            else:
                kept[variable] = value
        return kept, secrets

    @staticmethod
    def tmpfs(entries: list[str]) -> list[dict]:
        return [{"type": "tmpfs", "target": entry.split(":", 1)[0]} for entry in entries]

    def volumes(self, service: str, volumes: list[dict], secrets: list[dict]) -> list[dict]:
        mounts = []
        for volume in volumes:
            if volume["type"] == "volume":
                mounts.append({"type": "volume", "source": volume["source"], "target": volume["target"]})
            elif volume["type"] == "bind" and volume["target"] in TLS_FILES:
                if volume["source"] != "/dev/null":  # /dev/null: no TLS (docker-compose.yml)
                    secret = TLS_FILES[volume["target"]]
                    self.file("secrets", secret, Path(volume["source"]).read_bytes())
                    secrets.append({"source": secret, "target": volume["target"]})
            else:
                raise SwarmError(f"service {service}: the bind mount {volume['source']} would need "
                                 "that path on every node; use a named volume, a secret or a config")
        return mounts

    def nginx_templates(self) -> list[dict]:
        """The site templates rendered for Swarm, mounted over the image's own."""
        folder = self.out / "nginx"
        render.write_container_config(folder, render.SWARM)
        mounted = []
        for template in ("default.conf.template", "tls.conf.template"):
            name = "nginx_" + template.split(".")[0]
            self.file("configs", name, (folder / template).read_bytes())
            mounted.append({"source": name, "target": f"{NGINX_TEMPLATES}/{template}"})
        return mounted

    def networks(self, name: str) -> list[str]:
        if name == "nginx":
            return ["front"]
        if name in self.topology.names:
            return ["front", "back"]
        return ["back"]

    def deploy(self, name: str, deploy: dict) -> dict:
        out: dict = {"endpoint_mode": "dnsrr"}
        limits = (deploy.get("resources") or {}).get("limits") or {}
        if limits:
            out["resources"] = {"limits": {key: str(value) for key, value in limits.items()
                                           if key in ("cpus", "memory")}}
        if name in self.topology.names:
            # A new task first, healthy (so in DNS), then the old one stops: nothing is dropped.
            rolling = {"parallelism": 1, "order": "start-first", "failure_action": "rollback",
                       "monitor": "10s"}
            out.update(mode="replicated", replicas=self.options.replicas, update_config=rolling,
                       rollback_config={**rolling, "failure_action": "pause"},
                       restart_policy={"condition": "any", "delay": "2s"})
        elif name == "nginx":
            # Every node answers on the ports: host-mode ports cannot be shared, so stop-first.
            out.update(mode="global", update_config={"order": "stop-first"},
                       restart_policy={"condition": "any", "delay": "2s"})
        elif name == ONE_SHOT:
            out.update(mode="replicated", replicas=1,
                       restart_policy={"condition": "on-failure", "delay": "5s"})
        elif name == POOLER:
            # Stateless: on any node, a new task healthy before an old one stops.
            out.update(mode="replicated", replicas=POOLER_REPLICAS,
                       update_config={"parallelism": 1, "order": "start-first"},
                       restart_policy={"condition": "any", "delay": "2s"})
        elif name in DATA_SERVICES:
            out.update(mode="replicated", replicas=1, update_config={"order": "stop-first"},
                       restart_policy={"condition": "any", "delay": "2s"},
                       placement={"constraints": [f"node.hostname == {self.options.data_node}"]})
        else:
            raise SwarmError(f"service {name} is neither a server in servers.toml nor one this "
                             "renderer knows (nginx, migrate, pgbouncer, postgres, redis)")
        return out
