"""/readyz follows PostgreSQL: 503 naming it while it is down, 200 again once it is back."""

import time

import httpx
import pytest

pytestmark = pytest.mark.integration


def wait_for_status(client: httpx.Client, url: str, status: int, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(url)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.25)


def test_readyz_turns_503_without_postgresql_and_recovers(stack, topology):
    urls = [f"http://127.0.0.1:{server.port}/readyz" for server in topology.servers]
    with httpx.Client(timeout=10) as client:
        for url in urls:
            assert client.get(url).status_code == 200
        stack.stop("postgres")
        try:
            for url in urls:
                started = time.monotonic()
                response = wait_for_status(client, url, 503)
                assert response.status_code == 503, url
                assert time.monotonic() - started < 15
                assert response.json()["down"] == ["postgresql"]
                assert response.json()["checks"]["redis"] == "ok"
            # A data endpoint fails fast and clearly too, not with a 500.
            response = client.get(f"http://127.0.0.1:{topology.servers[0].port}/db")
            assert response.status_code == 503
            assert response.json()["error"] == "database unavailable"
        finally:
            stack.start("postgres")
        for url in urls:
            assert wait_for_status(client, url, 200).status_code == 200, url
        # One answer came from one process; the others may still be in their pool's reconnect
        # backoff, which grows with the outage (longer with every server this test waits for).
        # Steady means every process again, so the next test does not meet a 503.
        for server in topology.servers:
            assert steady(client, f"http://127.0.0.1:{server.port}/db"), server.name


def steady(client: httpx.Client, url: str, streak: int = 8, timeout: float = 60) -> bool:
    """streak 200s in a row (requests spread over the processes), within timeout."""
    deadline, run = time.monotonic() + timeout, 0
    while run < streak and time.monotonic() < deadline:
        run = run + 1 if client.get(url).status_code == 200 else 0
    return run >= streak
