from bench import ops, page, views
from django.conf import settings
from django.contrib import admin
from django.urls import path, re_path

urlpatterns = [
    path("", page.index, name="index"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    # TechEmpower's tests
    path("plaintext", views.plaintext, name="plaintext"),
    path("json", views.json_view, name="json"),
    path("db", views.db, name="db"),
    path("queries", views.queries, name="queries"),
    path("fortunes", views.fortunes, name="fortunes"),
    path("updates", views.updates, name="updates"),
    # The same work written sync and async, side by side
    path("wait/sync", views.wait_sync, name="wait-sync"),
    path("wait/async", views.wait_async, name="wait-async"),
    path("db/sync", views.db_sync, name="db-sync"),
    path("db/async", views.db_async, name="db-async"),
    path("sse/sync", views.sse_sync, name="sse-sync"),
    path("sse/async", views.sse_async, name="sse-async"),
    # The WebSocket endpoints live in realtime.routing; these are plain-HTTP requests for them.
    re_path(r"^ws/(?P<path>.*)$", ops.websocket_only, name="websocket-only"),
]

if settings.ADMIN_ENABLED:
    urlpatterns.append(path("admin/", admin.site.urls))

handler400 = ops.bad_request
handler403 = ops.forbidden
handler404 = ops.not_found
handler500 = ops.server_error
