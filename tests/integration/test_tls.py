"""TLS on the production port, on either stack: a `make certs` certificate, HTTP/2, HSTS only over TLS."""

import json
import shutil
import ssl
import subprocess

import httpx
import pytest
import websocket

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("stack")]


def test_https_with_the_local_ca_trusted(stack, topology):
    production = topology.production
    with httpx.Client(verify=ssl.create_default_context(cafile=stack.tls_ca), timeout=10) as client:
        response = client.get(f"https://127.0.0.1:{production.tls_port}/json")
        assert response.status_code == 200
        assert response.json() == {"message": "Hello, World!"}
        assert response.headers["x-served-by"] == production.http.name
        assert response.headers["strict-transport-security"].startswith("max-age=")
        plain = client.get(f"http://127.0.0.1:{production.port}/json")
        assert "strict-transport-security" not in plain.headers


def test_untrusted_certificate_is_rejected(topology):
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"https://127.0.0.1:{topology.production.tls_port}/json", verify=True, timeout=10)


def test_http2_is_negotiated(stack, topology):
    curl = shutil.which("curl")
    assert curl, "curl is needed to check HTTP/2 (apt-get install curl)"
    result = subprocess.run(
        [curl, "-sS", "--http2", "--cacert", str(stack.tls_ca), "-o", "/dev/null", "-w", "%{http_version}",
         f"https://127.0.0.1:{topology.production.tls_port}/healthz"],
        capture_output=True, text=True, timeout=20,
    )
    assert result.stdout == "2", result.stderr


def test_websocket_over_tls(stack, topology):
    port = topology.production.tls_port
    sock = websocket.create_connection(
        f"wss://127.0.0.1:{port}/ws/echo/", timeout=10, origin=f"https://127.0.0.1:{port}",
        sslopt={"ca_certs": str(stack.tls_ca)},
    )
    try:
        sock.send(json.dumps({"over": "tls"}))
        assert json.loads(sock.recv()) == {"over": "tls"}
    finally:
        sock.close()
