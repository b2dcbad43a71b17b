"""The host run: the whole topology as processes on 127.0.0.1, under supervisord.

`up` prepares a private PostgreSQL cluster and the configs in the run folder, starts supervisord,
migrates, collects static files, starts the servers and nginx, and returns once every part
answers. `down` shuts supervisord down, which stops exactly what it started.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import jinja2

from . import budget, certs, render, servers, supervisor
from . import settings as settings_list
from .servers import ROOT

VENV_BIN = Path(sys.executable).parent
INSTALL_HINT = "install it with `make deps` (Debian/Ubuntu: apt-get install nginx postgresql redis-server)"


class StackError(SystemExit):
    """A failure the user can act on: printed as one message, no traceback."""

    def __init__(self, message: str):
        super().__init__(f"local run: {message}")


@dataclass(frozen=True)
class RunPlace:
    """Where the host run lives: its folder and its private ports (the defaults here).

    LOCAL_RUN_DIR, LOCAL_PG_PORT and LOCAL_REDIS_PORT move them, read each time run_place() is
    called, never at import: a test or a command that sets them after importing this module (or a
    module that imports it) still gets the run it asked for.
    """

    folder: Path = ROOT / ".run"
    pg_port: int = 54329
    redis_port: int = 63790
    # PgBouncer, where DB_POOLER=pgbouncer puts it between the servers and PostgreSQL.
    pgbouncer_port: int = 64329

    @property
    def logs(self) -> Path:
        """Every program's log, one file each (supervisord writes them)."""
        return self.folder / "logs"

    @classmethod
    def from_environment(cls) -> RunPlace:
        default, env = cls(), os.environ
        return cls(
            folder=Path(env.get("LOCAL_RUN_DIR", default.folder)).resolve(),
            pg_port=int(env.get("LOCAL_PG_PORT", default.pg_port)),
            redis_port=int(env.get("LOCAL_REDIS_PORT", default.redis_port)),
        )


def run_place() -> RunPlace:
    """The host run's place as the environment says now."""
    return RunPlace.from_environment()


@dataclass(frozen=True)
class Binaries:
    postgres_bin: Path
    redis: str
    nginx: str


def find_binaries() -> Binaries:
    # Debian keeps PostgreSQL's server programs off PATH, under /usr/lib/postgresql/<version>/bin.
    candidates = [Path(p).parent for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))]
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).resolve().parent)
    if not candidates:
        raise StackError(f"PostgreSQL's initdb was not found: {INSTALL_HINT}")
    found = {}
    for name in ("redis-server", "nginx"):
        path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
        if not path:
            raise StackError(f"{name} was not found: {INSTALL_HINT}")
        found[name] = path
    return Binaries(postgres_bin=candidates[-1], redis=found["redis-server"], nginx=found["nginx"])


def postgres_user() -> str | None:
    """PostgreSQL refuses to run as root; as root, run it as the `postgres` system user."""
    return "postgres" if os.geteuid() == 0 else None


def read_or_create_secret(name: str) -> str:
    path = run_place().folder / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def pooler() -> str:
    """DB_POOLER: "pgbouncer" puts PgBouncer between the servers and PostgreSQL."""
    return os.environ.get("DB_POOLER", "")


def postgres_url() -> str:
    port = run_place().pg_port
    return f"postgres://app:{read_or_create_secret('postgres-password')}@127.0.0.1:{port}/app"


def app_environment() -> dict[str, str]:
    """Every setting (settings.toml's defaults), the services of this run, and the caller's env,
    which wins: the servers get each setting they read, as in every other deployment."""
    place = run_place()
    url = postgres_url()
    if pooler():
        url = url.replace(f":{place.pg_port}/", f":{place.pgbouncer_port}/")
    defaults = {
        **settings_list.defaults(),
        "DATABASE_URL": url,
        "REDIS_URL": f"redis://127.0.0.1:{place.redis_port}/0",
        "SECRET_KEY": read_or_create_secret("django-secret-key"),
        "STATIC_ROOT": str(place.folder / "static"),
        # Plain HTTP on loopback: cookies marked Secure would never come back.
        "SECURE_COOKIES": "0",
    }
    path = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**defaults, **os.environ, "PATH": path}


def connection_budget(env: dict[str, str]) -> budget.Budget:
    """Every server once, each process with its pool full, plus a test process's own pool and its
    connection to the `postgres` database (pytest-django), which the host run also serves."""
    declared = settings_list.defaults()
    pool_size = int(env.get("DB_POOL_MAX_SIZE", declared["DB_POOL_MAX_SIZE"]))
    processes = int(env.get("WEB_CONCURRENCY", declared["WEB_CONCURRENCY"]))
    tasks = {server.name: 1 for server in servers.load().servers}
    direct = budget.Budget("host run", tasks, processes, pool_size, extra=pool_size + 1)
    if not pooler():
        return direct
    pgbouncer = budget.Pooler(1, budget.POOLER_POOL_SIZE, direct.max_client_conn())
    return dataclasses.replace(direct, pooler=pgbouncer)


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, check=True, **kwargs)
    except subprocess.CalledProcessError as error:
        raise StackError(f"`{' '.join(command)}` failed with exit status {error.returncode}") from None


