"""The request-rate limit on the production port itself, as the running nginx has it.

test_security.py checks the 429's shape on a second nginx with a low limit; this one goes
past the real limit (NGINX_RATE_LIMIT, a burst of NGINX_RATE_LIMIT_BURST) on the real port. The
requests are pipelined on a few connections, so the burst is over before the bucket refills.
"""

import json
import re
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from stack import local

pytestmark = pytest.mark.hardening

CONNECTIONS = 4
# Mostly a file nginx serves itself, which is fast, and every APP_EVERY-th request a path of the
# app's: both must be refused the same way.
STATIC_PATH, APP_PATH, APP_EVERY = "/favicon.ico", "/healthz", 20


def running_limit() -> tuple[float, int]:
    """(requests a second, burst) of the production port, from the running nginx's config."""
    site = (local.run_place().folder / "nginx" / "site.conf").read_text()
    rate = re.search(r"limit_req_zone \S+ zone=production:\S+ rate=(\d+)r/s;", site)
    burst = re.search(r"limit_req zone=production burst=(\d+)", site)
    assert rate and burst, "no limit_req for the production port in the running nginx config"
    return float(rate.group(1)), int(burst.group(1))


def pipelined(port: int, count: int) -> list[tuple[str, int, dict[str, str], bytes]]:
    """`count` GETs in one write on one connection; (path, status, headers, body) of each answer."""
    paths = [APP_PATH if number % APP_EVERY == 0 else STATIC_PATH for number in range(count)]
    requests = [f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n" for path in paths]
    requests[-1] += "Connection: close\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall("".join(request + "\r\n" for request in requests).encode())
        data = b""
        while chunk := sock.recv(1 << 20):
            data += chunk
    answers = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip()
                   for name, _, value in (line.partition(":") for line in lines[1:])}
        length = int(headers["content-length"])
        answers.append((paths[len(answers)], int(lines[0].split()[1]), headers, rest[:length]))
        data = rest[length:]
    return answers


def test_a_burst_past_the_limit_on_the_production_port_is_a_json_429(stack, topology):
    rate, burst = running_limit()
    port = topology.production.port
    per_connection = 3 * burst // CONNECTIONS
    try:
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            answers = [answer for answers in pool.map(pipelined, [port] * CONNECTIONS,
                                                      [per_connection] * CONNECTIONS)
                       for answer in answers]
        statuses = Counter(status for _, status, _, _ in answers)
        assert len(answers) == CONNECTIONS * per_connection, dict(statuses)
        assert set(statuses) == {200, 429}, dict(statuses)
        # nodelay: the burst is served at once, the rest refused (whatever refilled meanwhile served).
        assert statuses[200] >= burst, dict(statuses)
        print(f"\nport {port}, {rate:g} r/s, burst {burst}: {dict(statuses)}")
        for path in (STATIC_PATH, APP_PATH):
            _, _, headers, body = next(answer for answer in answers if answer[:2] == (path, 429))
            assert headers["content-type"] == "application/json", (path, headers)
            assert headers["x-served-by"] == "nginx"
            assert json.loads(body)["error"] == "too many requests", body
    finally:
        # nginx's bucket drains at `rate`: later tests get the whole burst again.
        time.sleep(burst / rate + 1)
