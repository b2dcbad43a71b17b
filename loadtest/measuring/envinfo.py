"""The machine and software a bench ran on, recorded with its results so numbers are never
compared across machines or versions by accident."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "django",
    "gunicorn",
    "uvicorn",
    "uvloop",
    "httptools",
    "daphne",
    "twisted",
    "granian",
    "uwsgi",
    "mod-wsgi",
    "hypercorn",
    "channels",
    "channels-redis",
    "psycopg",
    "locust",
    "gevent",
    "geventhttpclient",
    "websocket-client",
    "picows",
    "matplotlib",
)


def _first_match(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip('"')
    except OSError:
        return None
    return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _tool_version(*command: str) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].split(" [")[0].split(" Copyright")[0] if lines else None  # name and version only


ROOT = Path(__file__).resolve().parents[2]


def code_version(root: Path = ROOT) -> str | None:
    """The commit the bench ran, marked when tracked files differ from it: a reference run quoted
    in the docs must name the code it measured. None outside a git checkout. docs/ is not code:
    a reference run is written there, over the run it replaces."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=5)
        changed = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no",
                                  "--", ".", ":(exclude)docs"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + (" with local changes" if changed.stdout.strip() else "")


def describe() -> dict:
    return {
        "cpu_model": _first_match("/proc/cpuinfo", "model name"),
        "cpus": os.cpu_count(),
        "memory": _first_match("/proc/meminfo", "MemTotal"),
        "os": _first_match("/etc/os-release", "PRETTY_NAME="),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "wrk": _tool_version("wrk", "-v"),
        "nginx": _tool_version("nginx", "-v"),
    }
