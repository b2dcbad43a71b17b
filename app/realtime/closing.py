"""Closing on a client that is still sending: read what it sends until it pauses, then close.

A WebSocket close is a handshake (RFC 6455 section 5.5.1): the side that sends its Close goes on
reading until the other side's Close comes back, and only then closes the TCP connection, as
Uvicorn's websockets protocol does. Granian (2.8.7) does not: its `websocket.close`
writes the Close frame, closes the socket's sending half and drops its reading half at once
(`WebsocketDetachedTransport::close`, called from `ASGIWebsocketProtocol::close`,
https://github.com/emmett-framework/granian/blob/v2.8.7/src/asgi/io.rs#L402-L412). A socket
closed with frames unread in the kernel is aborted: Linux sends a TCP reset instead of a FIN and
throws away what it had not sent yet, the Close frame with it. A browser that flooded the chat
then saw 1006 (no close frame) instead of 1008 and its reason; a packet capture shows Granian's
reset right after its last chat message and no Close frame on the wire, and the kernel's
TcpExtTCPAbortOnClose counter went up for nearly every such flood on Granian, never on Uvicorn.

So a consumer that closes because of what the client sends (a message over the size limit, over
the rate, of the wrong type) first reads and drops the client's frames until none has come for
QUIET_SECONDS (at most LINGER_SECONDS in all), then closes: nothing is left unread, and the close
ends in a FIN behind its Close frame. A browser's burst is over within that (the page's flood test
queues 400 messages at once); a client that never pauses is closed after LINGER_SECONDS and may
still get the reset, with nothing it would have read anyway.
"""

import asyncio

# Longer than the pauses a busy machine puts between the frames of one burst (a process can wait
# tens of milliseconds for a core), and short beside how long a client takes to notice a close.
QUIET_SECONDS = 0.25
# What a client that never pauses costs: this long of reading and dropping its frames.
LINGER_SECONDS = 2.0


async def read_until_quiet(receive, quiet: float = QUIET_SECONDS,
                           linger: float = LINGER_SECONDS) -> dict | None:
    """Read and drop the client's messages (`receive`, the server's) until none came for `quiet`
    seconds, or for `linger` seconds in all. The `websocket.disconnect` if the client left meanwhile.

    A receive still waiting when the time is up is cancelled: every server here lets go of the
    socket then (Granian drops its read, which its close would otherwise wait for).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + linger
    while (left := deadline - loop.time()) > 0:
        try:
            async with asyncio.timeout(min(quiet, left)):
                message = await receive()
        except TimeoutError:
            return None
        if message["type"] == "websocket.disconnect":
            return message
    return None
