"""System commands the tests need, found on PATH or failing the test with what to install."""

import shutil

import pytest


def required(command: str, package: str) -> str:
    path = shutil.which(command)
    if path is None:
        pytest.fail(f"no `{command}` on PATH: this test needs Debian's {package} package "
                    "(`make deps` installs it)")
    return path
