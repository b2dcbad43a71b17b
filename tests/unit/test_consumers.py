"""The WebSocket consumers through the real ASGI application and the real Redis channel layer."""

import json
import uuid

import pytest
from channels.testing import WebsocketCommunicator
from config.asgi import application

pytestmark = pytest.mark.usefixtures("stack")

ORIGIN = [(b"origin", b"http://127.0.0.1:8082")]


async def connect(path: str, headers=ORIGIN) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def test_echo_returns_text_and_binary_frames_verbatim():
    echo = await connect("/ws/echo/")
    message = json.dumps({"sent_at": 1234.5, "payload": "hi"})
    await echo.send_to(text_data=message)
    assert await echo.receive_from(timeout=5) == message
    await echo.send_to(bytes_data=b"\x00\xffbinary")
    response = await echo.receive_output(timeout=5)
    assert response["bytes"] == b"\x00\xffbinary"
    await echo.disconnect()


async def test_oversized_message_closes_with_1009(settings):
    settings.WS_MAX_MESSAGE_BYTES = 1000
    echo = await connect("/ws/echo/")
    await echo.send_to(text_data="x" * 1001)
    closed = await echo.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 1009, "reason": "message over 1000 bytes"}


async def test_foreign_origin_is_refused():
    foreign = [(b"origin", b"http://evil.example")]
    communicator = WebsocketCommunicator(application, "/ws/echo/", headers=foreign)
    connected, _ = await communicator.connect(timeout=5)
    assert not connected


async def test_missing_origin_is_refused():
    communicator = WebsocketCommunicator(application, "/ws/echo/")
    connected, _ = await communicator.connect(timeout=5)
    assert not connected


async def test_unknown_path_is_refused_without_a_crash():
    communicator = WebsocketCommunicator(application, "/ws/nothing-here/", headers=ORIGIN)
    connected, _ = await communicator.connect(timeout=5)
    assert not connected


async def test_chat_broadcasts_to_every_member_through_redis():
    room = f"/ws/chat/unit-{uuid.uuid4().hex[:12]}/"
    alice, bob = await connect(room), await connect(room)
    await alice.send_to(text_data=json.dumps({"message": "hello", "sent_at": 1.5, "id": "alice"}))
    for member in (alice, bob):
        event = json.loads(await member.receive_from(timeout=5))
        assert event.pop("server")
        assert event == {"type": "chat", "message": "hello", "sent_at": 1.5, "id": "alice"}
    await alice.disconnect()
    await bob.disconnect()


@pytest.mark.parametrize(
    ("frame", "error"),
    [("{not json", "Expecting property name"), ("[1, 2]", "JSON object"), ('{"message": ""}', "non-empty"),
     ('{"message": "x", "sent_at": "yesterday"}', "sent_at"), ('{"message": "x", "id": [1]}', '"id"')],
)
async def test_malformed_chat_messages_get_an_error_frame_and_the_socket_lives(frame, error):
    chat = await connect(f"/ws/chat/unit-{uuid.uuid4().hex[:12]}/")
    await chat.send_to(text_data=frame)
    reply = json.loads(await chat.receive_from(timeout=5))
    assert reply["type"] == "error"
    assert error in reply["error"]
    await chat.send_to(text_data=json.dumps({"message": "still here"}))
    assert json.loads(await chat.receive_from(timeout=5))["message"] == "still here"
    await chat.disconnect()


async def test_a_member_sending_faster_than_the_rate_is_closed_with_1008(settings):
    settings.WS_CHAT_RATE, settings.WS_CHAT_BURST = 1, 5
    room = f"/ws/chat/unit-{uuid.uuid4().hex[:12]}/"
    flooder, listener = await connect(room), await connect(room)
    for n in range(6):
        await flooder.send_to(text_data=json.dumps({"message": f"m{n}"}))
    received = [json.loads(await listener.receive_from(timeout=5))["message"] for _ in range(5)]
    assert received == [f"m{n}" for n in range(5)]  # the burst went through, in order
    # The flooder gets the close, after whichever of its own five came back before it.
    outputs = [await flooder.receive_output(timeout=5)]
    while outputs[-1]["type"] != "websocket.close":
        outputs.append(await flooder.receive_output(timeout=5))
    assert outputs[-1]["code"] == 1008 and len(outputs) <= 6, outputs
    assert await flooder.receive_nothing(timeout=0.5)
    assert await listener.receive_nothing(timeout=0.5)  # the sixth was never broadcast
    await listener.disconnect()


async def test_binary_chat_frame_closes_with_1003():
    chat = await connect(f"/ws/chat/unit-{uuid.uuid4().hex[:12]}/")
    await chat.send_to(bytes_data=b"\x01\x02")
    closed = await chat.receive_output(timeout=5)
    assert closed["type"] == "websocket.close" and closed["code"] == 1003


async def test_after_its_close_a_member_is_sent_nothing_more():
    """Frames in flight and room messages keep arriving until the client's close: a send after
    the server's close is an error on every server, so none may go out."""
    room = f"/ws/chat/unit-{uuid.uuid4().hex[:12]}/"
    closed, other = await connect(room), await connect(room)
    await closed.send_to(bytes_data=b"\x01")
    assert (await closed.receive_output(timeout=5))["code"] == 1003
    await closed.send_to(bytes_data=b"\x02")
    await closed.send_to(text_data=json.dumps({"message": "after my close"}))
    await other.send_to(text_data=json.dumps({"message": "to the room"}))
    assert json.loads(await other.receive_from(timeout=5))["message"] == "to the room"
    assert await closed.receive_nothing(timeout=0.5)
    await other.disconnect()


@pytest.mark.parametrize("room", ["a" * 65, "sp ace", "d%C3%A9j%C3%A0", "..", "semi;colon"])
async def test_invalid_room_names_close_with_1008(room):
    chat = await connect(f"/ws/chat/{room}/")
    closed = await chat.receive_output(timeout=5)
    assert closed["type"] == "websocket.close" and closed["code"] == 1008
