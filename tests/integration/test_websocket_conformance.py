"""Two corners of RFC 6455 where servers depart, each a quirk in servers.toml.

Autobahn's fuzzing client found both (cases 1.1.1, 1.2.1, 6.1.1, 6.1.2 and 7.1.5); these tests
send the same frames to the echo on every ASGI server, and expect the quirk on the servers that
declare it and the RFC's behaviour on the others.
"""

import pytest
from websocket import ABNF

from tests.integration.wsclient import close_code, open_socket, send_frames

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("stack")]

TEXT, BINARY, CONTINUATION = ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY, ABNF.OPCODE_CONT
MARKER = "marker"


def test_empty_messages_are_echoed_except_where_a_quirk_says(topology):
    """Empty text, empty binary, and an empty text in three empty fragments, then a marker: the
    echo sends back each empty message before the marker (Daphne sends none: no-empty-messages)."""
    for port, name in topology.websocket_ports():
        sock = open_socket(port, "/ws/echo/")
        try:
            send_frames(sock, (TEXT, b"", True), (BINARY, b"", True),
                        (TEXT, b"", False), (CONTINUATION, b"", False), (CONTINUATION, b"", True),
                        (TEXT, MARKER.encode(), True))
            received = []
            while MARKER not in received:
                received.append(sock.recv())
            expected = [MARKER] if "no-empty-messages" in topology[name].quirks else ["", b"", "", MARKER]
            assert received == expected, (port, name)
        finally:
            sock.close()


def test_a_close_between_fragments_is_answered_except_where_a_quirk_says(topology):
    """A close (1000) after a message's first fragment is answered with 1000, the close it got;
    Uvicorn's websockets protocol answers 1002 (close-mid-message-1002)."""
    for port, name in topology.websocket_ports():
        sock = open_socket(port, "/ws/echo/")
        try:
            send_frames(sock, (TEXT, b"fragment1", False),
                        (ABNF.OPCODE_CLOSE, (1000).to_bytes(2, "big"), True),
                        (CONTINUATION, b"fragment2", True))
            expected = 1002 if "close-mid-message-1002" in topology[name].quirks else 1000
            assert close_code(sock) == expected, (port, name)
        finally:
            sock.shutdown()
