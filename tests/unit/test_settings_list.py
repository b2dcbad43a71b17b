"""settings.toml lists every variable the programs read, with who reads it.

The programs are scanned, not trusted: Django's settings (`setting("NAME")`, `env.*("NAME")`,
`os.environ`), each server's start script and configs (`${NAME`, uWSGI's `$(NAME)`, supervisord's
`%(ENV_NAME)s`, `os.environ`, `setting("NAME")`), nginx's templates (`${NGINX_*}`) and
docker-compose.yml (`${NAME`). A name the list lacks, or a reader it does not name, fails here:
the renderers would never give that program the setting.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stack import settings as settings_list
from stack.servers import ROOT

PATTERNS = [
    re.compile(r"""\bsetting\(["']([A-Z][A-Z0-9_]*)["']"""),
    re.compile(r"""\benv(?:\.\w+)?\(["']([A-Z][A-Z0-9_]*)["']"""),
    re.compile(r"""\bos\.environ(?:\.get\(|\[)["']([A-Z][A-Z0-9_]*)["']"""),
    re.compile(r"""\bos\.getenv\(["']([A-Z][A-Z0-9_]*)["']"""),
    re.compile(r"\$\{([A-Z][A-Z0-9_]*)"),
    re.compile(r"\$\(([A-Z][A-Z0-9_]*)\)"),
    re.compile(r"%\(ENV_([A-Z][A-Z0-9_]*)\)s"),
]
# Variables of the shell and the OS, not settings.
NOT_SETTINGS = {"BASH_SOURCE", "TMPDIR"}
# A start script that sets a variable for its own server (a pid file, a FIFO) did not read it.
ASSIGNED = re.compile(r"^\s*(?:export\s+)?([A-Z][A-Z0-9_]*)=", re.MULTILINE)


# Comment lines (shell, ini, nginx, YAML): they name variables without reading them.
COMMENT = re.compile(r"^\s*[#;].*$", re.MULTILINE)


def names_in(text: str) -> set[str]:
    code = COMMENT.sub("", text)
    return {name for pattern in PATTERNS for name in pattern.findall(code)} - NOT_SETTINGS


def scanned(topology) -> dict[tuple[str, str], set[str]]:
    """(reader, file) -> the variables that file reads."""
    found = {}
    for path in sorted((ROOT / "app").rglob("*.py")):
        if "migrations" not in path.parts:
            found["app", str(path.relative_to(ROOT))] = names_in(path.read_text())
    for command in sorted({server.command for server in topology.servers}):
        folder = (ROOT / command).parent
        start = (ROOT / command).read_text()
        own = set(ASSIGNED.findall(start))
        for path in sorted(folder.iterdir()):
            if path.is_file() and "Dockerfile" not in path.name:
                found[command, str(path.relative_to(ROOT))] = names_in(path.read_text()) - own
    for path in sorted((ROOT / "nginx").glob("*.j2")):
        reader = "nginx-image" if path.name == "nginx.conf.j2" else "nginx"
        found[reader, str(path.relative_to(ROOT))] = names_in(path.read_text())
    found["compose", "docker-compose.yml"] = names_in((ROOT / "docker-compose.yml").read_text())
    return found


@pytest.fixture(scope="module")
def reads(topology):
    return scanned(topology)


def test_every_variable_a_program_reads_is_in_the_list(reads):
    settings = settings_list.load()
    unlisted = sorted({f"{name} ({where})" for (_, where), names in reads.items()
                       for name in names if name not in settings})
    assert not unlisted, f"read but not in settings.toml: {unlisted}"


def test_the_list_names_every_reader(reads):
    settings = settings_list.load()
    unnamed = sorted({f"{name}: {reader} ({where})" for (reader, where), names in reads.items()
                      for name in names if name in settings and reader != "compose"
                      and reader not in settings[name].readers})
    assert not unnamed, f"settings.toml's readers lack: {unnamed}"


def test_every_listed_start_script_or_template_really_reads_it(reads, topology):
    """No stale reader: what the list says a server or nginx reads, its files read."""
    read_by = {}
    for (reader, _), names in reads.items():
        read_by.setdefault(reader, set()).update(names)
    stale = sorted(f"{s.name}: {reader}" for s in settings_list.load().values() for reader in s.readers
                   if reader not in ("app", "postgres", "compose", "swarm")
                   and s.name not in read_by.get(reader, set()))
    assert not stale, f"settings.toml says these read a setting they never read: {stale}"


def test_the_scan_sees_each_kind_of_read(reads):
    """The patterns still match how each program reads its settings (a silent scan proves nothing)."""
    assert "WS_CHAT_RATE" in reads["app", "app/config/settings.py"]
    assert "GRACEFUL_TIMEOUT" in reads["uwsgi/start", "uwsgi/uwsgi.ini"]
    assert "WS_MAX_FRAME_BYTES" in reads["daphne/start", "daphne/supervisord.conf"]
    assert "GUNICORN_TIMEOUT" in reads["gunicorn/start", "gunicorn/gunicorn.conf.py"]
    assert "MODWSGI_MAX_CLIENTS" in reads["modwsgi/start", "modwsgi/start"]
    assert "NGINX_RATE_LIMIT" in reads["nginx", "nginx/site.conf.j2"]
    assert "UWSGI_MASTER_FIFO" not in reads["uwsgi/start", "uwsgi/start"]  # its own, not a setting


@pytest.mark.parametrize(("old", "new", "error"), [
    ('readers = ["uwsgi/start"]', 'readers = ["uwsgi"]', "reader 'uwsgi' is neither"),
    ('type = "rate"', 'type = "speed"', "type must be one of"),
    ('[settings.DB_POOL_TIMEOUT]\ndefault = "3.0"', '[settings.DB_POOL_TIMEOUT]\ndefault = 3.0',
     "default must be a string"),
    ('section = "Database"\nmeaning', 'sektion = "Database"\nmeaning', "unknown keys"),
])
def test_a_malformed_entry_is_a_clear_error(tmp_path, old, new, error):
    text = (ROOT / "settings.toml").read_text()
    assert old in text
    broken = tmp_path / "settings.toml"
    broken.write_text(text.replace(old, new, 1))
    with pytest.raises(ValueError, match=error):
        settings_list.load(broken)


def test_required_settings_are_the_secrets_only():
    required = {s.name for s in settings_list.load().values() if s.required}
    assert required == {"SECRET_KEY", "POSTGRES_PASSWORD"}


def test_the_app_takes_its_defaults_from_the_list(tmp_path):
    """settings.py states no default of its own: each one it reads comes from settings.toml."""
    source = (ROOT / "app" / "config" / "settings.py").read_text()
    own = re.findall(r"""env\.\w+\(["']([A-Z_]+)["'],\s*default=(?!SETTINGS_LIST)""", source)
    assert not own, f"settings.py states a default of its own for {own}: read them with setting(NAME)"


def test_start_scripts_state_no_default(topology):
    """`${NAME:-default}` in a start script would be a second default, drifting from the list's."""
    for command in {server.command for server in topology.servers}:
        for path in Path(ROOT / command).parent.iterdir():
            if path.is_file() and "Dockerfile" not in path.name:
                text = path.read_text()
                defaults = re.findall(r"\$\{([A-Z][A-Z0-9_]*):-", text)
                defaults += re.findall(r"""os\.environ\.get\(["']([A-Z_]+)["'],""", text)
                defaults = sorted(set(defaults) - NOT_SETTINGS)
                assert not defaults, f"{path.relative_to(ROOT)}: {defaults}"
