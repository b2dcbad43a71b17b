"""Channels' per-message database hop: skipped under ASGI_TUNING, back with ASGI_TUNING=0.

Channels >= 4.2 awaits `aclose_old_connections()` (a sync_to_async call) before every handler;
the consumers skip it when tuned (realtime.consumers.LimitedConsumer.dispatch). The hop is
counted where Channels' dispatch looks it up, and still runs: the real consumers, the real
application, the real Redis layer.
"""

import json
import uuid

import channels.consumer
import pytest
from channels.testing import WebsocketCommunicator
from config.asgi import application

pytestmark = pytest.mark.usefixtures("stack")

ORIGIN = [(b"origin", b"http://127.0.0.1:8082")]
MESSAGES = 5


@pytest.fixture
def hops(monkeypatch) -> list[None]:
    """One entry per `aclose_old_connections()` Channels' dispatch awaits."""
    counted: list[None] = []
    real = channels.consumer.aclose_old_connections

    async def counting():
        counted.append(None)
        return await real()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counting)
    return counted


async def exchange(path: str, message: str) -> None:
    """Connect, send MESSAGES messages and read each answer, disconnect."""
    communicator = WebsocketCommunicator(application, path, headers=ORIGIN)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    for _ in range(MESSAGES):
        await communicator.send_to(text_data=message)
        await communicator.receive_from(timeout=5)
    await communicator.disconnect()


PATHS = {
    "echo": ("/ws/echo/", "ping"),
    "chat": (f"/ws/chat/hop-{uuid.uuid4().hex[:8]}/", json.dumps({"message": "hi"})),
}


@pytest.mark.parametrize("consumer", PATHS)
async def test_tuned_consumers_make_no_database_hop(consumer, hops, settings):
    settings.ASGI_TUNING = True
    await exchange(*PATHS[consumer])
    assert hops == [], f"{len(hops)} database hops for {MESSAGES} messages"


@pytest.mark.parametrize("consumer", PATHS)
async def test_stock_consumers_hop_to_the_database_per_message(consumer, hops, settings):
    settings.ASGI_TUNING = False
    await exchange(*PATHS[consumer])
    # Every client message, plus the connect (and for the chat each room event).
    assert len(hops) > MESSAGES, f"{len(hops)} database hops for {MESSAGES} messages"
