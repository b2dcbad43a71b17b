"""The demo's WebSocket routes (config/routing.py serves them while the demo is on)."""

from django.urls import path

from .consumers import ChatConsumer, EchoConsumer

websocket_urlpatterns = [
    path("ws/echo/", EchoConsumer.as_asgi()),
    path("ws/chat/<str:room>/", ChatConsumer.as_asgi()),
]
