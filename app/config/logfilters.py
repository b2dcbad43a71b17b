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


class WithoutTracebackOf(logging.Filter):
    """Keeps the records whose exception is one of `exceptions`, but not their traceback.

    `exceptions` maps an exception's dotted class name to a text its message contains: a server's
    own error, logged with a traceback where there is nothing to fix here (each use says which
    and links it upstream). The record keeps its one line, which names the error.
    """

    def __init__(self, exceptions: dict[str, str]):
        super().__init__()
        self.exceptions = exceptions

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            name = f"{type(error).__module__}.{type(error).__qualname__}"
            if name in self.exceptions and self.exceptions[name] in str(error):
                record.exc_info = record.exc_text = None
        return True