def init_postgres(binaries: Binaries, place: RunPlace) -> None:
    data = place.folder / "pgdata"
    if (data / "PG_VERSION").exists():
        return
    user = postgres_user()
    data.mkdir(parents=True, exist_ok=True)
    socket_dir = place.folder / "pgsocket"
    socket_dir.mkdir(exist_ok=True)
    if user:
        shutil.chown(data, user)
        shutil.chown(socket_dir, user)
    data.chmod(0o700)
    print("initdb: a private PostgreSQL cluster in", data, flush=True)
    # initdb reads the password from a file that its user can read, removed right after.
    password_file = place.folder / "initdb-password"
    password_file.write_text(read_or_create_secret("postgres-password"))
    password_file.chmod(0o600)
    if user:
        shutil.chown(password_file, user)
    try:
        run(
            [str(binaries.postgres_bin / "initdb"), "-D", str(data), "-U", "app", f"--pwfile={password_file}",
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
            user=user, stdout=subprocess.DEVNULL,
        )
    finally:
        password_file.unlink()


def prepare_pgbouncer(place: RunPlace) -> Path:
    """PgBouncer's folder, for its config and auth file, and the password it logs in with: its
    user's alone (PostgreSQL's, as root: PgBouncer refuses to run as root)."""
    folder = place.folder / "pgbouncer"
    folder.mkdir(mode=0o700, exist_ok=True)
    password = folder / "postgres-password"
    password.touch(mode=0o600)
    password.write_text(read_or_create_secret("postgres-password"))
    if postgres_user():
        shutil.chown(folder, postgres_user())
        shutil.chown(password, postgres_user())
    return folder


def render_configs(binaries: Binaries, place: RunPlace) -> None:
    target = render.host_target(place.folder, tls=certs.configured())
    main_conf, site = render.render(target)
    connections = connection_budget(app_environment())
    (place.folder / "nginx").mkdir(parents=True, exist_ok=True)
    (place.folder / "nginx" / "nginx.conf").write_text(main_conf)
    (place.folder / "nginx" / "site.conf").write_text(render.substitute_tunables(site))
    template = jinja2.Environment(  # noqa: S701 - renders an ini file, not HTML
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    ).get_template("supervisord.conf.j2")
    (place.folder / "supervisord.conf").write_text(
        template.render(
            run=place.folder,
            run_id=supervisor.run_id(place.folder),
            root=ROOT,
            servers=servers.load().servers,
            postgres=binaries.postgres_bin / "postgres",
            postgres_user=postgres_user(),
            pg_port=place.pg_port,
            pg_max_connections=connections.postgres_connections,
            pgbouncer=connections.pooler and {
                "folder": prepare_pgbouncer(place), "port": place.pgbouncer_port, "pg_port": place.pg_port,
                "pool_size": connections.pooler.pool_size, "max_clients": connections.pooler.max_clients,
            },
            redis=binaries.redis,
            redis_port=place.redis_port,
            nginx=binaries.nginx,
        )
    )


def supervisorctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "supervisorctl"), "-c", str(run_place().folder / "supervisord.conf"), *args],
        check=check, capture_output=True, text=True,
    )


def supervisord_running() -> bool:
    pid_file = run_place().folder / "supervisord.pid"
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (ValueError, ProcessLookupError):
        return False
    return True


