"""A reconnect storm on one ASGI process: after a deploy every client joins again at once.

One Uvicorn process (started here, beside the host run, on the host run's PostgreSQL and Redis),
1,000 chat clients joining one room with 200 handshakes in flight: every one gets in, and every
one hears the next broadcast. With redis-py's default pool (100 connections, then
MaxConnectionsError) joins past the hundredth in flight were closed with 1013.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import socket
import subprocess
import tempfile
import time

import httpx
import pytest
import websockets

from stack import local
from stack.servers import ROOT

pytestmark = pytest.mark.usefixtures("stack")

CLIENTS = 1_000
IN_FLIGHT = 200
# Generous: on a shared CI machine a join may wait seconds for the CPU; a failing pool fails at once.
HANDSHAKE_TIMEOUT_S = 60
BROADCAST_TIMEOUT_S = 30
STORM_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def one_uvicorn_process():
    """A single-process Uvicorn serving the app; its port, stopped (and waited for) at the end."""
    port = free_port()
    env = {**local.app_environment(), "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "1",
           "SERVED_BY": "storm", "LOG_LEVEL": "WARNING"}
    # A file, not a pipe: Uvicorn logs two lines per handshake, and a full pipe would stop it.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([str(ROOT / "uvicorn" / "start")], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            wait_healthy(port, process, log)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_healthy(port: int, process: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise AssertionError(f"the storm's Uvicorn exited: {log.read().decode()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        assert time.monotonic() < deadline, "the storm's Uvicorn did not answer /healthz within 30 s"
        time.sleep(0.2)


async def storm(port: int) -> tuple[list[str], int, dict[str, int]]:
    """Join CLIENTS members, IN_FLIGHT handshakes at a time, then broadcast once.

    Returns the failed joins, how many heard the broadcast, and how the rest ended.
    """
    url = f"ws://127.0.0.1:{port}/ws/chat/storm-{time.monotonic_ns()}/"
    gate = asyncio.Semaphore(IN_FLIGHT)
    members, failed = [], []

    async def join(number: int):
        async with gate:
            try:
                members.append(await websockets.connect(url, origin=f"http://127.0.0.1:{port}",
                                                        open_timeout=HANDSHAKE_TIMEOUT_S, max_queue=None))
            except (OSError, websockets.WebSocketException, TimeoutError) as error:
                failed.append(f"client {number}: {type(error).__name__}: {error}")

    try:
        await asyncio.gather(*(join(number) for number in range(CLIENTS)))
        if failed:
            return failed, 0, {}
        try:
            await members[0].send(json.dumps({"message": "after the storm", "id": "storm"}))
        except websockets.ConnectionClosed as closed:
            return [f"the sender was closed after joining: {closed}"], 0, {}
        outcomes: dict[str, int] = {}

        async def hear(member) -> bool:
            try:
                async with asyncio.timeout(BROADCAST_TIMEOUT_S):
                    while True:
                        frame = json.loads(await member.recv())
                        if frame.get("message") == "after the storm":
                            return True
            except websockets.ConnectionClosed as closed:
                outcome = f"closed {closed.rcvd.code if closed.rcvd else None}"
            except TimeoutError:
                outcome = "nothing heard"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            return False

        heard = sum(await asyncio.gather(*(hear(member) for member in members)))
        return failed, heard, outcomes
    finally:
        await asyncio.gather(*(member.close() for member in members), return_exceptions=True)


@pytest.mark.timeout(STORM_TIMEOUT_S + 60)
def test_a_thousand_clients_joining_one_process_at_once_all_get_in_and_hear_the_room():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * CLIENTS + 512  # the clients here and the server's end of each, plus the rest
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))
    with one_uvicorn_process() as port:
        started = time.monotonic()
        failed, heard, outcomes = asyncio.run(asyncio.wait_for(storm(port), STORM_TIMEOUT_S))
        elapsed = time.monotonic() - started
    print(f"\njoin storm: {CLIENTS} clients, {IN_FLIGHT} handshakes in flight, {len(failed)} failed joins, "
          f"{heard} heard the broadcast, others {outcomes}, {elapsed:.1f} s")
    assert not failed, f"{len(failed)} of {CLIENTS} joins failed, e.g. {failed[:3]}"
    assert heard == CLIENTS, f"{CLIENTS - heard} members did not hear the broadcast: {outcomes}"
