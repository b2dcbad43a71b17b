"""A minimal WebSocket broadcast server with no Django: the load client's own ceiling.

    python -m loadtest.reference.broadcast_server --port 9001

Every JSON text frame from any client goes to every connected client as a chat event, as the
chat room's group send does, but in compiled framing (picows) on uvloop with nothing else in the
way. Run on the server CPUs against the capacity ramp, its figure is what the client can measure
at most: a server's figure near it says as much about the client as about the server.
"""

from __future__ import annotations

import asyncio
import json

import picows

from loadtest.reference import run


class Room(picows.WSListener):
    members: set[picows.WSTransport] = set()

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.members.add(transport)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.TEXT:
            try:
                event = json.loads(frame.get_payload_as_bytes())
            except ValueError:
                transport.send_close(picows.WSCloseCode.UNSUPPORTED_DATA)  # 1003, as the chat does
                transport.disconnect()
                return
            # The chat consumer's event, so a client reads both servers the same way.
            payload = json.dumps({**event, "type": "chat", "server": "broadcast-reference"}).encode()
            for member in self.members:
                member.send(picows.WSMsgType.TEXT, payload)
        elif frame.msg_type == picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self.members.discard(transport)


async def start(host: str, port: int) -> asyncio.AbstractServer:
    return await picows.ws_create_server(lambda request: Room(), host, port)


if __name__ == "__main__":
    run(__doc__.splitlines()[0], start)
