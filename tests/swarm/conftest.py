"""The swarm stack's phase timings, at the end of `make test-swarm` (the container test's hook)."""

from tests.containers.conftest import pytest_terminal_summary  # noqa: F401
