"""What the docs and comments state about the server set, found by pattern: counts, port ranges
and server names, to hold against servers.toml (the one list)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORDS = {"three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
         "eleven": 11, "twelve": 12, "thirteen": 13}
# "one"/"two" are left out: "two servers" is how a test or a chat room picks a pair, not a count.
COUNT = re.compile(r"\b(\d+|" + "|".join(WORDS) + r")\s+(?:app\s+|application\s+)?(?:servers|contenders)\b",
                   re.I)
RANGE = re.compile(r"\b(80\d\d)\s*(?:–|-|—|\.\.|to)\s*(80\d\d)\b")
# SERVERS="a b", SERVERS=a,b and --servers a,b: the names a doc tells a reader to type.
SERVER_LIST = re.compile(r'SERVERS="([^"]*)"|SERVERS=([a-z0-9_,-]+)|--servers[ =]([a-z0-9_,-]+)')
# The runs' own counts (a run may measure some of the servers), and these tests' own examples.
EXCLUDED = ("docs/results/", "tests/loadtest/recorded/", "tests/docs/")
FILES = ("Makefile", "pyproject.toml", "docker-compose.yml", ".env.example", "Dockerfile")
SUFFIXES = (".md", ".py", ".toml", ".yml", ".yaml", ".j2", ".conf", ".ini", ".sh", ".in", ".txt")


def tracked() -> list[str]:
    """Every committed doc, config and code file, minus the recorded runs."""
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [p for p in listed.stdout.splitlines()
            if not p.startswith(EXCLUDED) and (ROOT / p).is_file()
            and (Path(p).name in FILES or p.endswith(SUFFIXES) or Path(p).name in ("start", "reload"))]


def lines() -> list[tuple[str, int, str]]:
    """(file, line number, text): prose, comments and strings alike, since each states a fact."""
    return [(path, number, line)
            for path in tracked()
            for number, line in enumerate((ROOT / path).read_text(errors="replace").splitlines(), 1)]
