"""Benchmark endpoints: TechEmpower's six tests (plaintext and json also async), then sync/async
pairs that show concurrency.

Each view is a few obvious lines on purpose: the harness carries the measuring, not the app.
"""

import asyncio
import json
import random
import time

from django.core.exceptions import BadRequest
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render

from .models import Fortune, World
from .params import bounded_int, techempower_queries

WORLD_ROWS = 10_000
MAX_WAIT_MS = 10_000


def random_id() -> int:
    return random.randint(1, WORLD_ROWS)


def plaintext(request):
    return HttpResponse(b"Hello, World!", content_type="text/plain")


def json_view(request):
    return JsonResponse({"message": "Hello, World!"})


async def plaintext_async(request):
    """plaintext as a coroutine: on an ASGI server the view runs on the event loop, with no thread
    hop; beside the sync one, so the report can show what a sync view costs there."""
    return HttpResponse(b"Hello, World!", content_type="text/plain")


async def json_async(request):
    """json as a coroutine, for the same comparison."""
    return JsonResponse({"message": "Hello, World!"})


def db(request):
    return JsonResponse(World.objects.get(id=random_id()).as_dict())


def queries(request):
    worlds = [World.objects.get(id=random_id()).as_dict() for _ in range(techempower_queries(request))]
    return JsonResponse(worlds, safe=False)


def fortunes(request):
    rows = list(Fortune.objects.all())
    rows.append(Fortune(id=0, message="Additional fortune added at request time."))
    rows.sort(key=lambda fortune: fortune.message)
    return render(request, "bench/fortunes.html", {"fortunes": rows})


def updates(request):
    worlds = [World.objects.get(id=random_id()) for _ in range(techempower_queries(request))]
    for world in worlds:
        world.randomnumber = random_id()
    # Sorted ids lock rows in one order, so concurrent updates cannot deadlock.
    World.objects.bulk_update(sorted(worlds, key=lambda world: world.id), ["randomnumber"])
    return JsonResponse([world.as_dict() for world in worlds], safe=False)


def elapsed_ms(started: float) -> float:
    """The wait as measured, not as asked: a sleep that did not happen must show."""
    return round((time.perf_counter() - started) * 1000, 1)


def wait_sync(request):
    """A slow upstream, as a blocking call: it holds a worker (or thread) for the whole wait."""
    ms = bounded_int(request, "ms", default=100, low=0, high=MAX_WAIT_MS)
    started = time.perf_counter()
    time.sleep(ms / 1000)
    return JsonResponse({"asked_ms": ms, "waited_ms": elapsed_ms(started), "mode": "sync"})


async def wait_async(request):
    """The same wait, awaited: an event loop serves other requests meanwhile."""
    ms = bounded_int(request, "ms", default=100, low=0, high=MAX_WAIT_MS)
    started = time.perf_counter()
    await asyncio.sleep(ms / 1000)
    return JsonResponse({"asked_ms": ms, "waited_ms": elapsed_ms(started), "mode": "async"})


def db_sync(request):
    return JsonResponse(World.objects.get(id=random_id()).as_dict())


async def db_async(request):
    world = await World.objects.aget(id=random_id())
    return JsonResponse(world.as_dict())


def sse_params(request) -> tuple[int, float]:
    events = bounded_int(request, "events", default=10, low=1, high=1_000)
    interval_ms = bounded_int(request, "interval_ms", default=100, low=0, high=MAX_WAIT_MS)
    if events * interval_ms > 60_000:
        raise BadRequest("events x interval_ms must not exceed 60000 (one minute of streaming)")
    return events, interval_ms / 1000


def sse_event(number: int) -> bytes:
    return f"id: {number}\ndata: {json.dumps({'event': number, 'time': time.time()})}\n\n".encode()


def sse_response(stream) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    # Tells nginx to pass each event on as it comes instead of buffering the response.
    response["X-Accel-Buffering"] = "no"
    return response


def sse_sync(request):
    """Server-sent events from a generator: a WSGI worker is held for the whole stream."""
    events, interval = sse_params(request)

    def stream():
        for number in range(1, events + 1):
            yield sse_event(number)
            if number < events:
                time.sleep(interval)

    return sse_response(stream())


async def sse_async(request):
    """The same stream from an async generator: on ASGI, thousands can be open per process."""
    events, interval = sse_params(request)

    async def stream():
        for number in range(1, events + 1):
            yield sse_event(number)
            if number < events:
                await asyncio.sleep(interval)

    return sse_response(stream())
