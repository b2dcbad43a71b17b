"""Security: Django's deploy checks, headers on every response nginx sends, rate limit, admin, CVEs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from stack import local, render
from stack.servers import ROOT
from tests.hardening.helpers import raw_http

pytestmark = [pytest.mark.hardening]

SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "x-frame-options": "DENY",
}


def production_environment() -> dict[str, str]:
    """What a production deployment sets: a real key, no DEBUG, HTTPS cookies and HSTS."""
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECURE_COOKIES"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY="x" * 20 + "-production-like-secret-key-with-enough-entropy-0123456789",
        SECURE_HSTS_SECONDS="31536000",
    )
    return env


def test_check_deploy_reports_nothing():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT / "app", env=production_environment(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def assert_security_headers(headers: httpx.Headers, where) -> None:
    for name, expected in SECURITY_HEADERS.items():
        values = headers.get_list(name)
        assert len(values) == 1, (where, name, values)
        assert values[0].startswith(expected) or values[0] == expected, (where, name, values)
    csp = headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp


@pytest.mark.usefixtures("stack")
def test_security_headers_on_every_port_app_static_and_nginx_errors(topology):
    with httpx.Client(timeout=10) as client:
        page = client.get(f"http://127.0.0.1:{topology.production.port}/").text
        script = page.split('<script src="')[1].split('"')[0]
        for port, _ in topology.http_ports():
            base = f"http://127.0.0.1:{port}"
            for path in ("/", "/json", "/wait/sync?ms=-1", "/no-such-page", script, "/static/missing.css"):
                response = client.get(base + path)
                assert_security_headers(response.headers, (port, path, response.status_code))
            # nginx's own answers: 413, 400 for a huge header, and 502 are covered by the fault tests.
            status, headers, _ = raw_http(port, b"POST /json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                b"Content-Length: 99999999\r\nConnection: close\r\n\r\n")
            assert status == 413
            assert_security_headers(httpx.Headers(list(headers.items())), (port, 413))
            status, headers, _ = raw_http(port, b"GET /json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
                                                + b"a" * 20_000 + b"\r\nConnection: close\r\n\r\n")
            assert status == 400
            assert_security_headers(httpx.Headers(list(headers.items())), (port, 400))


@pytest.mark.usefixtures("stack")
def test_pages_need_no_inline_script_or_style(topology):
    with httpx.Client(timeout=10) as client:
        for path in ("/", "/fortunes"):
            page = client.get(f"http://127.0.0.1:{topology.production.port}{path}").text.lower()
            assert "<script>" not in page and "<style" not in page and " style=" not in page, path
            assert " onclick=" not in page and "javascript:" not in page, path


@pytest.mark.usefixtures("stack")
def test_admin_is_not_reachable_by_default(topology):
    with httpx.Client(timeout=10) as client:
        for port, _ in topology.http_ports():
            for path in ("/admin/", "/admin/login/"):
                response = client.get(f"http://127.0.0.1:{port}{path}")
                assert response.status_code == 404, (port, path)
                assert response.json()["error"] == "not found"


def test_admin_is_mounted_only_with_admin_enabled():
    code = ("import django; django.setup(); from django.urls import resolve; "
            "resolve('/admin/'); print('mounted')")
    for enabled, mounted in (("0", False), ("1", True)):
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT / "app", capture_output=True, text=True, timeout=60,
            env={**production_environment(), "ADMIN_ENABLED": enabled},
        )
        assert ("mounted" in result.stdout) is mounted, (enabled, result.stdout, result.stderr[-300:])


RATE_PORT_OFFSET = 10_000


@pytest.fixture
def rate_limited_nginx(stack, tmp_path, topology):
    """A second nginx from the same template, with a low rate limit, on ports shifted by 10000.

    It proxies to the running servers, so the real production port keeps its generous limit.
    """
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    main_conf, site = render.render(render.host_target(tmp_path))
    site = render.substitute_tunables(site, {"NGINX_RATE_LIMIT": "5r/s", "NGINX_RATE_LIMIT_BURST": "5"})
    for port in [topology.production.port, *(server.port for server in topology.servers)]:
        site = site.replace(f"listen 127.0.0.1:{port};", f"listen 127.0.0.1:{port + RATE_PORT_OFFSET};")
    site = site.replace(f"alias {tmp_path}/static/", f"alias {local.run_place().folder}/static/")
    (tmp_path / "nginx").mkdir()
    (tmp_path / "nginx" / "nginx.conf").write_text(main_conf)
    (tmp_path / "nginx" / "site.conf").write_text(site)
    process = subprocess.Popen(
        [nginx, "-p", str(tmp_path / "nginx"), "-c", str(tmp_path / "nginx" / "nginx.conf"),
         "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    port = topology.production.port + RATE_PORT_OFFSET
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(10)


def test_the_production_rate_limit_is_a_json_429_on_a_second_nginx(rate_limited_nginx, topology):
    port = rate_limited_nginx
    with httpx.Client(timeout=10) as client, ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: client.get(f"http://127.0.0.1:{port}/json"), range(40)))
        limited = [response for response in statuses if response.status_code == 429]
        assert len(limited) >= 20, [response.status_code for response in statuses]
        assert all(response.status_code in (200, 429) for response in statuses)
        assert limited[0].json()["error"] == "too many requests"
        assert limited[0].headers["x-served-by"] == "nginx"
        assert_security_headers(limited[0].headers, "429")
        # The per-server ports are for benchmarks: never limited.
        server_port = topology.servers[0].port + RATE_PORT_OFFSET
        burst = list(pool.map(lambda _: client.get(f"http://127.0.0.1:{server_port}/json"), range(40)))
        assert all(response.status_code == 200 for response in burst)


def test_default_rate_limit_is_generous():
    defaults = render.tunable_defaults()
    rate = defaults["NGINX_RATE_LIMIT"]
    assert rate.endswith("r/s") and int(rate[:-3]) >= 100, rate
    assert int(defaults["NGINX_RATE_LIMIT_BURST"]) >= 100


# Known vulnerabilities accepted on purpose, each with the reason: `pip-audit --ignore-vuln ID`.
ACCEPTED_VULNERABILITIES: dict[str, str] = {}


def pypi_json_api_reachable() -> bool:
    try:
        return httpx.get("https://pypi.org/pypi/pip/json", timeout=5).json()["info"]["name"] == "pip"
    except (httpx.HTTPError, ValueError, KeyError):
        return False


def test_locked_requirements_have_no_known_vulnerabilities():
    """pip-audit over the locks (fully pinned: --no-deps --disable-pip, no resolver run).

    It needs PyPI's JSON API (vulnerability data); without it, pip-audit reports "no known
    vulnerabilities" having audited nothing, so the test skips instead of passing.
    """
    audit = shutil.which("pip-audit", path=os.path.dirname(sys.executable))
    if audit is None:
        pytest.skip("pip-audit is not installed in this environment")
    if not pypi_json_api_reachable():
        pytest.skip("PyPI's JSON API (https://pypi.org/pypi/<name>/json) is not reachable: cannot audit")
    command = [audit, "--progress-spinner", "off", "--no-deps", "--disable-pip",
               "-r", str(ROOT / "requirements/app.txt"), "-r", str(ROOT / "requirements/dev.txt")]
    for vulnerability in ACCEPTED_VULNERABILITIES:
        command += ["--ignore-vuln", vulnerability]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    unaudited = [line.split()[0] for line in output.splitlines() if "could not be audited" in line]
    pinned = sum(1 for name in ("app.txt", "dev.txt")
                 for line in (ROOT / "requirements" / name).read_text().splitlines() if "==" in line)
    if unaudited and len(unaudited) * 2 >= pinned:
        pytest.skip(f"PyPI's JSON API answers no release data here: {len(unaudited)} packages unaudited")
    assert not unaudited, f"packages pip-audit could not audit: {unaudited}"
    assert result.returncode == 0, output
