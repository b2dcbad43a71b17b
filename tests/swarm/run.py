"""The stack on a single-node Docker Swarm (STACK=swarm): `make swarm-up`'s path, with the test's images.

The images are the container test's (stand-in bases, tag standin-test; rebuilt from cache in
seconds when that test ran first), the stack file is rendered by stack/swarm.py from
docker-compose.yml and compose.test.yml like any deploy. A swarm on loopback is created when the
engine is in none, and left again at the end; a swarm that was there is left as it was found.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from stack import swarm_deploy
from stack.servers import ROOT
from tests.stacks import ComposeError, ComposeRun


class SwarmRun(ComposeRun):
    name = "swarm"
    project = "django-servers-swarm-test"
    work = Path(tempfile.gettempdir()) / "django-servers-swarm-test"
    replicas = 2
    settings = {
        **ComposeRun.settings,
        "COMPOSE_PROJECT_NAME": project,
        "REPLICAS": str(replicas),
        # Two replicas of every server on two shared CPUs: one process each keeps the start short.
        "WEB_CONCURRENCY": "1",
    }
    converge_timeout = 300

    def __init__(self):
        super().__init__()
        self.log_file = self.work / "swarm-test.log"
        self.created_swarm = self.created_gwbridge = False

    # ---- the stack interface -------------------------------------------------------------------

    def up(self) -> None:
        started = self.prepare()
        try:
            self.ensure_swarm()
            self.remove()  # leftovers of an interrupted run
            self.free_ports()
            self.build_images()
            self.timed("deploy", lambda: swarm_deploy.deploy(self.compose_options, self.work / "stack",
                                                      self.converge_timeout, env=self.environment()))
        except (ComposeError, swarm_deploy.SwarmError) as error:
            with contextlib.suppress(ComposeError, swarm_deploy.SwarmError):
                self.down()
            pytest.exit(f"swarm stack: {error}\n(full log: {self.log_file})", returncode=1)
        ComposeRun.timings["total"] = time.monotonic() - started

    def down(self) -> None:
        try:
            self.remove()
        finally:
            if self.created_swarm:
                self.run(["docker", "swarm", "leave", "--force"], timeout=120)
                if self.created_gwbridge:
                    self.run(["docker", "network", "rm", "docker_gwbridge"], timeout=60)
                self.created_swarm = False

    def build_images(self) -> None:
        """The container test's images, plus PgBouncer's, which stack/swarm.py always deploys and
        Compose does not build (`make swarm-up` builds it the same way)."""
        super().build_images()
        image = f"{self.settings['IMAGE_REPOSITORY']}/pgbouncer:{self.settings['IMAGE_TAG']}"
        self.timed("pgbouncer image", lambda: self.run(
            ["docker", "build", "-q", "-f", "pgbouncer/Dockerfile", "--build-arg",
             "DEBIAN_IMAGE=standin/python:3.11", "-t", image, str(ROOT)], timeout=self.build_timeout))

    def stop(self, service: str) -> None:
        self.scale(service, 0)

    def start(self, service: str) -> None:
        self.scale(service, 1)

    # ---- helpers the swarm tests use -----------------------------------------------------------

    def ensure_swarm(self) -> None:
        state = self.run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"]).strip()
        if state == "inactive":
            # `swarm init` also creates the docker_gwbridge network, which `swarm leave` keeps.
            self.created_gwbridge = not self.quiet(["docker", "network", "inspect", "docker_gwbridge"])
            # Loopback only: the manager's port (2377) and the swarm's address stay on this machine.
            self.run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1",
                      "--listen-addr", "127.0.0.1:2377"], timeout=120)
            self.created_swarm = True
        elif state != "active":
            raise ComposeError(f"the engine's swarm is {state!r}: fix it (`docker swarm leave --force`?)")

    def remove(self) -> None:
        """The stack and its database volume: nothing of this test is left on the engine."""
        swarm_deploy.remove(self.project)
        volume = f"{self.project}_pgdata"
        # The volume is released a moment after its container is gone.
        deadline = time.monotonic() + 30
        while self.quiet(["docker", "volume", "inspect", volume]):
            if self.quiet(["docker", "volume", "rm", volume]):
                break
            if time.monotonic() > deadline:
                raise ComposeError(f"volume {volume} still in use after the stack was removed")
            time.sleep(1)

    def service(self, name: str) -> str:
        return f"{self.project}_{name}"

    def scale(self, name: str, replicas: int) -> None:
        self.run(["docker", "service", "scale", "--detach=false", f"{self.service(name)}={replicas}"],
                 timeout=180)

    def containers(self, name: str) -> list[dict]:
        """`docker inspect` of the service's running task containers."""
        ids = self.run(["docker", "ps", "-q", "--filter",
                        f"label=com.docker.swarm.service.name={self.service(name)}"]).split()
        return json.loads(self.run(["docker", "inspect", *ids])) if ids else []

    def task_addresses(self, name: str) -> set[str]:
        """The addresses nginx reaches a server's running replicas at (the front network)."""
        network = f"{self.project}_front"
        return {container["NetworkSettings"]["Networks"][network]["IPAddress"]
                for container in self.containers(name)}

    def running_tasks(self, name: str) -> set[str]:
        return {task["ID"] for task in swarm_deploy.tasks(self.service(name))
                if task["DesiredState"] == "Running" and task["CurrentState"].startswith("Running")}

    def wait_replicas(self, name: str, count: int, timeout: float = 120) -> set[str]:
        """The ids of `count` running (healthy) tasks, once there are that many."""
        deadline = time.monotonic() + timeout
        while len(running := self.running_tasks(name)) != count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}: {len(running)} running tasks after {timeout} s, "
                                     f"wanted {count}\n{swarm_deploy.diagnose(self.service(name))}")
            time.sleep(1)
        return running

    def upstreams(self, user_agent: str) -> list[str]:
        """The replica address of every request nginx logged with this User-Agent (access log:
        `upstream=$upstream_addr`, "a:8000, b:8000" when nginx retried on the next replica)."""
        addresses = []
        for line in self.logs("nginx"):
            if f'"{user_agent}"' in line and " upstream=" in line:
                tried = line.rsplit(" upstream=", 1)[1].split(", ")
                addresses.extend(address.rsplit(":", 1)[0] for address in tried)
        return addresses

    def logs(self, name: str) -> list[str]:
        """The log lines (stdout and stderr) of the service's running task containers."""
        lines = []
        for container in self.containers(name):
            result = subprocess.run(["docker", "logs", container["Id"]], capture_output=True, text=True,
                                    timeout=60, check=True)
            lines += (result.stdout + result.stderr).splitlines()
        return lines
