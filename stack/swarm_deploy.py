"""Deploy the stack file stack/swarm.py renders: `docker stack deploy`, convergence, removal.

    python -m stack swarm up      # render, deploy, wait until every service has converged
    python -m stack swarm down    # remove the stack (the database volume is kept)
    python -m stack swarm render  # only write the stack file and what it mounts

Compose options (--env-file, -f, --project-name) are passed through: `-- -f a.yml -f b.yml`.
Everything here talks to Docker; stack/swarm.py, which it calls, talks to nothing.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from . import servers
from .swarm import ONE_SHOT, Options, Renderer, SwarmError, options_from


def docker(*args: str, timeout: float = 120, check: bool = True,
           env: dict | None = None) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise SwarmError(f"`docker {shlex.join(args)}` did not finish within {timeout:.0f} s") from None
    if check and result.returncode != 0:
        raise SwarmError(f"`docker {shlex.join(args)}` failed: {(result.stderr or result.stdout).strip()}")
    return result


def compose_config(compose_args: list[str], env: dict | None = None,
                   compose: tuple[str, ...] = ("docker", "compose")) -> dict:
    """docker-compose.yml (and any overrides) as Compose resolves it; `compose`: how to run Compose."""
    command = [*compose, *compose_args, "config", "--format", "json"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SwarmError(f"`{shlex.join(command)}` could not run: {error}") from None
    if result.returncode != 0:
        raise SwarmError(f"`docker compose config` failed (Compose v2 is required): {result.stderr.strip()}")
    return json.loads(result.stdout)


def swarm_node() -> str:
    """This engine's node hostname, or a clear error when it is not a swarm manager."""
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}").stdout.split()
    if state[:1] != ["active"]:
        raise SwarmError("this Docker engine is not in a swarm: `docker swarm init` first (one "
                         "machine: `docker swarm init --advertise-addr 127.0.0.1`), or `docker "
                         "swarm join` it to yours")
    if state[1:] != ["true"]:
        raise SwarmError("this node is a swarm worker: deploy from a manager (`docker node ls` there)")
    return docker("node", "inspect", "self", "--format", "{{.Description.Hostname}}").stdout.strip()


def render_stack(compose_args: list[str], out: Path, env: dict | None = None) -> tuple[Path, Options]:
    config = compose_config(compose_args, env)
    project = f"label=com.docker.compose.project={config['name']}"
    if docker("ps", "-q", "--filter", project).stdout.split():
        # Both would run PostgreSQL on the same volume (<project>_pgdata) and corrupt it.
        raise SwarmError(f"the Compose project {config['name']} is running here (`make up`): "
                         "`make down` first, or give the swarm stack another COMPOSE_PROJECT_NAME")
    options = options_from(config, swarm_node())
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    stack = Renderer(config, options, out).stack()
    path = out / "stack.yml"
    # JSON is YAML: no YAML library needed to write what `docker stack deploy` reads.
    path.write_text(json.dumps(stack, indent=2) + "\n")
    return path, options


def services(stack: str) -> list[str]:
    names = docker("service", "ls", "--filter", f"label=com.docker.stack.namespace={stack}",
                   "--format", "{{.Name}}").stdout.split()
    return sorted(names)


