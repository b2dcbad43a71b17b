"""What the harness measures itself against: servers with no Django, for the client's own ceiling.

Each reference server is a module run as `python -m loadtest.reference.NAME --port P`; `run` is
their shared command line and lifetime: listen, say so on stdout (the harness waits for that
line), serve until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Awaitable, Callable

import uvloop

# Makes and starts a listening server on (host, port).
Start = Callable[[str, int], Awaitable[asyncio.AbstractServer]]


async def _serve(start: Start, host: str, port: int) -> None:
    server = await start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"listening on {host}:{port}", flush=True)
    async with server:
        await stop.wait()


def run(description: str, start: Start) -> None:
    """Parse --host and --port, then serve what `start(host, port)` creates until stopped."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(_serve(start, args.host, args.port))
