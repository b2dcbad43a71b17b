"""WebSocket consumers: an echo for round-trip timing and a chat room that spans servers.

Close codes a client can act on:
    1003  the frame type is not accepted here (binary frames in the chat)
    1008  the request breaks a rule (an invalid room name, chat messages faster than WS_CHAT_RATE)
    1009  the message is larger than WS_MAX_MESSAGE_BYTES
    1013  try again later: the channel layer (Redis) is unreachable

Daphne (through autobahn) refuses to send any close code but 1000 and 3000-4999: there the same
meaning goes out as 4000 + (code - 1000), that is 4003, 4008, 4009 and 4013.
"""

import contextlib
import functools
import json
import re
import time

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from core.layer import RoomChannelLayer
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import RedisError

from .closing import read_until_quiet
from .dispatch import dispatch_forever

ROOM_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def served_by_headers() -> list[tuple[bytes, bytes]]:
    return [(b"x-served-by", settings.SERVED_BY.encode())]


def message_size(text_data: str | None, bytes_data: bytes | None) -> int:
    return len(text_data.encode()) if text_data is not None else len(bytes_data or b"")


def private_close_code(code: int) -> int:
    """The private-use (4000-4999) mirror of a standard close code, for servers that refuse it."""
    return 4000 + code - 1000


