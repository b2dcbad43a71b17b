"""Locust user classes made from scenarios: FastHttpUser for HTTP, raw websocket-client for WS.

Importing this module imports Locust, which monkey-patches the interpreter with gevent.
"""

from __future__ import annotations

import json
import time

import gevent
import websocket
from locust import FastHttpUser, User, constant, constant_pacing, task

from loadtest.drivers import checks, ws_client
from loadtest.drivers.chat_room import ChatRoom
from loadtest.polling import poll_until
from loadtest.scenarios.catalog import Scenario, is_kind

RECEIVE_TIMEOUT_S = 1.0  # how long a receive may block before the user's loop comes round again
RECONNECT_PAUSE_S = 1.0  # after a failed handshake, so a refusing server is not hammered


class ScenarioHttpUser(FastHttpUser):
    """GETs one path in a closed loop and checks status, X-Served-By and (for SSE) the event count."""

    abstract = True
    wait_time = constant(0)
    path = "/"
    request_name = ""
    expected_server: str | None = None
    sse_events: int | None = None

    @task
    def get(self):
        with self.client.get(self.path, name=self.request_name, catch_response=True) as response:
            problem = self.check(response)
            if problem:
                response.failure(problem)
            else:
                response.success()

    def check(self, response) -> str | None:
        problem = checks.http_problem(response.status_code, response.headers.get("X-Served-By"),
                                      self.expected_server)
        if problem is None and self.sse_events is not None:
            problem = checks.sse_problem(response.text, self.sse_events)
        return problem


class WebSocketUser(User):
    """One raw WebSocket connection per user, (re)opened by its task loop."""

    abstract = True
    wait_time = constant(0)
    path = "/"
    request_name = ""
    expected_server: str | None = None

    def on_start(self):
        self.ws: websocket.WebSocket | None = None

    def on_stop(self):
        self.drop()

    def ensure_connected(self) -> bool:
        if self.ws is None:
            url = ws_client.to_ws_url(self.host, self.path)
            self.ws = ws_client.connect(self.environment.events, url, f"{self.request_name} connect")
            if self.ws is None:
                gevent.sleep(RECONNECT_PAUSE_S)
                return False
            self.on_connect()
        return True

    def on_connect(self):
        """Hook for subclasses that set things up once connected."""

    def drop(self):
        ws_client.close(self.ws)
        self.ws = None

    def fail(self, error: Exception, started: float):
        ws_client.report(
            self.environment.events, self.request_name, ws_client.elapsed_ms(started), exception=error
        )
        self.drop()


class EchoUser(WebSocketUser):
    """Sends a message carrying its send time and times the echo against it."""

    abstract = True
    payload_bytes = 64

    @task
    def round_trip(self):
        if not self.ensure_connected():
            return
        started = time.perf_counter()
        message = json.dumps({"t": started, "pad": "x" * self.payload_bytes})
        try:
            self.ws.send(message)
            echoed = ws_client.receive(self.ws)
        except (ws_client.Closed, OSError, websocket.WebSocketException) as error:
            self.fail(error, started)
            return
        problem = checks.echo_problem(message, echoed)
        if problem:
            self.fail(ValueError(problem), started)
            return
        elapsed = (time.perf_counter() - json.loads(echoed)["t"]) * 1000
        ws_client.report(self.environment.events, self.request_name, elapsed, len(echoed))


class ChatUser(WebSocketUser):
    """A chat room member: reports each broadcast's delivery latency; the first to join also sends."""

    abstract = True
    room: ChatRoom
    send_interval_s = 0.05
    fill_timeout_s = 10.0  # the sender waits this long at most for the room to fill

    def on_start(self):
        super().on_start()
        self.sender: gevent.Greenlet | None = None

    def on_connect(self):
        self.ws.settimeout(RECEIVE_TIMEOUT_S)
        if self.room.join() == 0:
            self.sender = gevent.spawn(self.send_loop)

    def drop(self):
        if self.ws is not None:
            self.room.leave()
        if self.sender is not None:
            self.sender.kill(block=False)
            self.sender = None
        super().drop()

    def members_wanted(self) -> int:
        """How many users of this class the runner is spawning (known once spawning is done)."""
        runner = self.environment.runner
        return runner.target_user_classes_count.get(type(self).__name__) or runner.target_user_count

    def send_loop(self):
        # The room fills while this greenlet waits; past the timeout it sends to whoever is there.
        poll_until(lambda: self.room.is_full(self.members_wanted()), self.fill_timeout_s, 0.1, gevent.sleep)
        while self.room.sending and self.ws is not None:
            message_id = self.room.next_message_id()
            body = {"message": message_id, "sent_at": time.time(), "id": f"sender-{id(self)}"}
            try:
                self.ws.send(json.dumps(body))
            except (OSError, websocket.WebSocketException):
                return  # the receive loop sees the broken connection and reports it
            self.room.record_sent(message_id)
            gevent.sleep(self.send_interval_s)

    @task
    def receive(self):
        if not self.ensure_connected():
            return
        started = time.perf_counter()
        try:
            data = ws_client.receive(self.ws)
        except websocket.WebSocketTimeoutException:
            return  # nothing sent in the last second; keep listening
        except (ws_client.Closed, OSError, websocket.WebSocketException) as error:
            self.fail(error, started)
            return
        event = json.loads(data)
        if event.get("type") == "error":
            self.fail(RuntimeError(f"server error: {event.get('error')}"), started)
            return
        if event.get("type") != "chat":
            return
        if self.expected_server and event.get("server") != self.expected_server:
            problem = RuntimeError(f"broadcast from {event.get('server')!r}")
            ws_client.report(self.environment.events, self.request_name, 0, exception=problem)
            return
        self.room.record_delivery(event["message"])
        latency_ms = (time.time() - event["sent_at"]) * 1000
        ws_client.report(self.environment.events, self.request_name, latency_ms, len(data))


class HandshakeUser(WebSocketUser):
    """Attempts the upgrade and records the answer; a WSGI server is expected to refuse it."""

    abstract = True
    wait_time = constant(0.2)

    @task
    def handshake(self):
        url = ws_client.to_ws_url(self.host, self.path)
        ws_client.close(ws_client.connect(self.environment.events, url, self.request_name))


BASES: dict[str, type[User]] = {
    "http": ScenarioHttpUser,
    "sse": ScenarioHttpUser,
    "ws_echo": EchoUser,
    "ws_chat": ChatUser,
    "ws_handshake": HandshakeUser,
}


def class_name(scenario: Scenario) -> str:
    return "".join(part.capitalize() for part in scenario.name.split("_")) + "User"


def user_class(scenario: Scenario, expected_server: str | None = None) -> type[User]:
    """The Locust user class that runs scenario; expected_server turns on the X-Served-By check."""
    if scenario.kind not in BASES:
        raise ValueError(f"scenario {scenario.name} ({scenario.kind}) is not run by Locust users")
    attributes = {
        "__module__": __name__,
        "path": scenario.path,
        "request_name": scenario.name,
        "expected_server": expected_server,
        "abstract": False,
        **scenario.params,
    }
    if is_kind(scenario, "sse"):
        attributes["sse_events"] = attributes.pop("events")
    if "pacing_s" in attributes:
        attributes["wait_time"] = constant_pacing(attributes.pop("pacing_s"))
    if is_kind(scenario, "ws_chat"):
        attributes["room"] = ChatRoom("locust")  # the UI's room; the bench's chat cell is drivers/wsload
        attributes["path"] = scenario.path.format(room=attributes["room"].name)
        attributes.pop("grace_s")
    return type(class_name(scenario), (BASES[scenario.kind],), attributes)
