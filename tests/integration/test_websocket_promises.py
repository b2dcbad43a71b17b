"""The README's WebSocket answers to a client that gets it wrong, through nginx and every real server."""

import json
import uuid

import httpx
import pytest
from realtime.consumers import private_close_code
from websocket import ABNF

from tests.integration.wsclient import close_code, open_socket, send_frames

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("stack")]


def chat_room() -> str:
    return f"/ws/chat/promise-{uuid.uuid4().hex[:10]}/"


def test_plain_http_to_a_websocket_path_is_a_json_426_on_every_port(topology):
    with httpx.Client(timeout=10) as client:
        for port, name in topology.http_ports():
            for path in ("/ws/echo/", "/ws/chat/lobby/"):
                response = client.get(f"http://127.0.0.1:{port}{path}")
                assert response.status_code == 426, (name, path, response.text[:200])
                assert response.headers["upgrade"] == "websocket", (name, path)
                assert response.json()["error"] == "upgrade required", (name, path)


def test_a_binary_frame_in_the_chat_closes_1003(topology):
    """1003, or its private-use mirror 4003 on a server with the close-codes-4xxx quirk (Daphne)."""
    for port, name in topology.websocket_ports():
        sock = open_socket(port, chat_room())
        try:
            send_frames(sock, (ABNF.OPCODE_BINARY, b"\x00\x01", True))
            expected = private_close_code(1003) if "close-codes-4xxx" in topology[name].quirks else 1003
            assert close_code(sock) == expected, (port, name)
        finally:
            sock.shutdown()


MALFORMED = {
    "not JSON": "hello",
    "not an object": "[1, 2]",
    "no message": json.dumps({"sent_at": 1}),
    "empty message": json.dumps({"message": ""}),
    "sent_at not a number": json.dumps({"message": "hi", "sent_at": "noon"}),
    "sent_at a boolean": json.dumps({"message": "hi", "sent_at": True}),
    "id neither string nor number": json.dumps({"message": "hi", "id": [1]}),
}


def test_malformed_chat_messages_get_the_error_frame_and_the_socket_stays_open(topology):
    for port, name in topology.websocket_ports():
        sock = open_socket(port, chat_room())
        try:
            for case, text in MALFORMED.items():
                sock.send(text)
                reply = json.loads(sock.recv())
                assert reply["type"] == "error", (name, case, reply)
                assert reply["error"], (name, case, reply)
            # Still open, and still a member: a valid message comes back to its sender.
            sock.send(json.dumps({"message": "still here", "id": name}))
            echoed = json.loads(sock.recv())
            assert (echoed["type"], echoed["message"]) == ("chat", "still here"), (name, echoed)
        finally:
            sock.close()
