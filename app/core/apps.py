"""The production core: what every site built on this starter keeps, whatever it serves.

Liveness and readiness (/healthz, /readyz), the JSON error pages, X-Served-By, the prompt 503 when
the database is out of reach (core.middleware), the channel layer (core.layer) and the WebSocket
Origin check (core.websocket). It imports nothing from the site's apps (settings.SITE_APPS): the
demo comes off with DEMO_ENABLED=0, or is deleted (docs/starter.md).
"""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Production core"

    def ready(self):
        from config import checks  # noqa: F401 - registers the deploy check of the inlined middleware
