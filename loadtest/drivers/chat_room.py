"""Book-keeping of a Locust chat room (the web UI's chat users): who is in it, what was sent, what arrived.

Shared by all the Locust users of the room (they are greenlets in one process). A message
counts as lost for each member that was in the room when it was sent and never received it.
"""

from __future__ import annotations

import itertools
from collections import Counter


class ChatRoom:
    def __init__(self, name: str):
        self.name = name
        self.members = 0
        self.sending = True
        self._joined = itertools.count()
        self._sequence = itertools.count()
        self.sent: dict[str, int] = {}  # message id -> members in the room when it was sent
        self.delivered: Counter[str] = Counter()

    def join(self) -> int:
        """Count a member in; returns its join order (the first one is the sender)."""
        self.members += 1
        return next(self._joined)

    def leave(self) -> None:
        self.members -= 1

    def is_full(self, target: int) -> bool:
        return self.members >= target

    def next_message_id(self) -> str:
        return f"m{next(self._sequence)}"

    def record_sent(self, message_id: str) -> None:
        self.sent[message_id] = self.members

    def record_delivery(self, message_id: str) -> None:
        # Messages sent before reset() (warm-up) are not part of the window.
        if message_id in self.sent:
            self.delivered[message_id] += 1

    def reset(self) -> None:
        """Start of the measured window: forget everything sent during warm-up."""
        self.sent.clear()
        self.delivered.clear()

    def lost(self) -> int:
        return sum(max(0, expected - self.delivered[mid]) for mid, expected in self.sent.items())

    def expected(self) -> int:
        return sum(self.sent.values())
