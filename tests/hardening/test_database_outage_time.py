"""A PostgreSQL outage answers 503 within DB_POOL_TIMEOUT, the figure the README promises.

The pool's bounded wait is what makes an outage answer fast; this holds every server to it,
plus MARGIN_SECONDS for the rest of the request (nginx, the server, Django, the 503 itself)
on a shared two-core machine with every server waiting at once.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import httpx
import pytest
from django.conf import settings

pytestmark = pytest.mark.hardening

MARGIN_SECONDS = 1.0


def timed_get(client: httpx.Client, url: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.get(url)
    return response, time.monotonic() - started


def test_a_database_outage_is_a_503_within_the_pool_timeout(stack, topology):
    pool_timeout = settings.DATABASES["default"]["OPTIONS"]["pool"]["timeout"]
    urls = {name: f"http://127.0.0.1:{port}/db" for port, name in topology.http_ports()[1:]}
    # One client, its connections to every port open before the outage: the time measured is the
    # request's, not the client's setup (an httpx client builds its TLS context, slow under load).
    with httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=len(urls))) as client, \
            ThreadPoolExecutor(len(urls)) as pool:
        for response in pool.map(client.get, [url.replace("/db", "/healthz") for url in urls.values()]):
            assert response.status_code == 200
        stack.stop("postgres")
        try:
            answers = dict(zip(urls, pool.map(partial(timed_get, client), urls.values()), strict=True))
        finally:
            stack.start("postgres")
    print("\nPostgreSQL down, seconds to the 503:", {name: round(s, 2) for name, (_, s) in answers.items()})
    for name, (response, elapsed) in answers.items():
        assert response.status_code == 503, (name, response.text[:200])
        assert response.json()["error"] == "database unavailable", name
        assert elapsed <= pool_timeout + MARGIN_SECONDS, (name, round(elapsed, 2))
