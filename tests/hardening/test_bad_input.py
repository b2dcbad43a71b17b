"""Bad HTTP input on every port: each gets a clear 4xx, never a 500, a traceback or a stuck worker."""

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stack import local
from tests.hardening.helpers import assert_clean, log_output, raw_http, tracebacks, wait_healthy

pytestmark = [pytest.mark.hardening, pytest.mark.usefixtures("stack")]


def request(path: bytes, *headers: bytes, version: bytes = b"HTTP/1.1", host: bytes = b"127.0.0.1") -> bytes:
    lines = [b"GET " + path + b" " + version]
    if host:
        lines.append(b"Host: " + host)
    return b"\r\n".join([*lines, *headers, b"Connection: close", b"", b""])


def nginx_json_error(headers, body, status) -> dict:
    assert headers.get("x-served-by") == "nginx", headers
    assert headers["content-type"].startswith("application/json"), headers
    data = httpx.Response(status, content=body).json()
    assert data["status"] == status
    return data


def test_oversized_body_is_a_json_413_from_nginx(topology):
    for port, _ in topology.http_ports():
        # The declared length is enough: nginx refuses before reading the body.
        status, headers, body = raw_http(port, (
            b"POST /json HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 20000000\r\nConnection: close\r\n\r\n" + b"{" * 1024
        ))
        assert status == 413, (port, body[:200])
        assert nginx_json_error(headers, body, 413)["error"] == "request entity too large"


@pytest.mark.parametrize("headers", [
    pytest.param([b"X-Big: " + b"a" * 20_000], id="one-20KB-header"),
    pytest.param([b"X-H%d: %s" % (i, b"v" * 40) for i in range(1000)], id="1000-headers"),
    pytest.param([b"Cookie: " + b"c=" + b"x" * 40_000], id="40KB-cookie"),
])
def test_oversized_headers_are_a_json_400_from_nginx(topology, headers):
    for port, _ in topology.http_ports():
        status, response_headers, body = raw_http(port, request(b"/json", *headers))
        assert status == 400, (port, body[:200])
        assert nginx_json_error(response_headers, body, 400)["error"] == "request header too large"


def test_many_small_headers_get_a_clear_answer_from_each_server(topology):
    """150 small headers fit nginx's buffers; each server applies its own count limit (if any)."""
    outcomes = {}
    for port, name in topology.http_ports():
        status, _, body = raw_http(port, request(b"/json", *[b"X-H%d: v" % i for i in range(150)]))
        assert_clean(status, body, (port, "150 headers"))
        assert status in (200, 400, 431), (port, status)
        outcomes[name if port != topology.production.port else "production"] = status
    print("150 headers:", outcomes)


# Each parameter that must be an integer in a range, with a value that keeps the request short.
BOUNDED = [
    ("/wait/sync", "ms", 0, 10_000, {}),
    ("/wait/async", "ms", 0, 10_000, {}),
    ("/sse/sync", "events", 1, 1_000, {"interval_ms": "0"}),
    ("/sse/sync", "interval_ms", 0, 10_000, {"events": "1"}),
    ("/sse/async", "events", 1, 1_000, {"interval_ms": "0"}),
    ("/sse/async", "interval_ms", 0, 10_000, {"events": "1"}),
]


def parses_in_range(raw: str, low: int, high: int) -> bool:
    try:
        return low <= int(raw) <= high
    except ValueError:
        return False


@pytest.mark.parametrize(("path", "name", "low", "high", "others"), BOUNDED,
                         ids=[f"{p}?{n}" for p, n, *_ in BOUNDED])
def test_bounded_parameters_edges(topology, path, name, low, high, others):
    cases = {
        str(low): 200, str(low - 1): 400, str(high + 1): 400, "-1": 400, "": 400, "abc": 400, "1.5": 400,
        "1e3": 400, "0x10": 400, "9" * 4000: 400, "-" + "9" * 30: 400,
    }
    with httpx.Client(timeout=15) as client:
        for port, server in topology.http_ports():
            for value, expected in cases.items():
                response = client.get(f"http://127.0.0.1:{port}{path}", params={**others, name: value})
                assert response.status_code == expected, (port, path, name, value[:20], response.text[:200])
                assert_clean(response.status_code, response.content, (port, path, value[:20]))
                if expected == 400:
                    assert response.headers["x-served-by"] == server
                    assert response.json()["error"] == "bad request"
                    assert name in response.json()["detail"] or "must" in response.json()["detail"]


# Anything a client can put in a query value, most of it wrong: junk text, numbers far out of range.
QUERY_VALUES = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=30),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from(["", " ", "+", "-", "0x1", "1_0", "NaN", "inf", "1e9", "١٢", "%", "\x00", "9" * 3000]),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_query_value_is_a_200_or_a_json_400(topology, data):
    """Property over the live stack: a value out of range or not an integer is a JSON 400, nothing else."""
    path, name, low, high, others = data.draw(st.sampled_from(BOUNDED))
    value = data.draw(QUERY_VALUES.filter(lambda raw: not parses_in_range(raw, low, high)))
    with httpx.Client(timeout=15) as client:
        for port, server in topology.http_ports():
            response = client.get(f"http://127.0.0.1:{port}{path}", params={**others, name: value})
            assert response.status_code == 400, (port, path, name, value[:40], response.text[:200])
            assert response.headers["x-served-by"] == server
            assert response.json()["error"] == "bad request"


