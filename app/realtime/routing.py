"""WebSocket routes. Unknown paths are refused at the handshake (HTTP 403), not crashed on."""

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path, re_path

from .consumers import ChatConsumer, EchoConsumer


class NotFoundConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = None

    async def connect(self):
        await self.close()


websocket_urlpatterns = [
    path("ws/echo/", EchoConsumer.as_asgi()),
    path("ws/chat/<str:room>/", ChatConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),
]

# Browsers send Origin; it must name a host in ALLOWED_HOSTS, which stops other sites' pages
# from opening sockets with a visitor's cookies. Clients without Origin are refused too.
websocket_application = AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns))
