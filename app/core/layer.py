"""The channel layer: channels-redis's Redis layer, with rooms fanned out per process.

channels-redis keeps every member's channel in the group's sorted set, so each `group_send`
reads the whole room back from Redis (ZRANGE) and writes all its channel names into the message
for each process: O(members) Redis work per broadcast, however many share a process. Here the
group holds each process's inbox (the prefix all its channels share) and the process keeps the
room's members in memory: a broadcast is one ZRANGE of a few inboxes and one write per process;
the process that pops it hands the one message to each member's queue. Everything else is
channels-redis as shipped: the same Redis keys, the capacity per channel, the expiry, the retries.

channels-redis also receives with two new tasks per waiting member per message (its receive
lock and its buffer), all of them woken and cancelled again for every broadcast: most of a
broadcast's cost in a process with a thousand members. Here one reader per process pops the inbox
and hands each message to its members' mailboxes. A receive is a future, not a coroutine: the
reader completes it with the message itself, where a coroutine costs a task (Channels wraps every
receive in one, channels/utils.py `await_many_dispatch`), two steps of it and one more wake-up per
member per message. A mailbox holds at most `capacity` messages, like channels-redis's buffer: a
member that stops reading has its oldest messages dropped, never an unbounded queue. If Redis
fails, every waiting member's receive raises the error (the chat closes with 1013), and the next
receive starts a new reader. One receiver per channel (Channels' consumers), and handlers must not
change an event in place: the members of a room share it.

redis-py's asyncio pool (redis-py 8) fails a command with MaxConnectionsError once 100
connections are in use, its default, and channels-redis builds its pool with that default: a
burst of joins (every client reconnecting after a deploy) got 1013s. This layer's pool is
bounded and blocking instead (`max_connections`, `pool_timeout` in settings.CHANNEL_LAYERS): a
burst waits a moment for a connection, and an outage still fails within `pool_timeout`.
"""

import asyncio
import collections

from channels_redis.core import ChannelLock, RedisChannelLayer
from redis.asyncio import BlockingConnectionPool

GROUP = "__room__"


class Mailbox:
    """A channel's messages, at most `capacity` (the oldest dropped), and its receiver's future."""

    __slots__ = ("messages", "waiter")

    def __init__(self, capacity: int):
        self.messages = collections.deque(maxlen=capacity)
        self.waiter: asyncio.Future | None = None

    def put(self, message: dict) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(message)
        else:
            self.messages.append(message)

    def fail(self, error: BaseException) -> bool:
        """Raise `error` in the waiting receive; False when no receive was waiting."""
        waiter, self.waiter = self.waiter, None
        if waiter is None or waiter.done():
            return False
        waiter.set_exception(error)
        return True

    def get(self, receipt: asyncio.Future) -> asyncio.Future:
        if self.messages:
            receipt.set_result(self.messages.popleft())
        else:
            self.waiter = receipt
        return receipt


class Receipt(asyncio.Future):
    """A pending receive. Cancelled when its consumer ends (Channels cancels whatever receive it
    still has out): then no one receives on the channel here any more."""

    def __init__(self, layer: "RoomChannelLayer", channel: str, loop: asyncio.AbstractEventLoop):
        super().__init__(loop=loop)
        self.layer, self.channel = layer, channel

    def cancel(self, msg=None) -> bool:
        self.layer.receiver_gone(self.channel)
        return super().cancel(msg)


class RoomChannelLayer(RedisChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # group -> this process's member channels, in joining order (a dict used as a set)
        self.local_groups: dict[str, dict[str, None]] = {}
        self.mailboxes: dict[str, Mailbox] = {}
        self.reader: asyncio.Task | None = None
        self.reader_loop: asyncio.AbstractEventLoop | None = None

    def create_pool(self, index):
        host = dict(self.hosts[index])
        host["timeout"] = host.pop("pool_timeout", 5)
        return BlockingConnectionPool.from_url(host.pop("address"), **host)

    def inbox(self, channel: str) -> str | None:
        """The process's inbox for one of its own channels (None for a channel of no process)."""
        return self.non_local_name(channel) if "!" in channel else None

    async def group_add(self, group, channel):
        inbox = self.inbox(channel)
        if inbox is None:
            return await super().group_add(group, channel)
        self.local_groups.setdefault(group, {})[channel] = None
        self.mailbox(channel)  # room messages wait for it even before its first receive
        try:
            # Every join refreshes the inbox's entry, so it expires only when no one joins.
            await super().group_add(group, inbox)
        except BaseException:
            self.forget(group, channel)
            raise

    async def group_discard(self, group, channel):
        inbox = self.inbox(channel)
        if inbox is None:
            return await super().group_discard(group, channel)
        if not self.forget(group, channel):
            return
        await super().group_discard(group, inbox)
        if group in self.local_groups:
            # Someone joined while the inbox was being removed: its join may have landed first.
            await super().group_add(group, inbox)

    def forget(self, group: str, channel: str) -> bool:
        """Drop a local member; True when it was the group's last one here."""
        members = self.local_groups.get(group, {})
        if members.pop(channel, False) is False:
            return False
        if members:
            return False
        del self.local_groups[group]
        return True

    async def group_send(self, group, message):
        await super().group_send(group, {**message, GROUP: group})

    def mailbox(self, channel: str) -> Mailbox:
        mailbox = self.mailboxes.get(channel)
        if mailbox is None:
            mailbox = self.mailboxes[channel] = Mailbox(self.get_capacity(channel))
        return mailbox

    def receive(self, channel):
        """The channel's next message: a future (a coroutine for a channel of no process)."""
        inbox = self.inbox(channel)
        if inbox is None:
            return super().receive(channel)
        assert inbox.endswith(self.client_prefix + "!"), "Wrong client prefix"
        loop = asyncio.get_running_loop()
        if loop is not self.reader_loop:
            # channels-redis's per-channel receive lock binds to the event loop it was first
            # waited on in, and can stay held after that loop ends: by a reader left pending, or
            # by one cancelled while it waited for the lock (channels_redis.core.receive_single
            # counts the wait before its try). A server process has one loop; each test has its own.
            self.receive_clean_locks = ChannelLock()
            self.reader, self.reader_loop = None, loop
        if self.reader is None or self.reader.done():
            self.reader = loop.create_task(self.read(inbox))
        return self.mailbox(channel).get(Receipt(self, channel, loop))

    def receiver_gone(self, channel: str) -> None:
        self.mailboxes.pop(channel, None)
        if not self.mailboxes and self.reader is not None:
            self.reader.cancel()
            self.reader = None

    async def read(self, inbox: str) -> None:
        """This process's one reader: pops the inbox and hands each message to its channels."""
        try:
            while True:
                target, message = await self.receive_single(inbox)
                for channel in target if isinstance(target, list) else [target]:
                    self.mailbox(channel).put(message)
        except Exception as error:
            # Failed receives end their consumers (the chat closes with 1013): no one waits there.
            for channel, mailbox in list(self.mailboxes.items()):
                if mailbox.fail(error):
                    del self.mailboxes[channel]

    async def receive_single(self, channel):
        target, message = await super().receive_single(channel)
        group = message.pop(GROUP, None)
        if group is None or "!" not in channel:
            return target, message
        # The process's copy of a room message: every local member of the room gets it.
        return list(self.local_groups.get(group, ())), message