def test_a_request_line_over_4_kb(topology):
    """nginx takes 8 KB lines; Gunicorn stops at 4094 bytes with its own 414, the others parse it
    and the app answers its JSON 400 (the value is out of range)."""
    outcomes = {}
    for port, name in topology.http_ports():
        status, headers, body = raw_http(port, request(b"/wait/sync?ms=" + b"9" * 5000))
        assert_clean(status, body, (port, "5 KB request line"))
        outcomes[f"{port}:{name}"] = status
        if topology[name].command == "gunicorn/start":
            assert status == 414, (port, name, status)
        else:
            assert status == 400, (port, name, status)
            assert headers["x-served-by"] == name
            assert httpx.Response(400, content=body).json()["error"] == "bad request"
    print("5 KB request line:", outcomes)


def test_techempower_queries_clamp_every_value(topology):
    """TechEmpower's rule, not a 400: junk means 1 row, and any count is clamped to 1..500."""
    expected = {"": 1, "abc": 1, "-5": 1, "0": 1, "1.5": 1, "3": 3, "99999999999999999999999": 500}
    with httpx.Client(timeout=30) as client:
        for port, _ in topology.http_ports():
            for path in ("/queries", "/updates"):
                for value, rows in expected.items():
                    if rows == 500 and path == "/updates":
                        continue  # 500 row updates per port add nothing here but time
                    response = client.get(f"http://127.0.0.1:{port}{path}", params={"queries": value})
                    assert response.status_code == 200, (port, path, value, response.text[:200])
                    assert len(response.json()) == rows


# Each with the answers it may get: a path no URL of the app matches is refused as bad or not
# found (servers differ on raw bytes); an integer made of unusable bytes is a 400, or, for
# TechEmpower's queries, 1 row; an unknown parameter is ignored.
NON_UTF8 = [
    pytest.param(b"/json\xff\xfe", {400, 404}, id="raw-bytes-in-path"),
    pytest.param(b"/%FF%FE%C0%AF", {404}, id="escaped-bytes-in-path"),
    pytest.param(b"/wait/sync?ms=\xff\xfe", {400}, id="raw-bytes-in-query"),
    pytest.param(b"/wait/async?ms=%FF%FE", {400}, id="escaped-bytes-in-query"),
    pytest.param(b"/queries?queries=%C0%AF&%FF=%FF", {200}, id="overlong-utf8-in-query"),
    pytest.param(b"/json?%00=%00", {200}, id="nul-in-query"),
]


@pytest.mark.parametrize(("path", "answers"), NON_UTF8)
def test_non_utf8_bytes_in_path_and_query(topology, path, answers):
    outcomes = {}
    for port, name in topology.http_ports():
        status, _, body = raw_http(port, request(path))
        assert_clean(status, body, (port, path))
        outcomes[f"{port}:{name}"] = status
    print(path, outcomes)
    assert set(outcomes.values()) <= answers, outcomes


TRAVERSALS = [
    b"/static/../config/settings.py",
    b"/static/../../app/config/settings.py",
    b"/static/..%2f..%2fapp%2fconfig%2fsettings.py",
    b"/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    b"/static/..%252f..%252fetc%252fpasswd",
    b"/static/....//....//....//etc/passwd",
    b"/static..%2f..%2f..%2fetc%2fpasswd",
    b"/static/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    b"/static/staticfiles.json/../../secrets/django-secret-key",
    b"/static/../secrets/postgres-password",
]


def test_no_file_outside_static_is_served(topology, stack):
    secrets = [path.read_bytes().strip() for path in (local.run_place().folder / "secrets").glob("*")]
    for port, _ in topology.http_ports():
        for path in TRAVERSALS:
            status, headers, body = raw_http(port, request(path))
            assert_clean(status, body, (port, path))
            assert b"root:x:0:0" not in body and b"SECRET_KEY" not in body, (port, path)
            for secret in secrets:
                assert secret not in body, (port, path)
            assert status in (400, 403, 404), (port, path, status)


def test_http_1_0_without_host(topology):
    """HTTP/1.0 may omit Host. nginx then sends none upstream, and Django falls back to the server's
    own address (SERVER_NAME, 127.0.0.1 here), which ALLOWED_HOSTS has: served like any request.
    Where the server refuses it or names itself otherwise (quirk "http10-no-host-400"), a 400."""
    outcomes = {}
    for port, name in topology.http_ports():
        status, headers, body = raw_http(port, request(b"/json", version=b"HTTP/1.0", host=b""))
        assert_clean(status, body, (port, "HTTP/1.0 without Host"))
        outcomes[f"{port}:{name}"] = status
        expected = 400 if "http10-no-host-400" in topology[name].quirks else 200
        assert status == expected, (port, name, body[:200])
        # HTTP/1.1 without Host is nginx's own 400.
        status, headers, body = raw_http(port, request(b"/json", host=b""))
        assert status == 400
        assert headers.get("x-served-by") is None or headers.get("x-served-by") == "nginx"
        # A Host that is not in ALLOWED_HOSTS: Django's 400, as JSON, without internals.
        status, headers, body = raw_http(port, request(b"/json", host=b"evil.example"))
        assert status == 400, (port, body[:200])
        assert httpx.Response(400, content=body).json()["error"] == "bad request"
    print("HTTP/1.0 without Host:", outcomes)


def test_every_port_is_healthy_after_the_bad_input(topology):
    wait_healthy(topology, timeout=10)


def test_a_foreign_host_is_answered_400_without_a_traceback_in_the_logs(topology):
    """Scanners send any Host: each gets its 400, and the server logs keep room for real errors."""
    with log_output(name for _, name in topology.http_ports()) as written:
        for port, _ in topology.http_ports():
            status, _, _ = raw_http(port, request(b"/json", host=b"scanner.example"))
            assert status == 400, port
    assert not tracebacks(written), tracebacks(written)
