"""A stand-in for one app server, so the bench can be tested without the stack.

Answers every HTTP path with 200 and X-Served-By, echoes on /ws/echo/ and broadcasts on
/ws/chat/<room>/ like the real app; with --refuse-websocket it answers upgrades with 404 as a
WSGI server would. --service-ms makes each HTTP answer take that long, one at a time (a server
with a known capacity), --stall-ms freezes it for that long every --stall-every-s (a pause that
a closed-loop client would hardly see). Run: python fake_server.py --port 18081 --name fake
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from websockets.asyncio.server import broadcast, serve
from websockets.http11 import Response

ROOMS: dict[str, set] = {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--refuse-websocket", action="store_true")
    parser.add_argument("--service-ms", type=float, default=0.0)
    parser.add_argument("--stall-ms", type=float, default=0.0)
    parser.add_argument("--stall-every-s", type=float, default=1.0)
    args = parser.parse_args()

    def process_request(connection, request) -> Response | None:
        path = request.path.split("?")[0]
        if path.startswith("/ws/") and not args.refuse_websocket:
            return None  # go on with the handshake
        time.sleep(args.service_ms / 1000)  # blocks the loop: answers one at a time
        status = 404 if path.startswith("/ws/") else 200
        body = "data: tick\n\n" * 5 if path.startswith("/sse/") else "Hello, World!"
        response = connection.respond(status, body)
        response.headers["X-Served-By"] = args.name
        return response

    async def handler(connection):
        path = connection.request.path
        if path.startswith("/ws/echo/"):
            async for message in connection:
                await connection.send(message)
        elif path.startswith("/ws/chat/"):
            room = ROOMS.setdefault(path, set())
            room.add(connection)
            try:
                async for message in connection:
                    event = json.loads(message)
                    broadcast(room, json.dumps({"type": "chat", **event, "server": args.name}))
            finally:
                room.discard(connection)

    async def stall():
        while True:
            await asyncio.sleep(args.stall_every_s)
            time.sleep(args.stall_ms / 1000)

    async def serve_forever():
        async with serve(handler, "127.0.0.1", args.port, process_request=process_request):
            stalls = asyncio.get_running_loop().create_task(stall()) if args.stall_ms else None
            await asyncio.get_running_loop().create_future()
            stalls.cancel()

    asyncio.run(serve_forever())


if __name__ == "__main__":
    main()
