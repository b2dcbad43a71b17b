"""Raw WebSocket calls on websocket-client, each reported as a Locust request event.

websocket-client does blocking socket I/O, which gevent's monkey-patching (done by Locust)
makes cooperative, so thousands of connections share the load generator's one thread.
Timings are taken here, on the client, around the actual socket calls.
"""

from __future__ import annotations

import contextlib
import struct
import time
from urllib.parse import urlsplit

import websocket

REQUEST_TYPE = "WS"


class HandshakeRefused(Exception):
    """The server answered the upgrade with an HTTP status other than 101."""

    def __init__(self, status: int):
        super().__init__(f"handshake refused: HTTP {status}")
        self.status = status


class Closed(Exception):
    """The server closed the connection; the close code says why (1009: message too big)."""

    def __init__(self, code: int | None):
        super().__init__(f"closed by server: code {code}")
        self.code = code


def to_ws_url(host: str, path: str) -> str:
    """ws:// URL for a path on an http:// Locust host."""
    parts = urlsplit(host)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{path}"


def origin_of(url: str) -> str:
    """The Origin a browser on that page would send; the app checks it against ALLOWED_HOSTS."""
    parts = urlsplit(url)
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"


def elapsed_ms(started: float) -> float:
    """Milliseconds since started, a time.perf_counter() value."""
    return (time.perf_counter() - started) * 1000


def report(
    events, name: str, response_time_ms: float, length: int = 0, exception: Exception | None = None
) -> None:
    """Fire a Locust request event, so WebSocket timings land in the same stats as HTTP ones."""
    events.request.fire(
        request_type=REQUEST_TYPE,
        name=name,
        response_time=response_time_ms,
        response_length=length,
        response=None,
        context={},
        exception=exception,
    )


def connect(events, url: str, name: str, timeout: float = 10.0) -> websocket.WebSocket | None:
    """Open a connection, reporting its handshake time as `name`; None when it failed."""
    started = time.perf_counter()
    try:
        ws = websocket.create_connection(url, timeout=timeout, origin=origin_of(url), enable_multithread=True)
    except websocket.WebSocketBadStatusException as error:
        report(events, name, elapsed_ms(started), exception=HandshakeRefused(error.status_code))
        return None
    except (OSError, websocket.WebSocketException) as error:
        report(events, name, elapsed_ms(started), exception=error)
        return None
    report(events, name, elapsed_ms(started))
    return ws


def receive(ws: websocket.WebSocket) -> bytes:
    """The next data message; raises Closed with the server's close code."""
    opcode, frame = ws.recv_data_frame()
    if opcode == websocket.ABNF.OPCODE_CLOSE:
        code = struct.unpack("!H", frame.data[:2])[0] if len(frame.data) >= 2 else None
        raise Closed(code)
    return frame.data


def close(ws: websocket.WebSocket | None) -> None:
    if ws is not None:
        with contextlib.suppress(OSError, websocket.WebSocketException):  # already gone
            ws.close(timeout=1)
