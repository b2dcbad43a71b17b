"""Every hardening test leaves the whole stack healthy: checked after each one."""

import logging

import pytest

from tests.hardening.helpers import wait_healthy

# httpx logs every request at INFO: thousands of lines in a failure report otherwise.
logging.getLogger("httpx").setLevel(logging.WARNING)


@pytest.fixture(autouse=True)
def healthy_after(request, topology):
    yield
    if "stack" in request.fixturenames:
        wait_healthy(topology)
