"""Hypercorn settings, all from the environment (read by hypercorn/start: `--config file:`)."""

import os

bind = [f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "uvloop"

# A HUP stops every worker (after its requests) before it starts the new ones, and the listening
# socket, held by the master, queues connections meanwhile: Hypercorn's default backlog of 100
# would refuse them under load. Gunicorn's default instead.
backlog = 2048
# Hypercorn's default is 3 s: in-flight requests get as long as under every other server.
graceful_timeout = float(os.environ.get("GRACEFUL_TIMEOUT", "25"))
# nginx keeps idle upstream connections for 60 s; closing ours first (default 5 s) races its
# reuse of them.
keep_alive_timeout = 65
websocket_max_message_size = int(os.environ.get("WS_MAX_FRAME_BYTES", "1048576"))
include_server_header = False

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "INFO")
