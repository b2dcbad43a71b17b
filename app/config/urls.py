"""The site's URLs: the core's first (probes, WebSocket paths over plain HTTP), then each site app's.

A site app (settings.SITE_APPS) with a `urls` module is served from the root, in SITE_APPS order;
the core's paths come first, so no app can shadow a probe. Every error is the core's JSON body.
"""

from importlib import import_module

from core import ops
from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.module_loading import module_has_submodule

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    # The WebSocket endpoints live in config.routing; these are plain-HTTP requests for them.
    re_path(r"^ws/(?P<path>.*)$", ops.websocket_only, name="websocket-only"),
]

urlpatterns += [
    path("", include(f"{name}.urls"))
    for name in settings.SITE_APPS
    if module_has_submodule(import_module(name), "urls")
]

if settings.ADMIN_ENABLED:
    urlpatterns.append(path("admin/", admin.site.urls))

handler400 = ops.bad_request
handler403 = ops.forbidden
handler404 = ops.not_found
handler500 = ops.server_error
