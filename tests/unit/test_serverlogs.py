"""The end-of-session log check (tests/serverlogs.py) finds a traceback written during the session."""

from tests import serverlogs

CLOSED = "RuntimeError: unable to perform operation on <TCPTransport>; the handler is closed"
GUNICORN_ASGI = f"""\
127.0.0.1 - - "GET /healthz HTTP/1.1" 200 43
[ERROR] Error handling connection: boom
Traceback (most recent call last):
  File "/venv/gunicorn/asgi/websocket.py", line 173, in run
    await self.app(self.scope, self._receive, self._send)
asyncio.exceptions.CancelledError

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/venv/gunicorn/asgi/websocket.py", line 191, in run
    await self._send_close(CLOSE_INTERNAL_ERROR, "Application error")
{CLOSED}
"""


def test_a_traceback_written_during_the_session_is_found_with_its_exception(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_RUN_DIR", str(tmp_path))
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "gunicorn-asgi.log"
    log.write_text("Traceback (most recent call last):\nValueError: from an earlier session\n")
    sizes = serverlogs.log_sizes()
    with log.open("a") as file:
        file.write(GUNICORN_ASGI)
    found = serverlogs.unexpected(sizes)
    assert [(item.log, item.exception) for item in found] == [
        ("gunicorn-asgi.log", "asyncio.exceptions.CancelledError"),
        ("gunicorn-asgi.log", CLOSED),
    ]
    assert "gunicorn-asgi.log: asyncio.exceptions.CancelledError" in serverlogs.report(found)


def test_an_allowed_traceback_passes_and_a_rotated_log_is_read_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_RUN_DIR", str(tmp_path))
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "hypercorn.log"
    log.write_text("x" * 10_000)
    sizes = serverlogs.log_sizes()
    log.write_text("Traceback (most recent call last):\n  File \"x\"\nKeyError: 'gone'\n")
    assert [item.exception for item in serverlogs.unexpected(sizes)] == ["KeyError: 'gone'"]
    monkeypatch.setattr(serverlogs, "ALLOWED", {("hypercorn.log", r"^KeyError: 'gone'$"): "a reason"})
    assert serverlogs.unexpected(sizes) == []
