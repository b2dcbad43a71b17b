"""A local certificate authority and a server certificate for 127.0.0.1/localhost (`make certs`).

For local TLS only: trust certs/ca.crt in a client (curl --cacert, httpx verify=...) to talk
https to the production port. In production, provide a real certificate (TLS_CERT_FILE and
TLS_KEY_FILE) instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .servers import ROOT

CERTS = ROOT / "certs"
DAYS = "825"  # the most browsers accept for a server certificate
# The directory (0700) is what keeps the server key private on this machine. The key itself is
# readable by everyone so that nginx's unprivileged user in the container (uid 101), reading it
# through a bind mount, can load it too.
KEY_MODE = 0o644


@dataclass(frozen=True)
class Certificate:
    certificate: Path
    key: Path


def configured() -> Certificate:
    """The certificate to serve: the one provided in the environment, else the local one."""
    if os.environ.get("TLS_CERT_FILE") and os.environ.get("TLS_KEY_FILE"):
        return Certificate(Path(os.environ["TLS_CERT_FILE"]), Path(os.environ["TLS_KEY_FILE"]))
    return ensure_local()


def ensure_local(directory: Path = CERTS) -> Certificate:
    """Make the local CA and server certificate unless they exist."""
    local = Certificate(directory / "tls.crt", directory / "tls.key")
    if local.certificate.exists() and local.key.exists():
        local.key.chmod(KEY_MODE)
        return local
    openssl = shutil.which("openssl")
    if not openssl:
        raise SystemExit("certs: openssl was not found: apt-get install openssl")
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", DAYS,
        "-keyout", str(directory / "ca.key"), "-out", str(directory / "ca.crt"),
        "-subj", "/CN=django-servers local CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(local.key),
        "-out", str(directory / "tls.csr"), "-subj", "/CN=localhost")
    with tempfile.NamedTemporaryFile("w", suffix=".ext") as extensions:
        extensions.write(
            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
        )
        extensions.flush()
        run("x509", "-req", "-in", str(directory / "tls.csr"), "-days", DAYS,
            "-CA", str(directory / "ca.crt"), "-CAkey", str(directory / "ca.key"), "-CAcreateserial",
            "-extfile", extensions.name, "-out", str(local.certificate))
    (directory / "tls.csr").unlink()
    (directory / "ca.key").chmod(0o600)
    local.key.chmod(KEY_MODE)
    return local
