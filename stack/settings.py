"""The settings list, read from settings.toml: every variable any deployment gives any program.

The renderers (stack/compose.py, stack/kubernetes.py, stack/documents.py) and the host run take
each setting's default and its readers from here, so a setting is stated once and reaches every
program that reads it, on every path.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from . import servers
from .servers import ROOT

SETTINGS_FILE = ROOT / "settings.toml"
TYPES = ("str", "int", "float", "bool", "list", "size", "cpus", "ipv4", "octets", "subnet", "path",
         "image", "rate", "duration")
# Readers that are not a server's start script (see settings.toml).
PROGRAMS = ("app", "nginx", "nginx-image", "postgres", "compose", "swarm")
# Servers' start scripts live beside their configs: a file in gunicorn/ is read by gunicorn/start.
SCRIPT_SUFFIX = "/start"


@dataclass(frozen=True)
class Setting:
    name: str
    type: str
    section: str
    meaning: str
    readers: tuple[str, ...]
    # None: required (no default; the deployments refuse to start without it).
    default: str | None = None
    example: str | None = None
    deployment: bool = False
    # The images set it themselves (a Dockerfile ENV): containers are given no value.
    image: bool = False
    compose: str | None = None
    kubernetes: str | None = None

    @property
    def required(self) -> bool:
        return self.default is None

    @property
    def scripts(self) -> set[str]:
        return {reader for reader in self.readers if reader.endswith(SCRIPT_SUFFIX)}

    def read_by(self, server: servers.Server) -> bool:
        """Whether this server's processes read it: the app's settings, or its start script's."""
        return "app" in self.readers or server.command in self.scripts

    @property
    def read_by_servers(self) -> bool:
        return "app" in self.readers or bool(self.scripts)


def load(path: Path = SETTINGS_FILE) -> dict[str, Setting]:
    """name -> Setting, in the file's order; a malformed entry is a clear error naming it."""
    known = {field.name for field in fields(Setting)} - {"name"}
    found = {}
    for name, spec in tomllib.loads(path.read_text())["settings"].items():
        where = f"{path.name}: {name}"
        if unknown := set(spec) - known:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        if missing := {"type", "section", "meaning", "readers"} - set(spec):
            raise ValueError(f"{where}: needs {sorted(missing)}")
        if spec["type"] not in TYPES:
            raise ValueError(f"{where}: type must be one of {', '.join(TYPES)}, not {spec['type']!r}")
        # A start script no server in servers.toml uses is no error: a copy of the starter that
        # drops servers may keep their settings (tests/unit/test_settings_list.py finds stale ones).
        for reader in spec["readers"]:
            if reader not in PROGRAMS and not reader.endswith(SCRIPT_SUFFIX):
                raise ValueError(f"{where}: reader {reader!r} is neither one of {', '.join(PROGRAMS)} "
                                 f"nor a server's start script (NAME{SCRIPT_SUFFIX}, servers.toml's command)")
        for key in ("default", "example", "compose", "kubernetes"):
            if key in spec and not isinstance(spec[key], str):
                raise ValueError(f"{where}: {key} must be a string (as the environment carries it)")
        found[name] = Setting(name=name, **{**spec, "readers": tuple(spec["readers"])})
    return found


def defaults(settings: dict[str, Setting] | None = None) -> dict[str, str]:
    """Every setting that has a default, and that default."""
    return {name: s.default for name, s in (settings or load()).items() if not s.required}
