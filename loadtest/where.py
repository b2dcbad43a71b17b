"""Where the stack runs, so `make bench` measures that one, or says what to start.

Both stacks answer on the same ports, so a bench aimed at the wrong one would measure the
containers as if they were the host run (no server CPU figures, no pinning) and say nothing.
Standard library only: `make bench` asks before it installs anything.

    python3 -m loadtest.where [host|containers]    prints the target, or exits 2 saying why
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START = {"host": "make local-up", "containers": "make up"}


def production_port() -> int:
    return tomllib.loads((ROOT / "servers.toml").read_text())["production"]["port"]


def answers(address: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/healthz", timeout=3) as response:
            return response.status == 200
    except OSError:
        return False


def host_run_up(port: int) -> bool:
    """supervisord of the host run alive, and nginx answering in front of it."""
    run = Path(os.environ.get("LOCAL_RUN_DIR", ROOT / ".run"))
    try:
        os.kill(int((run / "supervisord.pid").read_text()), 0)
    except (OSError, ValueError):
        return False
    return answers("127.0.0.1", port)


def compose(*args: str) -> str:
    try:
        done = subprocess.run(["docker", "compose", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def containers_up(port: int) -> bool:
    """This checkout's Compose stack running, and its nginx answering where it is published."""
    # Without a settings file Compose cannot read docker-compose.yml: never started here. Compose's
    # own COMPOSE_ENV_FILES (with COMPOSE_PROJECT_NAME and COMPOSE_FILE) names another project.
    if not ((ROOT / ".env").exists() or os.environ.get("COMPOSE_ENV_FILES")):
        return False
    if not compose("ps", "--status", "running", "-q", "nginx"):
        return False
    published = compose("port", "nginx", str(port)).rpartition(":")
    address = published[0] if published[0] not in ("", "0.0.0.0", "[::]") else "127.0.0.1"
    return bool(published[2]) and answers(address, int(published[2]))


def where(wanted: str | None) -> tuple[str | None, str]:
    """(target, '') or (None, what to do)."""
    port = production_port()
    up = {"host": host_run_up(port), "containers": containers_up(port)}
    if wanted:
        if up[wanted]:
            return wanted, ""
        return None, (f"the {wanted} stack is not running: start it with `{START[wanted]}`, "
                      f"then `make bench TARGET={wanted}` again")
    running = [name for name, on in up.items() if on]
    if len(running) == 1:
        return running[0], ""
    if running:
        return None, ("both the host run and the containers are up: name one, `make bench TARGET=host` "
                      "or `make bench TARGET=containers`")
    return None, (f"no stack answers on port {port}: start one first, `make local-up` (the host run, "
                  "measured with server CPU and pinning) or `make up` (the containers)")


def main() -> int:
    wanted = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None
    if wanted not in (None, *START):
        print(f"make bench: TARGET must be host or containers, not {wanted!r}", file=sys.stderr)
        return 2
    target, why = where(wanted)
    if target is None:
        print(f"make bench: {why}", file=sys.stderr)
        return 2
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
