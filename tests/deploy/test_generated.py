"""The committed files rendered from servers.toml and settings.toml are what they render now."""

from __future__ import annotations

import subprocess

from stack import generated
from stack.servers import ROOT
from tests.stacks import compose_binary


def test_every_generated_file_is_current():
    stale = [str(path.relative_to(ROOT)) for path, content in generated.rendered().items()
             if not path.exists() or path.read_text() != content]
    assert not stale, (f"{stale}: not what servers.toml and settings.toml render; "
                       "run `python -m stack render` and commit the result")


def test_the_compose_file_is_valid_compose_v2(tmp_path):
    settings = tmp_path / "test.env"
    settings.write_text("SECRET_KEY=k\nPOSTGRES_PASSWORD=p\n")
    done = subprocess.run([compose_binary(), "--env-file", settings, "--project-directory", ROOT,
                           "-f", ROOT / "docker-compose.yml", "config", "--quiet"],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
