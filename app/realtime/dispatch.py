"""A consumer's message loop with one wake-up per message, where Channels' loop takes three.

Channels' consumers wait for the next client frame or channel-layer message in
`channels.utils.await_many_dispatch`: per message, an `asyncio.wait(FIRST_COMPLETED)` over one
task per source (two sets built, a callback added to and removed from each task, a wake-up of its
own before the consumer's) and a new task for the next receive. A room of thousands of members
pays that per member for every broadcast, and the echo pays it per frame with a single source.

Here the consumer awaits its sources itself. The one-source case (the echo) awaits the client's
receive directly. With a channel layer, `RoomChannelLayer.receive` gives a future that the layer's
reader completes with the message; the consumer awaits that future, and a client frame, read by a
task as in Channels, completes it early with `CLIENT`, so either source wakes the consumer once.
Messages are dispatched one at a time, a client frame first when both are ready, as in Channels.
"""

import asyncio
import contextlib

CLIENT = object()  # what a channel receive is completed with when a client frame came first


async def dispatch_forever(receive, channel_receive, dispatch) -> None:
    """Dispatch the client's ASGI messages (`receive`) and, when `channel_receive` is given, the
    channel's messages, until `dispatch` raises (StopConsumer when the consumer is done)."""
    if channel_receive is None:
        while True:
            await dispatch(await receive())
    sources = Sources(receive, channel_receive)
    try:
        while True:
            await dispatch(await sources.next())
    finally:
        await sources.cancel()


class Sources:
    def __init__(self, receive, channel_receive):
        self.receive, self.channel_receive = receive, channel_receive
        self.channel: asyncio.Future = channel_receive()
        self.client: asyncio.Task | None = None

    def read_client(self) -> asyncio.Task:
        task = asyncio.ensure_future(self.receive())
        task.add_done_callback(self.client_ready)
        return task

    def client_ready(self, task: asyncio.Task) -> None:
        if not self.channel.done():
            self.channel.set_result(CLIENT)

    async def next(self):
        # The client's next receive starts once its last message was dispatched, as in Channels:
        # a server may hold a receive made before the handshake's answer (Granian then never
        # sent the close that followed an accept).
        if self.client is None:
            self.client = self.read_client()
        while True:
            if self.client.done():
                message = self.client.result()
                self.client = None
                return message
            message = await self.channel  # raises the layer's error: Redis is gone
            self.channel = self.channel_receive()
            if message is not CLIENT:
                return message

    async def cancel(self) -> None:
        """What Channels does when a consumer ends: its pending receives are cancelled."""
        self.channel.cancel()
        if self.client is not None:
            self.client.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.client
