"""Log filters that settings.LOGGING names."""

import logging


class WithoutTraceback(logging.Filter):
    """Keeps the records whose message is one of `messages`, but not their traceback.

    For a client's error that is already answered (a close code, a 4xx): one line says it
    happened, where a traceback per bad client would bury the errors that need attention.
    """

    def __init__(self, messages: list[str]):
        super().__init__()
        self.messages = frozenset(messages)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in self.messages:
            record.exc_info = record.exc_text = None
        return True
