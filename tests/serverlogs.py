"""After a host-run session, every traceback in the logs must be a known one.

The hardening tests look at a log while they disturb a server; a traceback from anything else
(a race at a close, a server's cleanup at stop, a test in another suite) would go unseen. So the
session ends by reading what every program of the host run wrote to its log during the session,
and fails on a traceback whose exception is not on ALLOWED, where each entry says why it is fine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stack import local

TRACEBACK = "Traceback (most recent call last):"

# (log, exception line pattern) -> why that traceback is expected. Keep it short: a server error
# that needs no attention belongs in a log filter (app/config/logfilters.py), not here.
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Found:
    log: str
    exception: str
    excerpt: str


def log_sizes() -> dict[str, int]:
    """Where each log of the host run ends now (none before the first `up`)."""
    folder = local.run_place().logs
    return {log.name: log.stat().st_size for log in folder.glob("*.log")} if folder.exists() else {}


def written_since(sizes: dict[str, int]) -> dict[str, str]:
    """What each log got after `sizes`; all of a log that is new or was rotated meanwhile."""
    written = {}
    for log in local.run_place().logs.glob("*.log"):
        start = sizes.get(log.name, 0)
        with log.open("rb") as file:
            if file.seek(0, 2) < start:
                start = 0
            file.seek(start)
            written[log.name] = file.read().decode(errors="replace")
    return written


def tracebacks(log: str, text: str) -> list[Found]:
    """Each traceback in `text` with its exception line (chained ones each count)."""
    found = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if not line.endswith(TRACEBACK):
            continue
        following = iter(lines[number + 1:])
        exception = next((later for later in following if later and not later.startswith((" ", "\t"))), "")
        found.append(Found(log, exception.strip(), "\n".join(lines[max(0, number - 2):number + 30])))
    return found


def allowed(found: Found) -> bool:
    return any(log in (found.log, "*") and re.search(pattern, found.exception)
               for log, pattern in ALLOWED)


def unexpected(sizes: dict[str, int]) -> list[Found]:
    return [found for log, text in written_since(sizes).items()
            for found in tracebacks(log, text) if not allowed(found)]


def report(found: list[Found]) -> str:
    shown = "\n\n".join(f"--- {item.log}: {item.exception}\n{item.excerpt}" for item in found[:5])
    return (f"{len(found)} traceback(s) in the host run's logs ({local.run_place().logs}) that no entry "
            f"of tests/serverlogs.py ALLOWED explains:\n{shown}")
