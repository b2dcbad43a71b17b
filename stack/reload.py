"""Replace a server's processes without dropping a request: a deploy, or a config change.

Each server says how in servers.toml (`reload`): a signal to its master, by default HUP, on
which it starts new workers
before it retires the old ones (Gunicorn, Uvicorn, Granian; Hypercorn retires them all first, and
its listening socket queues connections meanwhile; Apache's is USR1), or a script given the
master's PID (Daphne: a HUP would make its supervisord stop every process at once; uWSGI: its
chain reload, one worker at a time). Either way it returns once every old worker is gone.
"""

from __future__ import annotations

import signal
import time

import psutil

from . import local
from .servers import ROOT, Server
from .supervisor import Supervisor


def master(server: Server) -> psutil.Process:
    return psutil.Process(Supervisor(local.run_place().folder).program_pid(server.name))


def workers(parent: psutil.Process) -> set[int]:
    """The processes that serve requests: the master's live children, minus multiprocessing's helper."""
    alive = set()
    for child in parent.children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(child.cmdline()):
                alive.add(child.pid)
        except psutil.Error:
            pass  # gone meanwhile: a worker being replaced
    return alive


def reload(server: Server) -> None:
    # The environment the host run's servers have: their GRACEFUL_TIMEOUT, for the script too.
    env = local.app_environment()
    timeout = float(env["GRACEFUL_TIMEOUT"]) + 30
    parent = master(server)
    old = workers(parent)
    if server.reload_signal:
        parent.send_signal(signal.Signals[f"SIG{server.reload_signal}"])
    else:
        local.run([str(ROOT / server.reload), str(parent.pid)], env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = workers(parent)
        if not old & current and len(current) >= len(old):
            print(f"{server.name}: replaced workers {sorted(old)} with {sorted(current)}")
            return
        time.sleep(0.2)
    log = local.run_place().logs / f"{server.name}.log"
    raise local.StackError(f"{server.name}: workers {sorted(old & workers(parent))} still running "
                           f"{timeout:.0f} s after the reload; see {log}")
