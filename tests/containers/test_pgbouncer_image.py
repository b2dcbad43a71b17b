"""The PgBouncer image (pgbouncer/Dockerfile), built from the stand-in Debian base, run as Compose,
Swarm and Kubernetes run it: read-only root, no capabilities, not root, in front of PostgreSQL.

Standalone (its own network and two containers), so it needs no docker-compose.yml service.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import pytest

from stack.servers import ROOT

pytestmark = [
    pytest.mark.containers,
    pytest.mark.skipif(
        os.environ.get("STACK") != "containers",
        reason="the container stack: run `make test-containers` (STACK=containers)",
    ),
]

IMAGE = "django-servers/pgbouncer:test"
PASSWORD = "pw-" + uuid.uuid4().hex[:8]


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        pytest.fail(f"docker {' '.join(args)}: {done.stderr.strip()[-2000:]}")
    return done


def psql(container: str, sql: str, detach: bool = False) -> subprocess.CompletedProcess:
    return docker("exec", *(["-d"] if detach else []), "-e", f"PGPASSWORD={PASSWORD}", container, "psql",
                  "-h", "127.0.0.1", "-p", "6432", "-U", "app", "-d", "app", "-tAc", sql)


@pytest.fixture(scope="module")
def pgbouncer():
    subprocess.run([str(ROOT / "tests/containers/build-standins")], check=True, timeout=1200)
    # The app's build reaches Debian's apt mirror as a user's does (tests/containers/compose.test.yml).
    build = subprocess.run(["docker", "build", "-q", "-f", "pgbouncer/Dockerfile", "--build-arg",
                            "DEBIAN_IMAGE=standin/python:3.11", "-t", IMAGE, "."], cwd=ROOT,
                           env={**os.environ, "DOCKER_BUILDKIT": "0"}, capture_output=True, text=True,
                           timeout=900)
    assert build.returncode == 0, build.stderr[-3000:]
    name = f"pgbouncer-test-{uuid.uuid4().hex[:8]}"
    docker("network", "create", name)
    try:
        docker("run", "-d", "--name", f"{name}-postgres", "--network", name, "--network-alias", "postgres",
               "-e", "POSTGRES_USER=app", "-e", f"POSTGRES_PASSWORD={PASSWORD}", "-e", "POSTGRES_DB=app",
               "standin/postgres:latest")
        docker("run", "-d", "--name", name, "--network", name, "--read-only", "--tmpfs", "/tmp:mode=1777",
               "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
               "-e", f"POSTGRES_PASSWORD={PASSWORD}", "-e", "PGBOUNCER_POOL_SIZE=5",
               "-e", "PGBOUNCER_MAX_CLIENT_CONN=100", IMAGE)
        deadline = time.monotonic() + 60
        health = ("inspect", "-f", "{{.State.Health.Status}}", name)
        while (status := docker(*health).stdout.strip()) != "healthy":
            assert status in ("starting", "") and time.monotonic() < deadline, (
                f"PgBouncer is {status}:\n{docker('logs', name, check=False).stderr[-2000:]}")
            time.sleep(1)
        yield name
    finally:
        docker("rm", "-f", name, f"{name}-postgres", check=False)
        docker("network", "rm", name, check=False)


def test_it_runs_as_its_own_user_on_a_read_only_root(pgbouncer):
    assert docker("exec", pgbouncer, "id", "-u").stdout.strip() == "10002"
    assert docker("exec", pgbouncer, "touch", "/opt/pgbouncer/x", check=False).returncode != 0
    config = json.loads(docker("inspect", pgbouncer).stdout)[0]["Config"]
    assert config["StopSignal"] == "SIGINT"


def test_it_pools_in_transaction_mode_in_front_of_postgresql(pgbouncer):
    assert psql(pgbouncer, "SELECT 'through PgBouncer'").stdout.strip() == "through PgBouncer"
    # The health check asks as the app's role: no refused login logged at every check.
    assert "not allowed" not in docker("logs", pgbouncer).stderr
    config = docker("exec", pgbouncer, "cat", "/tmp/pgbouncer/pgbouncer.ini").stdout
    assert "pool_mode = transaction" in config and "max_db_connections = 5" in config


def test_docker_stop_lets_a_transaction_in_flight_finish(pgbouncer):
    psql(pgbouncer, "CREATE TABLE IF NOT EXISTS stop_test (done int)")
    psql(pgbouncer, "BEGIN; SELECT pg_sleep(3); INSERT INTO stop_test VALUES (1); COMMIT;", detach=True)
    time.sleep(1)
    started = time.monotonic()
    docker("stop", "-t", "20", pgbouncer)
    stopped_after = time.monotonic() - started
    assert docker("inspect", "-f", "{{.State.ExitCode}}", pgbouncer).stdout.strip() == "0"
    # It waited for the transaction (about 2 s left), then exited, well before Docker's SIGKILL.
    assert 1 < stopped_after < 15, stopped_after
    rows = docker("exec", "-e", f"PGPASSWORD={PASSWORD}", f"{pgbouncer}-postgres", "psql", "-h", "127.0.0.1",
                  "-U", "app", "-d", "app", "-tAc", "SELECT count(*) FROM stop_test").stdout.strip()
    assert rows == "1"
