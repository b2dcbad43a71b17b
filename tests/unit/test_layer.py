"""The chat's channel layer (core/layer.py) on the real Redis: what a receive is and how it ends."""

import asyncio
import uuid

import pytest
from channels.layers import get_channel_layer
from core.layer import Mailbox
from django.conf import settings

pytestmark = pytest.mark.usefixtures("stack")


async def members(layer, count: int) -> tuple[str, list[str]]:
    group = f"chat.layer-{uuid.uuid4().hex[:8]}"
    channels = [await layer.new_channel() for _ in range(count)]
    for channel in channels:
        await layer.group_add(group, channel)
    return group, channels


async def leave(layer, group: str, channels: list[str]) -> None:
    """What a consumer does when it ends: Channels cancels its pending receive, then it discards."""
    for channel in channels:
        layer.receive(channel).cancel()
        await layer.group_discard(group, channel)
    assert layer.reader is None


async def test_a_receive_is_a_future_the_broadcast_completes():
    layer = get_channel_layer()
    group, channels = await members(layer, 3)
    receipts = [layer.receive(channel) for channel in channels]
    # A future, not a coroutine: Channels would wrap a coroutine in a task per message.
    assert all(isinstance(receipt, asyncio.Future) for receipt in receipts)
    await layer.group_send(group, {"type": "chat.message", "text": "hi"})
    delivered = await asyncio.wait_for(asyncio.gather(*receipts), 5)
    assert [message["text"] for message in delivered] == ["hi"] * 3
    await leave(layer, group, channels)


async def test_messages_wait_in_the_mailbox_until_the_next_receive():
    layer = get_channel_layer()
    group, [channel] = await members(layer, 1)
    first = layer.receive(channel)
    for number in range(3):
        await layer.group_send(group, {"type": "chat.message", "text": str(number)})
    assert (await asyncio.wait_for(first, 5))["text"] == "0"
    for expected in ("1", "2"):
        later = layer.receive(channel)
        assert (await asyncio.wait_for(later, 5))["text"] == expected
    await leave(layer, group, [channel])


async def test_a_cancelled_receive_forgets_its_mailbox_and_the_last_one_stops_the_reader():
    """Channels cancels a consumer's pending receive when the consumer ends: nothing may stay
    behind for a channel no one receives on, and no reader keeps polling Redis for no one."""
    layer = get_channel_layer()
    group, channels = await members(layer, 2)
    receipts = [layer.receive(channel) for channel in channels]
    reader = layer.reader
    await asyncio.sleep(0.5)  # the reader is waiting in Redis now (BZPOPMIN)
    assert reader is not None and not reader.done()
    receipts[0].cancel()
    assert channels[0] not in layer.mailboxes and channels[1] in layer.mailboxes
    assert not reader.done()
    receipts[1].cancel()
    assert not layer.mailboxes and layer.reader is None
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(reader, 5)
    for channel in channels:
        await layer.group_discard(group, channel)


def test_a_mailbox_keeps_the_newest_capacity_messages():
    mailbox = Mailbox(capacity=3)
    for number in range(5):
        mailbox.put({"n": number})
    loop = asyncio.new_event_loop()
    try:
        received = [mailbox.get(loop.create_future()).result()["n"] for _ in range(3)]
        assert received == [2, 3, 4]
        assert not mailbox.get(loop.create_future()).done()
    finally:
        loop.close()


async def test_a_member_that_does_not_receive_loses_its_oldest_messages_at_the_capacity():
    """A slow member's backlog lives in this process's memory, not in Redis: it must stay within
    the channel layer's capacity (CHANNEL_LAYER_CAPACITY) while a reading member gets everything."""
    layer = get_channel_layer()
    capacity = settings.CHANNEL_LAYERS["default"]["CONFIG"]["capacity"]
    group, [reader, lagging] = await members(layer, 2)
    sent = capacity + 10

    async def read_all():
        numbers = []
        while len(numbers) < sent:
            numbers.append((await layer.receive(reader))["n"])
        return numbers

    reading = asyncio.create_task(read_all())
    for number in range(sent):
        await layer.group_send(group, {"type": "chat.message", "n": number})
    assert await asyncio.wait_for(reading, 30) == list(range(sent))
    assert len(layer.mailboxes[lagging].messages) == capacity
    later = [(await asyncio.wait_for(layer.receive(lagging), 5))["n"] for _ in range(capacity)]
    assert later == list(range(sent - capacity, sent))
    await leave(layer, group, [reader, lagging])