def tasks(service: str) -> list[dict]:
    """The service's tasks, newest first: state, desired state, error, node."""
    result = docker("service", "ps", service, "--no-trunc", "--format", "{{json .}}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def ready_nodes() -> list[str]:
    nodes = docker("node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.Availability}}").stdout
    return [line.split()[0] for line in nodes.splitlines() if line.split()[1:] == ["Ready", "Active"]]


def converged(stack_file: dict, stack: str) -> tuple[list[str], list[str]]:
    """(services still starting, services failing) of a deployed stack."""
    waiting, failing = [], []
    for name, spec in stack_file["services"].items():
        service = f"{stack}_{name}"
        current = tasks(service)
        if name == ONE_SHOT:
            if any(task["CurrentState"].startswith("Complete") for task in current):
                continue
        else:
            running = [task for task in current if task["DesiredState"] == "Running"
                       and task["CurrentState"].startswith("Running")]
            wanted = spec["deploy"].get("replicas") or len(ready_nodes())  # global: one per node
            if len(running) >= wanted:
                continue
        failed = [task for task in current if task["CurrentState"].startswith(("Failed", "Rejected"))]
        # migrate fails until PostgreSQL answers. A task that is not healthy by the end of its
        # start period is killed and replaced (Compose would keep it), which a slow, busy machine
        # can cause once or twice; three times per replica is a crash loop.
        limit = 10 if name == ONE_SHOT else 3 * spec["deploy"].get("replicas", 1)
        (failing if len(failed) >= limit else waiting).append(service)
    return waiting, failing


def wait_converged(stack_file: dict, stack: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        waiting, failing = converged(stack_file, stack)
        if failing:
            raise SwarmError("not converging (tasks keep failing): " + ", ".join(failing) + "\n"
                             + "\n".join(diagnose(service) for service in failing))
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise SwarmError(f"not converged after {timeout:.0f} s: {', '.join(waiting)}\n"
                             + "\n".join(diagnose(service) for service in waiting))
        time.sleep(2)


def diagnose(service: str) -> str:
    states = docker("service", "ps", service, "--no-trunc", "--format",
                    "{{.Name}} {{.CurrentState}} {{.Error}}", check=False).stdout
    logs = docker("service", "logs", "--tail", "15", "--no-trunc", service, check=False)
    return f"--- {service} ---\n{states}{logs.stdout}{logs.stderr}"


def deploy(compose_args: list[str], out: Path, timeout: float, resolve_image: str = "never",
           env: dict | None = None) -> Options:
    stack_path, options = render_stack(compose_args, out, env)
    docker("stack", "deploy", "--prune", "--resolve-image", resolve_image, "--with-registry-auth",
           "-c", str(stack_path), options.stack, timeout=300)
    wait_converged(json.loads(stack_path.read_text()), options.stack, timeout)
    return options


def remove(stack: str, timeout: float = 120) -> None:
    """`docker stack rm`, then wait until its containers and networks are really gone."""
    docker("stack", "rm", stack, check=False, timeout=timeout)
    label = f"label=com.docker.stack.namespace={stack}"
    deadline = time.monotonic() + timeout
    while True:
        left = [docker(kind, "ls", "-q", "--filter", label).stdout.split()
                for kind in ("service", "network", "secret", "config")]
        left.append(docker("ps", "-a", "-q", "--filter", label).stdout.split())
        if not any(left):
            return
        if time.monotonic() > deadline:
            raise SwarmError(f"stack {stack}: services, networks, secrets, configs, containers "
                             f"left after {timeout:.0f} s: {left}")
        time.sleep(1)


def print_urls(options: Options) -> None:
    topology = servers.load()
    print(f"\nThe stack {options.stack} is up on Swarm, {options.replicas} replicas per server "
          f"(`docker stack ps {options.stack}`; `make swarm-down` removes it):")
    print(f"  http://127.0.0.1:{topology.production.port}/  production: HTTP -> "
          f"{topology.production.http.name}, /ws/ -> {topology.production.websocket.name}")
    for server in topology.servers:
        print(f"  http://127.0.0.1:{server.port}/  {server.label}")


def command(action: str, compose_args: list[str], out: Path, timeout: float, resolve_image: str) -> None:
    """`python -m stack swarm ACTION`: a failure is one message saying what to do, no traceback."""
    try:
        if action == "render":
            path, _ = render_stack(compose_args, out)
            print(path)
        elif action == "up":
            print_urls(deploy(compose_args, out, timeout, resolve_image))
        else:
            stack = compose_config(compose_args)["name"]
            swarm_node()  # a clear word when there is no swarm (or only a worker) here
            remove(stack)
            print(f"stack {stack} removed (its database volume {stack}_pgdata is kept: "
                  f"`docker volume rm {stack}_pgdata` drops it)")
    except SwarmError as error:
        sys.exit(f"swarm {action}: {error}")
