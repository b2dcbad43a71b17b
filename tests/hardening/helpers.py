"""Shared helpers of the hardening tests: raw requests, the ports, health and process checks."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import websocket
from websocket import ABNF

from stack import local, servers

CONCURRENCY = 4  # clients of a steady background load

TRACEBACK_MARKERS = (b"Traceback (most recent call last)", b'File "/', b"django.core.exceptions")


def raw_http(port: int, request: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client-side normalisation); status, headers, body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            if complete(data):
                break  # do not wait for a lingering close (nginx keeps reading an unwanted body)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/"), f"no HTTP response on {port} to {request[:80]!r}: {data[:200]!r}"
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = dechunk(body)
    return int(lines[0].split()[1]), headers, body


def dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, body = out + rest[:size], rest[size + 2:]
    return out


def complete(data: bytes) -> bool:
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return body.endswith(b"0\r\n\r\n")


def assert_clean(status: int, body: bytes, where) -> None:
    """The outcome every bad input must have: no 5xx and no traceback or internals in the body."""
    assert status < 500, (where, status, body[:300])
    for marker in TRACEBACK_MARKERS:
        assert marker not in body, (where, body[:500])


# How long a server's log may take to show a marker request's own access-log line.
LOG_CATCH_UP_SECONDS = 30


@contextlib.contextmanager
def log_output(names: Iterable[str]) -> Iterator[dict[str, bytes]]:
    """What each named server of the host run writes to its log while the block runs.

    The logs reach their files through supervisord, later than the answers: after the block, a
    request for a path of its own goes to each server, and the log is read once it shows that
    request's access-log line (a fixed wait would let a later traceback pass unseen).
    """
    topology = servers.load()
    logs = {name: local.run_place().logs / f"{name}.log" for name in names}
    sizes = {name: log.stat().st_size for name, log in logs.items()}
    written: dict[str, bytes] = {}
    yield written
    marker = f"/log-marker-{uuid.uuid4().hex}"
    with httpx.Client(timeout=10) as client:
        for name in logs:
            client.get(f"http://127.0.0.1:{topology[name].port}{marker}")
    deadline = time.monotonic() + LOG_CATCH_UP_SECONDS
    for name, log in logs.items():
        while True:
            with log.open("rb") as file:
                file.seek(sizes[name])
                written[name] = file.read()
            if marker.encode() in written[name]:
                break
            assert time.monotonic() < deadline, f"{name}: no access-log line for {marker} in {log}"
            time.sleep(0.1)


def tracebacks(written: dict[str, bytes]) -> dict[str, str]:
    """The logs of `log_output` that show a traceback, each with the lines where it starts."""
    found = {}
    for name, text in written.items():
        at = min((text.find(marker) for marker in TRACEBACK_MARKERS if marker in text), default=-1)
        if at >= 0:
            found[name] = text[max(0, at - 200):at + 800].decode(errors="replace")
    return found


def wait_healthy(topology, timeout: float = 60) -> None:
    """Every nginx port answers /healthz (no stuck or missing worker behind any of them)."""
    pending = {port for port, _ in topology.http_ports()}
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=3) as client:
        while pending and time.monotonic() < deadline:
            for port in sorted(pending):
                try:
                    if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        pending.discard(port)
                except httpx.HTTPError:
                    pass
            if pending:
                time.sleep(0.25)
    assert not pending, f"not healthy after {timeout} s: ports {sorted(pending)}"


def wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
    raise AssertionError(f"/readyz on {port} not 200 within {timeout} s")


def open_socket(port: int, path: str, timeout: float = 10, **options) -> websocket.WebSocket:
    options.setdefault("origin", f"http://127.0.0.1:{port}")
    return websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=timeout, **options)


def close_outcome(sock: websocket.WebSocket, timeout: float = 10) -> tuple[str, int | None]:
    """How the server ended the socket: ("close", code) with a close frame; without one,
    ("dropped", None) when the connection just ended (FIN) or ("reset", None) on a TCP reset.

    A reset is what a crashed process or a socket closed with unread data sends: never a
    deliberate close, so a test accepts it only where it says why.
    A socket still open after `timeout` fails the test: a server must not leave a bad client hanging.
    """
    sock.settimeout(timeout)
    try:
        while True:
            opcode, frame = sock.recv_data_frame(True)
            if opcode == ABNF.OPCODE_CLOSE:
                code = int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
                return "close", code
    except websocket.WebSocketTimeoutException:
        raise AssertionError("the server left the socket open") from None
    except ConnectionResetError:
        return "reset", None
    except websocket.WebSocketConnectionClosedException:
        return "dropped", None
    finally:
        sock.shutdown()


def server_processes(name: str) -> list[psutil.Process]:
    """The processes of one program of the host run: its master and every descendant."""
    program = name if name in {"postgres", "redis", "nginx"} else f"servers:{name}"
    result = local.supervisorctl("pid", program)
    master = psutil.Process(int(result.stdout.strip()))
    return [master, *master.children(recursive=True)]


def tree_total(name: str, measure: Callable[[psutil.Process], int]) -> int:
    """`measure` summed over the processes of one program (one that exits meanwhile counts 0)."""
    total = 0
    for process in server_processes(name):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += measure(process)
    return total


def tree_rss(name: str) -> int:
    return tree_total(name, lambda process: process.memory_info().rss)


def tree_threads(name: str) -> int:
    return tree_total(name, psutil.Process.num_threads)


class PeakWatch(threading.Thread):
    """The highest value of `sample()`, called every `interval` seconds while the block runs.

    A peak is what a bound is asserted on, so a watch that could not sample must not pass for
    a low one: the sampler's error is raised when the block ends, and so is a block that
    ended before a second sample (the peak would be the idle value alone).
    """

    def __init__(self, sample: Callable[[], int], interval: float):
        super().__init__(daemon=True)
        self.sample, self.interval = sample, interval
        self.peak, self.samples, self.error = 0, 0, None
        self.stopped = threading.Event()

    def run(self):
        try:
            while True:
                self.peak = max(self.peak, self.sample())
                self.samples += 1
                if self.stopped.wait(self.interval):
                    return
        except Exception as error:  # raised in the test's own thread, by __exit__
            self.error = error

    def __enter__(self) -> PeakWatch:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.join()
        if exc[0] is None:
            if self.error is not None:
                raise AssertionError(f"the watch stopped sampling: {self.error!r}") from self.error
            assert self.samples >= 2, f"the watch sampled {self.samples} time(s) only"


def assert_reload_failed_nothing(load: Load, server: servers.Server) -> None:
    """What a reload under load may do: nothing, or with the quirk reload-503 (servers.toml) a
    503 while new processes start, at most one per client."""
    assert load.statuses[200] > 0
    if "reload-503" in server.quirks:
        assert set(load.statuses) <= {200, 503} and load.failed <= CONCURRENCY, dict(load.statuses)
    else:
        assert load.failed == 0, dict(load.statuses)


class Load:
    """CONCURRENCY threads requesting one URL in a loop until stopped (and for at most max_seconds).

    max_seconds only bounds a test that forgets to stop it: it must outlast every wait the test
    makes under load (a reload is allowed GRACEFUL_TIMEOUT + 30 s, a respawn 30 s plus Uvicorn's
    ping), or `answered` would wait for requests nobody sends any more.
    """

    def __init__(self, url: str, concurrency: int = CONCURRENCY, max_seconds: float = 180):
        self.url, self.concurrency, self.max_seconds = url, concurrency, max_seconds
        self.statuses: Counter = Counter()
        self.slowest = 0.0
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def worker(self):
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(timeout=10) as client:
            while not self.stopping.is_set() and time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    outcome = client.get(self.url).status_code
                except httpx.HTTPError as error:
                    outcome = type(error).__name__
                with self.lock:
                    self.statuses[outcome] += 1
                    self.slowest = max(self.slowest, time.monotonic() - started)

    def __enter__(self):
        self.pool = ThreadPoolExecutor(self.concurrency)
        self.futures = [self.pool.submit(self.worker) for _ in range(self.concurrency)]
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for future in self.futures:
            future.result()
        self.pool.shutdown()

    def answered(self, more: int, timeout: float = 30) -> None:
        """Wait until `more` requests from now on have been answered 200: the load is running
        (before a fault) or running again (after one)."""
        with self.lock:
            target = self.statuses[200] + more
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if self.statuses[200] >= target:
                    return
            assert not all(future.done() for future in self.futures), (
                f"{self.url}: the load ended (max_seconds={self.max_seconds}) before {more} more 200s")
            assert time.monotonic() < deadline, f"{self.url}: not {more} more 200s within {timeout} s"
            time.sleep(0.05)

    @property
    def failed(self) -> int:
        return sum(count for outcome, count in self.statuses.items() if outcome != 200)
