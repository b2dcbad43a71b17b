"""The soak's Locust users: per server, a paced HTTP mix and, on ASGI servers, WebSocket sessions.

Importing this module imports Locust, which monkey-patches the interpreter with gevent.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid

from locust import FastHttpUser, constant_pacing, task

from loadtest.drivers import checks, ws_client

WS_ROUND_TRIPS = 5  # echo round trips per WebSocket session

HTTP_PATHS = (
    "/plaintext",
    "/json",
    "/db",
    "/queries?queries=5",
    "/fortunes",
    "/updates?queries=2",
    "/wait/sync?ms=10",
    "/wait/async?ms=10",
    "/db/async",
    "/sse/async?events=3&interval_ms=10",
)


class SoakUser(FastHttpUser):
    """One server's user: the HTTP mix in turn and, on ASGI servers, a WebSocket session every so often."""

    abstract = True
    server = ""
    websockets = False
    ws_every = 10  # every n-th step is a WebSocket session instead of a request

    def on_start(self):
        self.steps = itertools.count()
        self.paths = itertools.cycle(HTTP_PATHS)

    @task
    def step(self):
        number = next(self.steps)
        if self.websockets and number % self.ws_every == self.ws_every - 1:
            self.websocket_session(chat=number % (2 * self.ws_every) == 2 * self.ws_every - 1)
            return
        path = next(self.paths)
        name = f"{self.server} {path.split('?')[0]}"
        with self.client.get(path, name=name, catch_response=True) as response:
            served_by = response.headers.get("X-Served-By")
            problem = checks.http_problem(response.status_code, served_by, self.server)
            if problem:
                response.failure(problem)
            else:
                response.success()

    def websocket_session(self, chat: bool) -> None:
        """Connect, a few round trips (echo) or one broadcast to ourselves (chat), close."""
        events = self.environment.events
        path = f"/ws/chat/soak-{uuid.uuid4().hex[:8]}/" if chat else "/ws/echo/"
        name = f"{self.server} {'/ws/chat/' if chat else '/ws/echo/'}"
        ws = ws_client.connect(events, ws_client.to_ws_url(self.host, path), name)
        if ws is None:
            return
        try:
            for _ in range(1 if chat else WS_ROUND_TRIPS):
                started = time.perf_counter()
                message = json.dumps({"message": "soak", "sent_at": time.time(), "id": "soak"})
                ws.send(message)
                answer = ws_client.receive(ws)
                problem = None if chat else checks.echo_problem(message, answer)
                if problem:
                    raise ValueError(problem)
                if chat and json.loads(answer).get("type") != "chat":
                    raise ValueError(f"unexpected chat answer {answer[:80]!r}")
                ws_client.report(events, name, ws_client.elapsed_ms(started), len(answer))
        except Exception as error:  # every failure is counted, none stops the soak
            ws_client.report(events, name, 0, exception=error)
        finally:
            ws_client.close(ws)


def user_classes(servers, users: int, rate: float, ws_every: int) -> list[type]:
    pacing = users / rate  # seconds per step for each user, so the server sees `rate` steps per second
    return [
        type(
            f"Soak{index}User",
            (SoakUser,),
            {
                "__module__": __name__,
                "abstract": False,
                "host": f"http://127.0.0.1:{server.port}",
                "server": server.name,
                "websockets": server.protocol == "asgi",
                "ws_every": ws_every,
                "fixed_count": users,
                "wait_time": constant_pacing(pacing),
            },
        )
        for index, server in enumerate(servers)
    ]
