"""The log filters keep each known server error to its line, and nothing else loses a traceback.

Through the logging configuration the settings install (settings.LOGGING), with the servers'
own exception types, raised for real.
"""

import asyncio
import gc
import logging
import runpy
from pathlib import Path

import pytest
from autobahn.exception import Disconnected
from config.logfilters import WithoutTracebackOf
from django.core.exceptions import RequestAborted

ROOT = Path(__file__).resolve().parents[2]


class Kept(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def kept():
    handler = Kept()
    logging.getLogger().addHandler(handler)
    yield handler.records
    logging.getLogger().removeHandler(handler)


def raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def test_daphnes_send_after_close_keeps_its_line_without_the_traceback(kept):
    error = raised(Disconnected("Attempt to send on a closed protocol"))
    logging.getLogger("daphne.server").error("Exception inside application: %s", error, exc_info=error)
    [record] = kept
    assert record.getMessage() == "Exception inside application: Attempt to send on a closed protocol"
    assert record.exc_info is None


def test_any_other_daphne_application_error_keeps_its_traceback(kept):
    error = raised(ValueError("a bug"))
    logging.getLogger("daphne.server").error("Exception inside application: %s", error, exc_info=error)
    [record] = kept
    assert record.exc_info is not None and record.exc_info[1] is error


def test_a_cancelled_connection_keeps_asyncios_line_without_the_traceback(kept):
    error = raised(asyncio.CancelledError())
    logging.getLogger("asyncio").error("Exception in callback %s", "<callback>", exc_info=error)
    [record] = kept
    assert record.getMessage() == "Exception in callback <callback>"
    assert record.exc_info is None


def test_an_orphaned_disconnect_listener_keeps_asyncios_line_without_the_traceback(kept):
    """What Django's ASGIHandler leaves when it is cancelled: a listener task that raises
    RequestAborted and that nobody awaits, logged by asyncio when the task is collected."""
    async def listen_for_disconnect():
        raise RequestAborted()

    async def cancelled_handler():
        task = asyncio.ensure_future(listen_for_disconnect())
        await asyncio.sleep(0)  # it runs and fails
        del task
        gc.collect()

    asyncio.run(cancelled_handler())
    [record] = [record for record in kept if record.name == "asyncio"]
    assert record.getMessage().startswith("Task exception was never retrieved")
    assert record.exc_info is None


def test_any_other_asyncio_error_keeps_its_traceback(kept):
    error = raised(OSError("a real failure"))
    logging.getLogger("asyncio").error("Exception in callback %s", "<callback>", exc_info=error)
    [record] = kept
    assert record.exc_info is not None and record.exc_info[1] is error


def gunicorn_asgi_filter() -> WithoutTracebackOf:
    """The filter gunicorn/gunicorn.conf.py gives the asgi worker's error log."""
    logger = logging.getLogger("test.gunicorn.error")
    worker = type("Worker", (), {"log": type("Log", (), {"error_log": logger})()})()
    config = runpy.run_path(str(ROOT / "gunicorn" / "gunicorn.conf.py"))
    # The file reads GUNICORN_WORKER_CLASS when run; the hook reads the module's worker_class.
    config["post_worker_init"].__globals__["worker_class"] = "asgi"
    config["post_worker_init"](worker)
    [installed] = logger.filters
    logger.removeFilter(installed)
    return installed


def test_gunicorns_write_on_a_closed_transport_keeps_its_line_without_the_traceback():
    keep = gunicorn_asgi_filter()
    closed = raised(RuntimeError("unable to perform operation on <TCPTransport>; the handler is closed"))
    other = raised(RuntimeError("something else"))
    for error, traceback_kept in ((closed, False), (other, True)):
        record = logging.LogRecord("gunicorn.error", logging.ERROR, __file__, 1,
                                   "Error handling connection: %s", (error,),
                                   (type(error), error, error.__traceback__))
        assert keep.filter(record)
        assert (record.exc_info is not None) is traceback_kept, error
