"""The WebSocket routes: each site app's `routing.websocket_urlpatterns`, then a refusal for the rest.

A site app (settings.SITE_APPS) that serves WebSockets has a `routing` module with a list
`websocket_urlpatterns`, as Channels' tutorial lays it out; with no such app (DEMO_ENABLED=0 and
nothing else), every handshake is refused with 403. Browsers send Origin; it must name a host in
ALLOWED_HOSTS, which stops other sites' pages from opening sockets with a visitor's cookies.
Clients without Origin are refused too.
"""

from importlib import import_module

from channels.routing import URLRouter
from core.websocket import NotFoundConsumer, OriginValidator
from django.conf import settings
from django.urls import re_path
from django.utils.module_loading import module_has_submodule


def site_routes() -> list:
    routes = []
    for name in settings.SITE_APPS:
        if module_has_submodule(import_module(name), "routing"):
            routes += import_module(f"{name}.routing").websocket_urlpatterns
    return routes


websocket_urlpatterns = [*site_routes(), re_path(r"", NotFoundConsumer.as_asgi())]

websocket_application = OriginValidator(URLRouter(websocket_urlpatterns), settings.ALLOWED_HOSTS)
