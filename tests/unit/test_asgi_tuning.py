"""The ASGI tuning's parts (settings.ASGI_TUNING): the inline middleware adapter, the executor
pool, and requests through the pooled handler on the real PostgreSQL test database."""

import asyncio
import json
import os
import subprocess
import sys
import threading
import time

import pytest
from channels.testing import HttpCommunicator
from config import middleware as inline_middleware
from config.threads import ExecutorPool, PooledASGIHandler
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.http import HttpResponse, JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.test import RequestFactory
from django.urls import path

from stack.servers import ROOT


@pytest.mark.parametrize("io_middleware", [SessionMiddleware, AuthenticationMiddleware, MessageMiddleware])
def test_middleware_that_does_io_is_never_inlined(io_middleware):
    with pytest.raises(ImproperlyConfigured, match="not reviewed as I/O-free"):
        inline_middleware.inline(io_middleware)


def test_a_subclass_of_a_reviewed_middleware_is_not_reviewed_with_it():
    class WithLookups(XFrameOptionsMiddleware):
        pass

    with pytest.raises(ImproperlyConfigured):
        inline_middleware.inline(WithLookups)


def test_the_admins_middleware_keeps_its_hop():
    """With the admin on, sessions, auth and messages are Django's own, not inlined copies."""
    code = "import json; from config import settings; print(json.dumps(settings.MIDDLEWARE))"
    env = {**os.environ, "ADMIN_ENABLED": "1", "DEBUG": "1", "ASGI_TUNING": "1"}
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "app", env=env, check=True,
                            capture_output=True, text=True).stdout
    stack = json.loads(output)
    for io_middleware in ("django.contrib.sessions.middleware.SessionMiddleware",
                          "django.contrib.auth.middleware.AuthenticationMiddleware",
                          "django.contrib.messages.middleware.MessageMiddleware"):
        assert io_middleware in stack
    inlined = [entry for entry in stack if entry.startswith("config.middleware.")]
    assert len(inlined) == 4, stack


def csrf_hook_threads(monkeypatch, method: str):
    """A request through an inlined CSRF middleware whose hooks note the thread they ran on."""
    ran_on = []

    class Noting(CsrfViewMiddleware):
        def process_request(self, request):
            ran_on.append(("request", threading.get_ident()))
            return super().process_request(request)

        def process_view(self, request, view, args, kwargs):
            ran_on.append(("view", threading.get_ident()))
            return super().process_view(request, view, args, kwargs)

        def process_response(self, request, response):
            ran_on.append(("response", threading.get_ident()))
            return super().process_response(request, response)

    monkeypatch.setattr(inline_middleware, "REVIEWED_IO_FREE", {*inline_middleware.REVIEWED_IO_FREE, Noting})
    inlined = inline_middleware.inline(Noting, inline_middleware.csrf_hooks_inline)

    async def view_response(request):
        response = await inlined_view_hook(request, lambda request: None, (), {})
        return response or HttpResponse(b"ok")

    instance = inlined(view_response)
    inlined_view_hook = instance.process_view

    async def call():
        request = getattr(RequestFactory(), method)("/plaintext")
        await instance(request)
        return threading.get_ident()

    loop_thread = asyncio.run(call())
    return loop_thread, ran_on


def test_inlined_hooks_run_on_the_event_loop(monkeypatch):
    loop_thread, ran_on = csrf_hook_threads(monkeypatch, "get")
    assert [hook for hook, _ in ran_on] == ["request", "view", "response"]
    assert {thread for _, thread in ran_on} == {loop_thread}


def test_csrf_hooks_keep_their_hop_for_a_request_with_a_body(monkeypatch):
    """An unsafe method makes CSRF parse the body (perhaps spooled to disk): off the event loop."""
    loop_thread, ran_on = csrf_hook_threads(monkeypatch, "post")
    assert ran_on and loop_thread not in {thread for _, thread in ran_on}


async def test_the_pool_never_lends_more_than_its_size_and_waiters_get_released_executors():
    pool = ExecutorPool(2)
    first, second = await pool.checkout(), await pool.checkout()
    third = asyncio.ensure_future(pool.checkout())
    cancelled = asyncio.ensure_future(pool.checkout())
    await asyncio.sleep(0.01)
    assert not third.done() and pool.lent == 2
    cancelled.cancel()
    pool.release(first)
    assert await third is first
    pool.release(second)
    pool.release(first)
    assert pool.lent == 0  # the cancelled waiter took none with it


async def test_a_waiter_cancelled_just_as_it_is_handed_an_executor_passes_it_on():
    pool = ExecutorPool(1)
    held = await pool.checkout()
    waiter = asyncio.ensure_future(pool.checkout())
    await asyncio.sleep(0.01)
    pool.release(held)  # handed to the waiter, which is cancelled before it runs
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert pool.lent == 0


POOL_THREADS = 4
# Each request waits here until POOL_THREADS requests hold a thread, a connection and a
# transaction at once: the requests overlap for certain, and a pool that serves them one at a
# time (or on fewer threads) breaks the barrier instead of passing unchecked.
TOGETHER = threading.Barrier(POOL_THREADS, timeout=15)


def probe(request):
    """Which thread, database session and transaction served this request, and while when it held
    them for sure (from its first query until its transaction ends)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), txid_current()")
        backend, txid = cursor.fetchone()
        started = time.monotonic()
        TOGETHER.wait()
        ended = time.monotonic()
    return JsonResponse({"thread": threading.get_ident(), "backend": backend, "txid": txid,
                         "started": started, "ended": ended})


urlpatterns = [path("probe", probe)]


@pytest.mark.django_db
async def test_concurrent_requests_never_share_a_thread_a_connection_or_a_transaction(settings):
    settings.ROOT_URLCONF = __name__
    pool = ExecutorPool(POOL_THREADS)
    handler = PooledASGIHandler(pool)

    async def get():
        communicator = HttpCommunicator(handler, "GET", "/probe", headers=[(b"host", b"127.0.0.1")])
        response = await communicator.get_response(timeout=30)
        await communicator.wait(timeout=30)  # the handler is done: the response closed, the thread back
        assert response["status"] == 200, response
        return json.loads(response["body"])

    served = await asyncio.gather(*(get() for _ in range(4 * POOL_THREADS)))
    assert len({request["thread"] for request in served}) == POOL_THREADS  # the pool's threads, reused
    for one in served:
        overlapping = [other for other in served if other is not one
                       and one["started"] < other["ended"] and other["started"] < one["ended"]]
        # The barrier let it go with POOL_THREADS - 1 others, each on its own thread, session, transaction.
        assert len(overlapping) >= POOL_THREADS - 1, (one, overlapping)
        for other in overlapping:
            assert one["thread"] != other["thread"], (one, other)
            assert one["backend"] != other["backend"], (one, other)
            assert one["txid"] != other["txid"], (one, other)
    assert pool.lent == 0
    # Each request gave its connection back to the psycopg pool when it finished.
    for executor in list(pool._free):
        assert await asyncio.wrap_future(executor.submit(lambda: connection.connection)) is None


def test_the_deploy_check_still_demands_the_protective_middleware(settings):
    """Django's W001-W003 are silenced for the inlined classes; config.W001 takes their place."""
    from config.checks import protective_middleware_present

    assert protective_middleware_present(None) == []
    settings.MIDDLEWARE = [entry for entry in settings.MIDDLEWARE if "Security" not in entry]
    (warning,) = protective_middleware_present(None)
    assert warning.id == "config.W001" and "SecurityMiddleware" in warning.msg
