"""One way to wait for a condition with a deadline, for every loop of the harness that needs one."""

from __future__ import annotations

import time
from collections.abc import Callable


def poll_until(done: Callable[[], bool], timeout_s: float, interval_s: float,
               sleep: Callable[[float], object] = time.sleep) -> bool:
    """True as soon as done() holds, False once timeout_s passed without it. sleep: how to wait
    between two looks (gevent.sleep where other greenlets must keep running)."""
    deadline = time.monotonic() + timeout_s
    while not done():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sleep(min(interval_s, left))
    return True
