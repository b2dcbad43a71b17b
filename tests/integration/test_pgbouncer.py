"""PgBouncer in transaction mode between real servers and the host run's PostgreSQL.

The module starts its own PgBouncer (pgbouncer/start, as the image and the host run do) with a
small pool, so the servers' many connections really share few PostgreSQL ones, and its own WSGI
and ASGI server (servers.toml's commands) pointed at it: whatever DB_POOLER the session's stack
runs with, this is the path Swarm and Kubernetes take.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from stack import local
from stack.servers import ROOT
from tests.stacks import HOST_RUN_ONLY

pytestmark = HOST_RUN_ONLY

POOL_SIZE = 4  # PgBouncer's connections to PostgreSQL: far fewer than the servers' 2 x 2 x 8
POOL_TIMEOUT = 2.0  # DB_POOL_TIMEOUT, which PgBouncer's query_wait_timeout follows
PATHS = ["/db", "/queries?queries=10", "/updates?queries=10"]
REQUESTS = 300  # per server, path by path in turn
CLIENTS = 12


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(ready, what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.25)
    pytest.fail(f"{what} did not start within {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


def answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Process:
    popen: subprocess.Popen
    port: int
    log: Path

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
            self.popen.wait(timeout=40)


def start_pgbouncer(folder: Path, port: int | None = None) -> Process:
    if not shutil.which("pgbouncer", path=f"{os.environ.get('PATH', '')}:/usr/sbin"):
        pytest.fail("pgbouncer is not installed: apt-get install pgbouncer (Debian's package)")
    user = local.postgres_user()  # PgBouncer refuses to run as root
    folder.mkdir(mode=0o700, exist_ok=True)
    password = folder / "postgres-password"
    password.write_text(local.read_or_create_secret("postgres-password"))
    password.chmod(0o600)
    if user:
        shutil.chown(folder, user)
        shutil.chown(password, user)
    port = port or free_port()
    env = {"PATH": os.environ["PATH"], "POSTGRES_HOST": "127.0.0.1",
           "POSTGRES_PORT": str(local.run_place().pg_port), "POSTGRES_USER": "app",
           "POSTGRES_PASSWORD_FILE": str(password),
           "PGBOUNCER_LISTEN_ADDR": "127.0.0.1", "PGBOUNCER_PORT": str(port),
           "PGBOUNCER_POOL_SIZE": str(POOL_SIZE), "PGBOUNCER_MAX_CLIENT_CONN": "200",
           "DB_POOL_TIMEOUT": str(POOL_TIMEOUT), "PGBOUNCER_RUN_DIR": str(folder)}
    log = folder.parent / "pgbouncer-test.log"
    popen = subprocess.Popen([str(ROOT / "pgbouncer" / "start")], env=env, user=user, start_new_session=True,
                             stdout=log.open("wb"), stderr=subprocess.STDOUT)
    wait_until(lambda: local.port_open(port), "PgBouncer", log, timeout=15)
    return Process(popen, port, log)


def start_server(topology, name: str, pgbouncer_port: int, tmp: Path, **env: str) -> Process:
    server = topology[name]
    port = free_port()
    url = local.postgres_url().replace(f":{local.run_place().pg_port}/", f":{pgbouncer_port}/")
    environment = {**local.app_environment(), **server.env, "SERVED_BY": name, "HOST": "127.0.0.1",
                   "PORT": str(port), "WEB_CONCURRENCY": "2", "DATABASE_URL": url,
                   "DB_POOLER": "pgbouncer", "DB_POOL_TIMEOUT": str(POOL_TIMEOUT), **env}
    environment = {key: value for key, value in environment.items() if value is not None}
    log = tmp / f"{name}-{port}.log"
    popen = subprocess.Popen([str(ROOT / server.command)], cwd=ROOT, env=environment, start_new_session=True,
                             stdout=log.open("wb"), stderr=subprocess.STDOUT)
    process = Process(popen, port, log)
    wait_until(lambda: answers(port), name, log)
    return process


@pytest.fixture(scope="module")
def pgbouncer(stack):
    process = start_pgbouncer(local.run_place().folder / "test-pgbouncer")
    yield process
    process.stop(signal.SIGINT)


@pytest.fixture(scope="module")
def pooled_servers(stack, topology, pgbouncer, tmp_path_factory):
    """One WSGI and one ASGI server, through PgBouncer with the app's handling on."""
    tmp = tmp_path_factory.mktemp("pgbouncer")
    started = [start_server(topology, name, pgbouncer.port, tmp)
               for name in (topology.production.http.name, topology.production.websocket.name)]
    yield started
    for process in started:
        process.stop()


def hammer(ports: list[int], requests: int = REQUESTS) -> Counter:
    """Concurrent GETs of /db, /queries and /updates on every port; (status, path) counted."""
    urls = [f"http://127.0.0.1:{port}{path}" for port in ports for path in PATHS]
    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=CLIENTS)) as client:
        def get(url: str) -> tuple[int, str]:
            return client.get(url).status_code, url.split("?")[0].rsplit("/", 1)[1]

        with ThreadPoolExecutor(CLIENTS) as pool:
            return Counter(pool.map(get, [urls[i % len(urls)] for i in range(requests * len(ports))]))


