"""mod_wsgi-express's own defaults that bit the bench (modwsgi/start says why each is set).

Apache's master, its children (which only relay requests) and mod_wsgi's daemon processes (which
run the app) on the host run, under bounded load through nginx.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import psutil
import pytest

from loadtest.scenarios.catalog import SCENARIOS
from stack import local, reload
from tests.hardening.helpers import Load, server_processes

pytestmark = [pytest.mark.hardening, pytest.mark.usefixtures("stack")]

# The most requests the bench keeps in flight on a WSGI server through nginx (the wait cells).
BENCH_USERS = max(scenario.users or 0 for scenario in SCENARIOS
                  if scenario.kind == "http" and scenario.applies_to("wsgi"))


def daemons(master: psutil.Process) -> set[int]:
    """mod_wsgi names its daemon processes '(wsgi:<group>)'; Apache's children keep their name."""
    found = set()
    for child in master.children():
        try:
            if child.cmdline()[0].startswith("(wsgi:"):
                found.add(child.pid)
        except (psutil.Error, IndexError):
            pass  # gone meanwhile
    return found


def server_root(master: psutil.Process) -> Path:
    """The folder mod_wsgi-express wrote the config and the WSGI script to: Apache's `-f` file's."""
    arguments = master.cmdline()
    return Path(arguments[arguments.index("-f") + 1]).parent


def test_modwsgi_daemons_are_not_restarted_by_a_touched_wsgi_script(topology):
    """mod_wsgi restarts every daemon when its WSGI script's mtime changes (WSGIScriptReloading On):
    a second setup-server on the same server root did that at every bench cell."""
    server = topology["modwsgi"]
    master = reload.master(server)
    before = daemons(master)
    processes = server.env.get("WEB_CONCURRENCY", local.app_environment()["WEB_CONCURRENCY"])
    assert len(before) == int(processes), before
    script = server_root(master) / "handler.wsgi"
    stat = script.stat()
    os.utime(script, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    try:
        with Load(f"http://127.0.0.1:{server.port}/plaintext", max_seconds=10) as load:
            time.sleep(3)  # the old default: both daemons replaced within the first second
    finally:
        os.utime(script, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = daemons(master)
    print(f"\nmodwsgi: daemons {sorted(before)} -> {sorted(after)}; {dict(load.statuses)}")
    assert after == before, "the daemon processes were restarted"
    assert load.statuses[200] > 0 and load.failed == 0, dict(load.statuses)


def accepted_connections(port: int) -> int:
    """Connections to Apache's port that its processes have accepted (the rest wait in the backlog)."""
    count = 0
    for process in server_processes("modwsgi"):
        with contextlib.suppress(psutil.Error):  # a child retired meanwhile
            count += sum(1 for connection in process.net_connections(kind="tcp")
                         if connection.status == psutil.CONN_ESTABLISHED and connection.laddr.port == port)
    return count


def test_modwsgi_apache_accepts_every_connection_nginx_opens_under_the_bench_load(topology):
    """nginx opens one upstream connection per request in flight. mod_wsgi-express sizes Apache
    from the daemon threads (22 for 2 x 4): the rest of the bench's wait-cell clients then sat
    unaccepted for seconds while the connections Apache had were reused."""
    server = topology["modwsgi"]
    most = 0
    with Load(f"http://127.0.0.1:{server.port}/wait/sync?ms=200", concurrency=BENCH_USERS,
              max_seconds=15) as load:
        # Apache starts the children it needs within a few seconds: watched while the load runs.
        deadline = time.monotonic() + load.max_seconds - 1
        while time.monotonic() < deadline and most < BENCH_USERS:
            most = max(most, accepted_connections(server.internal_port))
            time.sleep(0.2)
    print(f"\nmodwsgi: at most {most} of {BENCH_USERS} clients' connections accepted; {dict(load.statuses)}")
    # A client between two requests holds no upstream connection: nearly all, not exactly all.
    assert most >= 0.9 * BENCH_USERS, f"Apache accepted only {most} of {BENCH_USERS} connections"
    assert load.failed == 0, dict(load.statuses)
