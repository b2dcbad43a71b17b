"""What makes an answer correct, for every driver: the bench's users and the soak's alike."""

from __future__ import annotations


def http_problem(status: int, served_by: str | None, expected_server: str | None) -> str | None:
    """Why an HTTP answer does not count as a success, or None: only a 200 from the server under
    test counts (nginx answers for a server that is down, and must not be read as that server)."""
    if status != 200:
        return f"HTTP {status}"
    if expected_server and served_by != expected_server:
        return f"X-Served-By {served_by!r}, expected {expected_server!r}"
    return None


def sse_problem(text: str, expected_events: int) -> str | None:
    # An event is a blank-line-separated block with at least one data: line.
    blocks = [block.splitlines() for block in text.split("\n\n")]
    events = sum(1 for lines in blocks if any(line.startswith("data:") for line in lines))
    return f"{events} SSE events, expected {expected_events}" if events < expected_events else None


def echo_problem(sent: str, echoed: bytes) -> str | None:
    return None if echoed == sent.encode() else "echo differs from the message sent"
