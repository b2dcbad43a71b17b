"""Shared fixtures: the running stack, started once for the whole session when needed."""

import os

import pytest

from stack import servers
from tests import serverlogs
from tests.browser import browser, pages  # noqa: F401 - fixtures for every suite
from tests.environment import PRIVATE_SERVICES
from tests.stacks import ComposeRun, HostRun
from tests.swarm.run import SwarmRun


@pytest.fixture(scope="session")
def stack():
    """The topology on 127.0.0.1, up for the session.

    A stack that was already running (`make local-up`) is used and left running; one this
    fixture started is stopped at the end, so a test run leaves nothing behind.
    STACK=containers: the same topology from docker-compose.yml instead (`make test-containers`);
    STACK=swarm: the same again, deployed to Docker Swarm with replicas (`make test-swarm`).
    """
    running = {"containers": ComposeRun, "swarm": SwarmRun}.get(os.environ.get("STACK", ""), HostRun)()
    running.up()
    yield running
    running.down()


@pytest.fixture(scope="session", autouse=True)
def server_logs_without_unexplained_tracebacks():
    """The host run's logs, read when the session ends (after `stack` has stopped what it started,
    so a server's stop is read too): any traceback not on tests/serverlogs.py's ALLOWED fails it."""
    if os.environ.get("STACK", "") in ("containers", "swarm"):
        yield
        return
    sizes = serverlogs.log_sizes()
    yield
    found = serverlogs.unexpected(sizes)
    assert not found, serverlogs.report(found)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(request):
    """Unit tests need PostgreSQL and Redis before the test database is created."""
    if PRIVATE_SERVICES:
        request.getfixturevalue("stack")


@pytest.fixture(scope="session")
def topology():
    return servers.load()
