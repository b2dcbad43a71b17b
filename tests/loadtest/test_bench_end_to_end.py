"""The whole bench (Locust as a library, wrk, reports) against stand-in servers on 127.0.0.1."""

import json
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.polling import poll_until
from tests.loadtest import interruptible

ROOT = Path(__file__).resolve().parents[2]
FAKE_SERVER = Path(__file__).with_name("fake_server.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_listening(port: int) -> None:
    if not poll_until(lambda: _listening(port), 10, 0.05):
        raise TimeoutError(f"nothing listening on {port}")


@pytest.fixture(scope="module")
def servers_file(tmp_path_factory):
    """Two stand-ins: one refusing WebSockets like a WSGI server, one speaking them."""
    ports = {"fakewsgi": _free_port(), "fakeasgi": _free_port()}
    processes = [
        subprocess.Popen([sys.executable, FAKE_SERVER, "--port", str(ports[name]), "--name", name, *extra])
        for name, extra in (("fakewsgi", ["--refuse-websocket"]), ("fakeasgi", []))
    ]
    try:
        for port in ports.values():
            _wait_listening(port)
        path = tmp_path_factory.mktemp("servers") / "servers.toml"
        ports_line = f"port = {_free_port()}\ntls_port = {_free_port()}\n"
        tables = ["[production]\n" + ports_line + 'http = "fakewsgi"\nwebsocket = "fakeasgi"\n']
        for name, protocol in (("fakewsgi", "wsgi"), ("fakeasgi", "asgi")):
            tables.append(
                f'[servers.{name}]\nlabel = "{name}"\nprotocol = "{protocol}"\nport = {ports[name]}\n'
                f'internal_port = {_free_port()}\ncommand = "none"\n'
            )
        path.write_text("\n".join(tables))
        yield path
    finally:
        for process in processes:
            process.kill()
            process.wait()


def _bench(servers_file: Path, out: Path, scenarios: str, measure: float) -> subprocess.Popen:
    command = [sys.executable, "-m", "loadtest.bench", "--servers-file", str(servers_file), "--out", str(out)]
    command += ["--scenarios", scenarios, "--measure", str(measure), "--warmup", "0.5"]
    return subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)


def test_bench_measures_every_kind_and_writes_the_report(servers_file, tmp_path):
    scenarios = "plaintext,ws_echo,ws_chat,ws_handshake" + (",plaintext_wrk" if shutil.which("wrk") else "")
    bench = _bench(servers_file, tmp_path, scenarios, 1.0)
    _, log = bench.communicate(timeout=90)
    assert bench.returncode == 0, log
    results = json.loads((tmp_path / "results.json").read_text())
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert results["meta"]["commit"].split(" ")[0] == head  # the docs quote the code a run measured
    cells = {(c["scenario"], c["server"]): c for c in results["cells"]}
    assert all(c["error"] is None for c in cells.values()), log
    assert cells["plaintext", "fakeasgi"]["requests"] > 0 and cells["plaintext", "fakeasgi"]["failures"] == 0
    assert cells["ws_echo", "fakeasgi"]["p99_ms"] is not None
    assert cells["ws_chat", "fakeasgi"]["extra"]["lost"] == 0
    assert cells["ws_chat", "fakeasgi"]["extra"]["deliveries_expected"] > 0
    assert ("ws_echo", "fakewsgi") not in cells  # WebSocket scenarios skip WSGI servers
    assert "handshake refused: HTTP 404" in cells["ws_handshake", "fakewsgi"]["extra"]["answers"]
    html = (tmp_path / "report.html").read_text()
    assert "<svg" in html and "http://" not in html.split("<svg", 1)[0].replace("http://127.0.0.1", "")
    assert (tmp_path / "charts" / "heatmap.png").exists() and (tmp_path / "charts" / "plaintext.png").exists()
    assert (tmp_path / "raw" / "plaintext__fakeasgi__run1_stats.csv").exists()


def test_ctrl_c_keeps_finished_cells(servers_file, tmp_path):
    bench = _bench(servers_file, tmp_path, "json,plaintext", 3.0)
    started = lambda: (tmp_path / "results.json").exists() or bench.poll() is not None  # noqa: E731
    assert poll_until(started, 60, 0.1) and bench.poll() is None
    bench.send_signal(signal.SIGINT)
    _, log = bench.communicate(timeout=60)
    assert bench.returncode == 130, log
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["meta"]["interrupted"]
    assert 1 <= len(results["cells"]) < 4
    assert (tmp_path / "report.html").exists()


def test_bench_refuses_a_server_that_does_not_answer(tmp_path):
    """A cell against a server still starting (or stopped) would be measured as a result."""
    path = tmp_path / "servers.toml"
    dead = _free_port()
    path.write_text(f'[production]\nport = {_free_port()}\ntls_port = {_free_port()}\nhttp = "gone"\n'
                    f'websocket = "gone"\n\n[servers.gone]\nlabel = "gone"\nprotocol = "asgi"\n'
                    f'port = {dead}\ninternal_port = {_free_port()}\ncommand = "none"\n')
    command = [sys.executable, "-m", "loadtest.bench", "--servers-file", str(path),
               "--out", str(tmp_path / "run"), "--scenarios", "plaintext", "--ready-wait", "2"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "gone did not answer /healthz within 2 s" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()