def wait_for(what: str, ready, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.25)
    hint = ""
    if log is not None and log.exists():
        tail = log.read_text(errors="replace").splitlines()[-15:]
        hint = f"\n--- last lines of {log} ---\n" + "\n".join(tail)
    raise StackError(f"{what} did not become ready within {timeout:.0f} s{hint}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def server_healthy(server: servers.Server) -> bool:
    """Its own health check (servers.toml), or GET /healthz, on the port it listens on."""
    if server.healthcheck is None:
        return healthy(server.internal_port)
    probe = subprocess.run([str(ROOT / server.healthcheck), str(server.internal_port)],
                           check=False, capture_output=True, timeout=10)
    return probe.returncode == 0


def postgres_ready(binaries: Binaries, place: RunPlace) -> bool:
    result = subprocess.run(
        [str(binaries.postgres_bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(place.pg_port)],
        check=False,
    )
    return result.returncode == 0


def create_database(binaries: Binaries, env: dict[str, str], place: RunPlace) -> None:
    psql = [str(binaries.postgres_bin / "psql"), "-h", str(place.folder / "pgsocket"),
            "-p", str(place.pg_port), "-U", "app", "-d", "postgres", "-tAc"]
    exists = subprocess.run([*psql, "SELECT 1 FROM pg_database WHERE datname = 'app'"],
                            check=True, capture_output=True, text=True, env=env).stdout.strip()
    if exists != "1":
        run([*psql, "CREATE DATABASE app"], env=env, stdout=subprocess.DEVNULL)


def manage(env: dict[str, str], *args: str) -> None:
    run([str(VENV_BIN / "python"), "manage.py", *args], cwd=ROOT / "app", env=env)


def check_same_pooler(place: RunPlace) -> None:
    """The servers keep the DATABASE_URL supervisord started with: a running host run cannot
    switch DB_POOLER (PgBouncer's program would come or go under servers that still use it)."""
    recorded = place.folder / "db-pooler"
    if supervisord_running() and recorded.exists() and recorded.read_text() != pooler():
        raise StackError(f"it runs with DB_POOLER={recorded.read_text() or '(unset)'}, asked for "
                         f"DB_POOLER={pooler() or '(unset)'}: `make local-down` first")
    recorded.write_text(pooler())


def up() -> None:
    binaries = find_binaries()
    place = run_place()
    logs = place.logs
    logs.mkdir(parents=True, exist_ok=True)
    check_same_pooler(place)
    init_postgres(binaries, place)
    render_configs(binaries, place)
    env = app_environment()
    if supervisord_running():
        supervisorctl("reread")
        supervisorctl("update")
    else:
        run([str(VENV_BIN / "supervisord"), "-c", str(place.folder / "supervisord.conf")], env=env)
    wait_for("PostgreSQL", lambda: postgres_ready(binaries, place), 30, logs / "postgres.log")
    wait_for("Redis", lambda: port_open(place.redis_port), 15, logs / "redis.log")
    create_database(binaries, env, place)
    # Migrations go to PostgreSQL itself, as the migrate service and Job do.
    direct = {**env, "DATABASE_URL": postgres_url(), "DB_POOLER": ""}
    manage(direct, "migrate", "--noinput", "--verbosity", "0")
    manage(direct, "collectstatic", "--noinput", "--verbosity", "0")
    if pooler():
        wait_for(f"PgBouncer on 127.0.0.1:{place.pgbouncer_port}", lambda: port_open(place.pgbouncer_port),
                 15, logs / "pgbouncer.log")
    topology = servers.load()
    supervisorctl("start", "servers:*", check=False)
    for server in topology.servers:
        wait_for(f"{server.name} on 127.0.0.1:{server.internal_port}",
                 lambda server=server: server_healthy(server), 60, logs / f"{server.name}.log")
    supervisorctl("start", "nginx", check=False)
    for port, _ in topology.http_ports():
        wait_for(f"nginx on 127.0.0.1:{port}", lambda port=port: healthy(port), 30, logs / "nginx.log")
    wait_for(f"nginx TLS on 127.0.0.1:{topology.production.tls_port}",
             lambda: port_open(topology.production.tls_port), 30, logs / "nginx.log")
    print_urls(topology, place)


def print_urls(topology: servers.Topology, place: RunPlace) -> None:
    production = topology.production
    print(f"\nThe stack is up (logs: {place.folder / 'logs'}).")
    print(f"  http://127.0.0.1:{production.port}/  production routing: HTTP -> {production.http.name}, "
          f"/ws/ -> {production.websocket.name}, /static/ -> nginx")
    print(f"  https://127.0.0.1:{production.tls_port}/  the same over TLS and HTTP/2 "
          f"(certificate: {certs.configured().certificate})")
    for server in topology.servers:
        print(f"  http://127.0.0.1:{server.port}/  {server.label}")
    via = f" (the servers' through PgBouncer 127.0.0.1:{place.pgbouncer_port})" if pooler() else ""
    print(f"  PostgreSQL 127.0.0.1:{place.pg_port}{via}, Redis 127.0.0.1:{place.redis_port}\n"
          "Stop it with `make local-down`.")


def down() -> None:
    if not supervisord_running():
        print("local run: nothing is running")
        return
    pid = int((run_place().folder / "supervisord.pid").read_text())
    supervisorctl("shutdown", check=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print("local run: stopped")
            return
        time.sleep(0.2)
    raise StackError(f"supervisord (pid {pid}) did not stop within 60 s")


def foreground() -> None:
    """`make local`: up, then follow the logs until Ctrl-C, then down."""
    up()
    logs = sorted(str(p) for p in run_place().logs.glob("*.log") if p.name != "supervisord.log")
    follower = subprocess.Popen(["tail", "-n", "0", "-F", *logs])
    try:
        follower.wait()
    except KeyboardInterrupt:
        print("\nstopping…")
    finally:
        follower.terminate()
        down()
