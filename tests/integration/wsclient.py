"""A WebSocket client for the integration tests that can send any frame and sees every frame back."""

import websocket
from websocket import ABNF


def open_socket(port: int, path: str) -> websocket.WebSocket:
    return websocket.create_connection(
        f"ws://127.0.0.1:{port}{path}", timeout=10, origin=f"http://127.0.0.1:{port}"
    )


def send_frames(sock: websocket.WebSocket, *frames: tuple[int, bytes, bool]) -> None:
    """(opcode, payload, fin) frames, sent as they are: fragments, empty ones, control frames between."""
    for opcode, payload, fin in frames:
        sock.send_frame(ABNF.create_frame(payload, opcode, fin=int(fin)))


def close_code(sock: websocket.WebSocket) -> int | None:
    """The code of the server's close frame; data frames before it are skipped.

    A socket that ends without a close frame, or stays open, fails the test: both are
    different outcomes from the close a test expects. Frames are read as they come, without
    websocket-client's reply to the close: a server may close TCP right after its close frame,
    and the reply's broken pipe would hide the code it sent.
    """
    while True:
        frame = sock.recv_frame()
        if frame.opcode == ABNF.OPCODE_CLOSE:
            return int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
