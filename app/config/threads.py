"""One reused thread per request for the sync code of Django's ASGI path.

`ASGIHandler.__call__` enters a new `asgiref.sync.ThreadSensitiveContext()` per request, and the
request's first thread-sensitive call creates a new single-thread executor for it: an OS thread
started per request, and at the end another one started only to join it (asgiref 3.13,
`ThreadSensitiveContext.__aexit__`). Two thread starts per request is most of what a sync view
costs on an ASGI server.

`PooledASGIHandler` lends each request one executor from a bounded pool instead, through
`ThreadSensitiveContext(executor=...)` (asgiref >= 3.13): every sync call of that request (signal
receivers, middleware that keeps its hop, the view, closing the response) runs on that one thread,
so the request's database connection (thread-local in Django) stays on it and is never shared with
a concurrent request. When every executor is lent, a request waits for one; nothing spawns more.
"""

import asyncio
import collections
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler


class ExecutorPool:
    """`size` single-thread executors, lent one at a time, used from one event loop at a time."""

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"an executor pool needs at least one executor, got {size}")
        self.size = size
        self._free = collections.deque(
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"request-{number}")
            for number in range(size)
        )
        self._waiters: collections.deque[asyncio.Future] = collections.deque()

    async def checkout(self) -> ThreadPoolExecutor:
        if self._free:
            return self._free.pop()
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            # Handed an executor just as the wait was cancelled: pass it on, not lose it.
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())
            raise

    def release(self, executor: ThreadPoolExecutor) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(executor)
                return
        self._free.append(executor)

    @property
    def lent(self) -> int:
        return self.size - len(self._free)


class PooledASGIHandler(ASGIHandler):
    """Django's ASGI handler, with each request's sync code on a thread lent from `pool`."""

    def __init__(self, pool: ExecutorPool):
        super().__init__()
        self.pool = pool

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        executor = await self.pool.checkout()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.pool.release(executor)