class TokenBucket:
    """At most `rate` takes a second on average and `burst` at once."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self.tokens, self.updated = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class LimitedConsumer(AsyncWebsocketConsumer):
    """Closes with 1009 on a message over the size limit, before any work is done with it.

    Once it has closed a socket, it sends nothing more: frames the client had in flight and
    messages for the room still arrive until the client's close does, and a send after a close
    is an error on every server.
    """

    closing = False

    async def __call__(self, scope, receive, send):
        """Channels' `AsyncConsumer.__call__`, with the loop of realtime.dispatch (ASGI_TUNING)."""
        self.client_receive = receive  # for close_when_quiet
        if not settings.ASGI_TUNING:
            return await super().__call__(scope, receive, send)
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        channel_receive = None
        if self.channel_layer is not None:
            if not isinstance(self.channel_layer, RoomChannelLayer):
                raise ImproperlyConfigured("ASGI_TUNING's consumers need core.layer.RoomChannelLayer")
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = channel_receive = functools.partial(self.channel_layer.receive,
                                                                       self.channel_name)
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            await dispatch_forever(receive, channel_receive, self.dispatch_directly)

    async def dispatch_directly(self, message):
        """Channels' dispatch, without its database hop: these consumers never use the database.

        Channels >= 4.2 awaits `aclose_old_connections()` before every handler
        (https://github.com/django/channels/pull/2090): a `sync_to_async` call per message per
        member, all on asgiref's one process-wide thread, since a WebSocket has no request thread.
        A broadcast to N members became N serialized thread hops. A consumer that uses the ORM
        must keep it (or wrap its queries in `channels.db.database_sync_to_async`).
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def close(self, code=None, reason=None):
        self.closing = True
        try:
            await super().close(code=code, reason=reason)
        except Exception as error:
            # autobahn (Daphne) raises a plain Exception for a close code it will not send.
            if not (isinstance(code, int) and 1000 < code < 2000 and "invalid close code" in str(error)):
                raise
            await super().close(code=private_close_code(code), reason=reason)

    async def close_when_quiet(self, code: int, reason: str) -> None:
        """Close in answer to the client's own frames, once it has stopped sending them
        (realtime/closing.py: Granian's close is lost to a TCP reset otherwise).

        Called from a handler of a client frame: no receive of the client's is waiting then, in
        Channels' loop or in realtime.dispatch's, so this one can read.
        """
        self.closing = True
        left = await read_until_quiet(self.client_receive)
        if left is not None:
            await self.websocket_disconnect(left)  # raises StopConsumer: no one to tell
        await self.close(code=code, reason=reason)

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing:
            return
        if message_size(text_data, bytes_data) > settings.WS_MAX_MESSAGE_BYTES:
            await self.close_when_quiet(1009, f"message over {settings.WS_MAX_MESSAGE_BYTES} bytes")
            return
        await self.handle(text_data, bytes_data)

    async def handle(self, text_data, bytes_data):
        raise NotImplementedError


class EchoConsumer(LimitedConsumer):
    """Sends every frame back as it came, text or binary, so a client can time the round trip."""

    # The echo never uses the channel layer; without this, every socket would hold a Redis poll.
    channel_layer_alias = None

    async def connect(self):
        await self.accept(headers=served_by_headers())

    async def handle(self, text_data, bytes_data):
        await self.send(text_data=text_data, bytes_data=bytes_data)


class ChatConsumer(LimitedConsumer):
    """A room: each JSON message goes to every member, on whichever server they are connected."""

    group = None
    client_gone = False

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except (RedisError, OSError):
            # Once the client has left, or been sent its close, there is no one left to tell.
            if self.client_gone or self.closing:
                return
            # Redis went away under a live socket: say so, instead of an abrupt 1011.
            await self.close(code=1013, reason="channel layer unavailable")

    async def websocket_disconnect(self, message):
        self.client_gone = True
        await super().websocket_disconnect(message)

    async def connect(self):
        room = self.scope["url_route"]["kwargs"]["room"]
        if not ROOM_NAME.fullmatch(room):
            await self.accept(headers=served_by_headers())
            await self.close(code=1008, reason="room names are 1-64 letters, digits, '-' or '_'")
            return
        self.group = f"chat.{room}"
        self.allowance = TokenBucket(settings.WS_CHAT_RATE, settings.WS_CHAT_BURST)
        # Join before accepting: a client that sees its handshake complete is in the room, so a
        # message sent right after it connects reaches it.
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
        except (RedisError, OSError):
            await self.accept(headers=served_by_headers())
            raise  # __call__ closes the accepted socket with 1013
        await self.accept(headers=served_by_headers())

    async def disconnect(self, code):
        if self.group:
            # If Redis is gone, the group entry expires there on its own.
            with contextlib.suppress(RedisError, OSError):
                await self.channel_layer.group_discard(self.group, self.channel_name)

    async def handle(self, text_data, bytes_data):
        if text_data is None:
            await self.close_when_quiet(1003, "the chat takes text frames of JSON")
            return
        if not self.allowance.take():
            await self.close_when_quiet(1008, f"over {settings.WS_CHAT_RATE:g} messages a second")
            return
        try:
            event = chat_event(json.loads(text_data))
        except ValueError as error:
            await self.send(text_data=json.dumps({"type": "error", "error": str(error)}))
            return
        await self.channel_layer.group_send(self.group, event)

    async def chat_message(self, event):
        if self.closing:
            return
        # The frame was serialized once, by the sender, for every member (chat_event).
        await self.send(text_data=event["text"])


def chat_event(data) -> dict:
    """A client's chat message, validated, as the room's event: its outbound frame, ready to send.

    A ValueError's text goes back to the client.
    """
    if not isinstance(data, dict):
        raise ValueError('send a JSON object: {"message": "...", "sent_at": <epoch seconds>}')
    message, sent_at, client_id = data.get("message"), data.get("sent_at"), data.get("id")
    if not isinstance(message, str) or not message:
        raise ValueError('"message" must be a non-empty string')
    if sent_at is not None and (isinstance(sent_at, bool) or not isinstance(sent_at, int | float)):
        raise ValueError('"sent_at" must be a number (epoch seconds) when given')
    if client_id is not None and not isinstance(client_id, str | int):
        raise ValueError('"id" must be a string or a number when given')
    frame = {"type": "chat", "message": message, "sent_at": sent_at, "id": client_id,
             "server": settings.SERVED_BY}
    return {"type": "chat.message", "text": json.dumps(frame)}
