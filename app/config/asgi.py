"""The ASGI entry point, for Uvicorn, Daphne (and any ASGI server).

One event loop per process serves many connections at once: async views and WebSocket consumers
overlap while they wait; sync views run in a thread pool. Channels routes by protocol: plain
HTTP goes to Django, WebSocket connections to the consumers in realtime.routing.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Set up Django (apps, settings) before importing anything that uses models or settings.
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from realtime.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": websocket_application,
    }
)