def test_concurrent_load_through_pgbouncer_has_no_errors(pooled_servers):
    outcomes = hammer([process.port for process in pooled_servers])
    print("\nthrough PgBouncer, transaction pooling:", dict(outcomes))
    assert {status for status, _ in outcomes} == {200}, outcomes
    for process in pooled_servers:
        assert "prepared statement" not in process.log.read_text(errors="replace")


def test_server_side_prepared_statements_break_transaction_pooling(stack, topology, pgbouncer, tmp_path):
    """The trap the handling avoids: psycopg's own threshold (5), behind PgBouncer 1.18, fails.

    DB_POOLER unset is the app not told that PgBouncer is there, so it lets psycopg prepare.
    """
    server = start_server(topology, topology.production.http.name, pgbouncer.port, tmp_path,
                          DB_POOLER="", DB_PREPARE_THRESHOLD="5")
    try:
        outcomes = hammer([server.port], requests=150)
    finally:
        server.stop()
    print("\nprepared statements through PgBouncer:", dict(outcomes))
    assert outcomes[(500, "db")] > 0, outcomes
    log = server.log.read_text(errors="replace")
    assert 'prepared statement "_pg3_' in log, log[-2000:]


def test_the_settings_refuse_prepared_statements_behind_pgbouncer(topology, tmp_path):
    environment = {**local.app_environment(), "DB_POOLER": "pgbouncer", "DB_PREPARE_THRESHOLD": "5"}
    done = subprocess.run([str(local.VENV_BIN / "python"), "manage.py", "check"], cwd=ROOT / "app",
                          env=environment, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "DB_PREPARE_THRESHOLD=5 with DB_POOLER=pgbouncer" in done.stderr


def timed_get(url: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(url, timeout=30)
    return response, time.monotonic() - started


def assert_prompt_503s(ports: list[int]) -> list[float]:
    urls = [f"http://127.0.0.1:{port}/db" for port in ports] * 2
    with ThreadPoolExecutor(len(urls)) as pool:
        results = list(pool.map(timed_get, urls))
    for response, elapsed in results:
        assert response.status_code == 503, response.text[:300]
        assert response.json()["error"] == "database unavailable"
        # DB_POOL_TIMEOUT bounds the wait (PgBouncer's query_wait_timeout, or the app's pool),
        # with a margin for a busy machine: never PgBouncer's own 120 s, never a hang.
        assert elapsed < POOL_TIMEOUT + 2.5, elapsed
    return [round(elapsed, 2) for _, elapsed in results]


def test_a_full_pgbouncer_pool_answers_503_within_the_pool_timeout(pooled_servers, pgbouncer):
    """Every PostgreSQL connection PgBouncer may open is held in a transaction: the requests
    queue in PgBouncer, which gives up after DB_POOL_TIMEOUT; the app answers its JSON 503."""
    url = local.postgres_url().replace(f":{local.run_place().pg_port}/", f":{pgbouncer.port}/")
    holders = [psycopg.connect(url, autocommit=False, prepare_threshold=None) for _ in range(POOL_SIZE)]
    try:
        for holder in holders:
            holder.execute("SELECT 1")  # a transaction begun: its server connection stays taken
        print("\nPgBouncer's pool held:", assert_prompt_503s([p.port for p in pooled_servers]))
    finally:
        for holder in holders:
            holder.close()
    assert {status for status, _ in hammer([p.port for p in pooled_servers], requests=30)} == {200}


def test_a_query_queued_in_pgbouncer_gives_up_after_the_pool_timeout(pgbouncer):
    """PgBouncer would queue it for 120 s (query_wait_timeout's default): a request whose pool
    check passed, but whose next query finds every PostgreSQL connection taken, would hang."""
    url = local.postgres_url().replace(f":{local.run_place().pg_port}/", f":{pgbouncer.port}/")
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as queued:
        holders = [psycopg.connect(url, autocommit=False, prepare_threshold=None) for _ in range(POOL_SIZE)]
        try:
            for holder in holders:
                holder.execute("SELECT 1")
            with ThreadPoolExecutor(1) as pool:
                started = time.monotonic()
                outcome = pool.submit(lambda: queued.execute("SELECT 1"))
                try:
                    error = outcome.exception(timeout=POOL_TIMEOUT + 5)
                except TimeoutError:
                    pytest.fail("the query was still queued in PgBouncer after DB_POOL_TIMEOUT + 5 s")
                elapsed = time.monotonic() - started
        finally:
            for holder in holders:
                holder.close()
    assert isinstance(error, psycopg.OperationalError) and "query_wait_timeout" in str(error), error
    assert elapsed < POOL_TIMEOUT + 1.5, elapsed


def test_pgbouncer_down_answers_503_within_the_pool_timeout(pooled_servers, pgbouncer):
    pgbouncer.stop(signal.SIGINT)
    try:
        print("\nPgBouncer stopped:", assert_prompt_503s([p.port for p in pooled_servers]))
    finally:
        pgbouncer.popen = start_pgbouncer(local.run_place().folder / "test-pgbouncer", pgbouncer.port).popen
    assert {status for status, _ in hammer([p.port for p in pooled_servers], requests=30)} == {200}
