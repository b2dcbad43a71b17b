"""A consumer that closes because of the client's own frames reads the rest of them first
(realtime/closing.py), through the real ASGI application and the real Redis channel layer."""

import asyncio
import json
import time
import uuid

import pytest
from channels.testing import WebsocketCommunicator
from config.asgi import application
from realtime.closing import LINGER_SECONDS, QUIET_SECONDS

pytestmark = pytest.mark.usefixtures("stack")

ORIGIN = [(b"origin", b"http://127.0.0.1:8082")]


async def member() -> WebsocketCommunicator:
    room = f"/ws/chat/closing-{uuid.uuid4().hex[:12]}/"
    communicator = WebsocketCommunicator(application, room, headers=ORIGIN)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def until_closed(communicator: WebsocketCommunicator, timeout: float) -> dict:
    while (output := await communicator.receive_output(timeout=timeout))["type"] != "websocket.close":
        pass
    return output


@pytest.fixture
def small_burst(settings):
    settings.WS_CHAT_RATE, settings.WS_CHAT_BURST = 1, 5


@pytest.mark.usefixtures("small_burst")
async def test_the_rest_of_a_burst_is_read_before_the_close():
    """Everything the client had sent is read when the close goes out: a server that closes its
    socket at once (Granian) has nothing unread to answer with a TCP reset."""
    flooder = await member()
    for n in range(50):
        await flooder.send_to(text_data=json.dumps({"message": f"m{n}"}))
    closed = await until_closed(flooder, timeout=5)
    assert closed["code"] == 1008
    assert flooder.input_queue.empty(), f"{flooder.input_queue.qsize()} of the burst unread at the close"


@pytest.mark.usefixtures("small_burst")
async def test_a_client_that_never_pauses_is_closed_after_the_linger():
    flooder = await member()

    async def keep_sending():
        for n in range(10_000):
            await flooder.send_to(text_data=json.dumps({"message": f"m{n}"}))
            await asyncio.sleep(QUIET_SECONDS / 5)

    sending = asyncio.create_task(keep_sending())
    started = time.monotonic()
    try:
        closed = await until_closed(flooder, timeout=LINGER_SECONDS + 5)
    finally:
        sending.cancel()
    assert closed["code"] == 1008
    assert LINGER_SECONDS <= time.monotonic() - started < LINGER_SECONDS + 5


@pytest.mark.usefixtures("small_burst")
async def test_a_client_that_leaves_while_being_read_is_not_sent_a_close():
    flooder = await member()
    for n in range(10):
        await flooder.send_to(text_data=json.dumps({"message": f"m{n}"}))
    await flooder.send_input({"type": "websocket.disconnect", "code": 1001})
    await flooder.wait(timeout=5)  # the consumer ended
    outputs = []
    while not flooder.output_queue.empty():
        outputs.append(flooder.output_queue.get_nowait())
    assert [output for output in outputs if output["type"] == "websocket.close"] == []
