"""A remote Locust worker for real (`make loadgen-worker`, LOCUST_REMOTE_WORKERS): the worker runs in
a network namespace this test creates, so it reaches the bench and nginx only over a link, as a
load machine would, and the bench's report counts what it generated.

nginx listens on 127.0.0.1 in the host run; a relay on the link's address stands in for a
routable nginx address. The worker's host names the bench's end of the link `localhost` (a hosts
file `ip netns exec` mounts), so --nginx-host is a name in the host run's ALLOWED_HOSTS, as a
real deployment's server name would be.
"""

import contextlib
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SERVER, SCENARIO = "gunicorn", "plaintext"
# A private /30 for the link: the bench's end, the worker's end.
HOST_ADDRESS, WORKER_ADDRESS = "10.254.83.1", "10.254.83.2"
NGINX_HOST = "localhost"


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def load_machine():
    """A network namespace linked to this one by a veth pair; its name."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("a network namespace needs root and iproute2")
    name = f"loadgen-{os.getpid()}"
    host_end, worker_end = f"lgh{os.getpid() % 100000}", f"lgw{os.getpid() % 100000}"
    etc = Path("/etc/netns") / name
    etc.mkdir(parents=True)
    (etc / "hosts").write_text(f"{HOST_ADDRESS} {NGINX_HOST}\n")
    run("ip", "netns", "add", name)
    try:
        run("ip", "link", "add", host_end, "type", "veth", "peer", "name", worker_end, "netns", name)
        run("ip", "addr", "add", f"{HOST_ADDRESS}/30", "dev", host_end)
        run("ip", "link", "set", host_end, "up")
        for command in (("ip", "addr", "add", f"{WORKER_ADDRESS}/30", "dev", worker_end),
                        ("ip", "link", "set", worker_end, "up"), ("ip", "link", "set", "lo", "up")):
            run("ip", "netns", "exec", name, *command)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        shutil.rmtree(etc)


@contextlib.contextmanager
def relay(port: int):
    """HOST_ADDRESS:port forwarded to 127.0.0.1:port, byte for byte, while the block runs."""
    listener = socket.create_server((HOST_ADDRESS, port))
    stopping = threading.Event()

    def pump(client: socket.socket) -> None:
        # A reset from either end (Locust drops its connections when a cell ends) ends the pair.
        with client, socket.create_connection(("127.0.0.1", port)) as upstream, \
                contextlib.suppress(ConnectionError):
            pair = {client: upstream, upstream: client}
            with selectors.DefaultSelector() as selector:
                for end in pair:
                    selector.register(end, selectors.EVENT_READ)
                while not stopping.is_set():
                    for key, _ in selector.select(0.5):
                        data = key.fileobj.recv(65536)
                        if not data:
                            return
                        pair[key.fileobj].sendall(data)

    def accept() -> None:
        with listener:
            listener.settimeout(0.5)
            while not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    threading.Thread(target=pump, args=(listener.accept()[0],), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield
    finally:
        stopping.set()
        acceptor.join()


def test_a_worker_on_another_host_generates_the_load_the_report_counts(stack, topology, tmp_path):
    if stack.name != "host":
        pytest.skip("the bench's host target")
    port = topology[SERVER].port
    with load_machine() as machine, relay(port):
        with socket.socket() as probe:
            probe.bind((HOST_ADDRESS, 0))
            master_port = probe.getsockname()[1]
        bench = subprocess.Popen(
            [sys.executable, "-m", "loadtest.bench", "--target", "host", "--out", str(tmp_path),
             "--servers", SERVER, "--scenarios", SCENARIO, "--measure", "2", "--warmup", "0.5",
             "--workers", "0", "--remote-workers", "1", "--master-bind", HOST_ADDRESS,
             "--master-port", str(master_port), "--nginx-host", NGINX_HOST],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        worker = subprocess.Popen(
            ["ip", "netns", "exec", machine, sys.executable, "-m", "loadtest.worker",
             "--master", HOST_ADDRESS, "--master-port", str(master_port)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            _, errors = bench.communicate(timeout=180)
            worker_output, _ = worker.communicate(timeout=60)
        finally:
            for process in (bench, worker):
                if process.poll() is None:
                    process.kill()
                    process.wait()
    assert bench.returncode == 0, errors[-2000:]
    assert worker.returncode == 0, worker_output[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["meta"]["locust_workers"] == {"local": 0, "remote": 1}
    [cell] = results["cells"]
    assert cell["error"] is None and cell["failures"] == 0, cell["failure_kinds"]
    [remote] = cell["extra"]["locust_workers"]
    assert remote["requests"] > 0 and cell["requests"] == remote["requests"], (cell["requests"], remote)
