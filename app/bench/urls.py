"""The demo's HTTP endpoints and its landing page (config/urls.py serves them while the demo is on)."""

from django.urls import path

from . import page, views

urlpatterns = [
    path("", page.index, name="index"),
    # TechEmpower's tests
    path("plaintext", views.plaintext, name="plaintext"),
    path("json", views.json_view, name="json"),
    path("plaintext/async", views.plaintext_async, name="plaintext-async"),
    path("json/async", views.json_async, name="json-async"),
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
]
