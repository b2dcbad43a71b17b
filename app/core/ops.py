"""Operational endpoints: liveness, readiness and JSON error pages."""

import redis
from django.conf import settings
from django.core.exceptions import BadRequest
from django.db import connection
from django.http import JsonResponse


def healthz(request):
    """Alive: the process answers. No I/O, so a database outage never restarts app servers."""
    return JsonResponse({"status": "ok", "server": settings.SERVED_BY})


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        # The pool hands out a fresh connection next time; this one is unusable.
        connection.close()
        return False


def redis_ok() -> bool:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        with client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def readyz(request):
    """Ready: the backing services answer. A load balancer takes this server out while not."""
    checks = {"postgresql": database_ok(), "redis": redis_ok()}
    down = [name for name, ok in checks.items() if not ok]
    body = {
        "status": "unavailable" if down else "ok",
        "server": settings.SERVED_BY,
        "checks": {name: "ok" if ok else "down" for name, ok in checks.items()},
    }
    if down:
        body["down"] = down
    return JsonResponse(body, status=503 if down else 200)


def websocket_only(request, path=""):
    """/ws/ paths reached as plain HTTP: say why instead of a bare 404.

    On a WSGI server this is where a WebSocket handshake ends up, since WSGI cannot hold a socket.
    """
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return error_response(
            501, "websocket not supported",
            f"{settings.SERVED_BY} serves this app over WSGI, which cannot hold a WebSocket; "
            "connect to a port served by an ASGI server",
        )
    response = error_response(426, "upgrade required", "this is a WebSocket endpoint: connect with ws:// or wss://")
    response["Upgrade"] = "websocket"
    return response


def error_response(status: int, error: str, detail: str = "") -> JsonResponse:
    body = {"error": error, "status": status}
    if detail:
        body["detail"] = detail
    return JsonResponse(body, status=status)


def bad_request(request, exception):
    # Django's own 400s (bad Host header, malformed upload) carry internals; ours are messages.
    detail = str(exception) if isinstance(exception, BadRequest) else ""
    return error_response(400, "bad request", detail)


def forbidden(request, exception):
    return error_response(403, "forbidden")


def not_found(request, exception):
    return error_response(404, "not found", f"no endpoint at {request.path[:200]}")


def server_error(request):
    return error_response(500, "internal server error")
