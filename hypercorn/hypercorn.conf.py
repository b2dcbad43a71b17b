"""Hypercorn settings, all from the environment (read by hypercorn/start: `--config file:`)."""

import os


def setting(name: str) -> str:
    """Every deployment gives each server every setting it reads: settings.toml has the defaults."""
    if name not in os.environ:
        raise SystemExit(f"{__file__}: {name} is not set (settings.toml lists every setting)")
    return os.environ[name]


bind = [f"{setting('HOST')}:{setting('PORT')}"]
workers = int(setting("WEB_CONCURRENCY"))
worker_class = "uvloop"

# A HUP stops every worker (after its requests) before it starts the new ones, and the listening
# socket, held by the master, queues connections meanwhile: Hypercorn's default backlog of 100
# would refuse them under load. Gunicorn's default instead.
backlog = 2048
# Hypercorn's default is 3 s: in-flight requests get as long as under every other server.
graceful_timeout = float(setting("GRACEFUL_TIMEOUT"))
# nginx keeps idle upstream connections for 60 s; closing ours first (default 5 s) races its
# reuse of them.
keep_alive_timeout = 65
websocket_max_message_size = int(setting("WS_MAX_FRAME_BYTES"))
include_server_header = False

accesslog = "-"
errorlog = "-"
loglevel = setting("LOG_LEVEL")

# Hypercorn copies every name of this file into its config, which it pickles for each worker: a
# function cannot be pickled ("Cannot pickle the config").
del setting
