"""/readyz follows PostgreSQL: 503 naming it while it is down, 200 again once it is back."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.conf import settings

pytestmark = pytest.mark.integration

POOL_TIMEOUT = settings.DATABASES["default"]["OPTIONS"]["pool"]["timeout"]


def wait_for_status(client: httpx.Client, url: str, status: int, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(url)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.25)


def down_checks(url: str) -> tuple[str, float, dict]:
    with httpx.Client(timeout=10) as client:
        started = time.monotonic()
        response = wait_for_status(client, url, 503)
        return url, time.monotonic() - started, {**response.json(), "http_status": response.status_code}


def recovered(url: str) -> bool:
    """/readyz back to 200, then its /db steady: every process of the server has reconnected."""
    with httpx.Client(timeout=10) as client:
        return (wait_for_status(client, f"{url}/readyz", 200).status_code == 200
                and steady(client, f"{url}/db"))


def test_readyz_turns_503_without_postgresql_and_recovers(stack, topology):
    """Every server at once, so the outage (and the pools' reconnect backoff, which grows with it)
    stays as short with every server as with two."""
    bases = [f"http://127.0.0.1:{server.port}" for server in topology.servers]
    with httpx.Client(timeout=10) as client:
        for base in bases:
            assert client.get(f"{base}/readyz").status_code == 200
        stack.stop("postgres")
        try:
            with ThreadPoolExecutor(len(bases)) as pool:
                checks = list(pool.map(down_checks, [f"{base}/readyz" for base in bases]))
            print("\n/readyz 503 after:", {url: round(took, 2) for url, took, _ in checks})
            for url, took, answer in checks:
                assert answer["http_status"] == 503, url
                # A check waits DB_POOL_TIMEOUT for a connection at most (README), and the
                # margin is the request's own way, every server at once on a shared machine.
                assert took < POOL_TIMEOUT + 2, (url, took)
                assert answer["down"] == ["postgresql"], url
                assert answer["checks"]["redis"] == "ok", url
            # A data endpoint fails fast and clearly too, not with a 500.
            response = client.get(f"{bases[0]}/db")
            assert response.status_code == 503
            assert response.json()["error"] == "database unavailable"
        finally:
            stack.start("postgres")
    with ThreadPoolExecutor(len(bases)) as pool:
        for base, ok in zip(bases, pool.map(recovered, bases), strict=True):
            assert ok, f"{base}: not every process answers /db again"


def steady(client: httpx.Client, url: str, streak: int = 8, timeout: float = 60) -> bool:
    """streak 200s in a row (requests spread over the processes), within timeout."""
    deadline, run = time.monotonic() + timeout, 0
    while run < streak and time.monotonic() < deadline:
        run = run + 1 if client.get(url).status_code == 200 else 0
    return run >= streak
