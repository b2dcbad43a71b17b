"""The ASGI entry point, for Uvicorn, Daphne (and any ASGI server).

One event loop per process serves many connections at once: async views and WebSocket consumers
overlap while they wait; sync views run on threads. Channels routes by protocol: plain HTTP goes
to Django, WebSocket connections to the site apps' consumers (config.routing).
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Set up Django (apps, settings) before importing anything that uses models or settings; this is
# what django.core.asgi.get_asgi_application() does, with the handler chosen by ASGI_TUNING.
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402

from config.threads import ExecutorPool, PooledASGIHandler  # noqa: E402

django_application = (
    PooledASGIHandler(ExecutorPool(settings.ASGI_THREADS)) if settings.ASGI_TUNING else ASGIHandler()
)

from channels.routing import ProtocolTypeRouter  # noqa: E402

from config.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": websocket_application,
    }
)
