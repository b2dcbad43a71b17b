"""A minimal HTTP server with no Django: the open-loop HTTP client's own ceiling.

    python -m loadtest.reference.http_server --port 9002

Answers every request with 200, "Hello, World!" and X-Served-By: reference, keep-alive, from an
asyncio Protocol on uvloop with httptools parsing: tens of thousands of requests per second on one
core. Run on the server CPUs against the http_capacity ramp, the rate it holds is what the client
can measure at most: a server's rate near it says as much about the client as about the server.
"""

from __future__ import annotations

import asyncio

import httptools

from loadtest.reference import run

NAME = "reference"
BODY = b"Hello, World!"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nX-Served-By: %s\r\n\r\n%s"
    % (len(BODY), NAME.encode(), BODY)
)
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Answer(asyncio.Protocol):
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.write(BAD_REQUEST)
            self.transport.close()

    def on_message_complete(self) -> None:
        self.transport.write(RESPONSE)


async def start(host: str, port: int) -> asyncio.AbstractServer:
    # A ramp step opens its connections in a burst: asyncio's default backlog of 100 would drop
    # SYNs, and a dropped SYN is retried a whole second later, read as the server's latency.
    return await asyncio.get_running_loop().create_server(Answer, host, port, backlog=4096)


if __name__ == "__main__":
    run(__doc__.splitlines()[0], start)
