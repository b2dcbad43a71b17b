"""Gunicorn settings, all from the environment (read by gunicorn/start).

GUNICORN_WORKER_CLASS picks the worker: `sync` serves one request at a time per process,
`gthread` one per thread (WSGI concurrency is processes x threads), and `asgi` is Gunicorn's own
asyncio worker, which serves the ASGI application (WebSockets included) instead.
"""

import os


def setting(name: str) -> str:
    """Every deployment gives each server every setting it reads: settings.toml has the defaults."""
    if name not in os.environ:
        raise SystemExit(f"{__file__}: {name} is not set (settings.toml lists every setting)")
    return os.environ[name]


worker_class = setting("GUNICORN_WORKER_CLASS")
wsgi_app = "config.asgi:application" if worker_class == "asgi" else "config.wsgi:application"
bind = f"{setting('HOST')}:{setting('PORT')}"
workers = int(setting("WEB_CONCURRENCY"))
threads = int(setting("GUNICORN_THREADS")) if worker_class == "gthread" else 1
# Django's ASGI handler does not implement the lifespan protocol.
asgi_lifespan = "off"

# Trust X-Forwarded-* only from the proxy in front (nginx); anyone else could spoof them.
forwarded_allow_ips = setting("FORWARDED_ALLOW_IPS")

# A worker silent this long is killed and replaced; SIGTERM gives in-flight requests this long.
timeout = int(setting("GUNICORN_TIMEOUT"))
graceful_timeout = int(setting("GRACEFUL_TIMEOUT"))
# nginx holds keepalive connections to us; keep ours a little longer than its idle timeout.
keepalive = 65

accesslog = "-"
errorlog = "-"
loglevel = setting("LOG_LEVEL").lower()
# The heartbeat file lives in memory: faster, and it works on a read-only root filesystem.
worker_tmp_dir = "/dev/shm"


def post_worker_init(worker):
    """The asgi worker's one known traceback, kept to its line (config/logfilters.py).

    A socket whose app waits in a send (a client that stopped reading) and whose client then
    goes away: Gunicorn cancels the app, and its WebSocket handler's cleanup sends a 1011 close
    on the closed transport, whose RuntimeError ("the handler is closed", uvloop) it logs as
    "Error handling connection" with both tracebacks (gunicorn 27.0.1, asgi/websocket.py, run:
    https://github.com/benoitc/gunicorn/blob/27.0.1/gunicorn/asgi/websocket.py#L180-L196).
    Not through settings.LOGGING: a logger named there loses its handlers, and Gunicorn's
    error log is a handler on gunicorn.error.
    """
    if worker_class == "asgi":
        from config.logfilters import WithoutTracebackOf

        worker.log.error_log.addFilter(WithoutTracebackOf({"builtins.RuntimeError": "the handler is closed"}))
