"""Middleware that every response passes through, on sync and async servers alike."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.utils.decorators import sync_and_async_middleware
from django.utils.deprecation import MiddlewareMixin


@sync_and_async_middleware
def served_by(get_response):
    """Name the server process in X-Served-By, so a client can see who answered."""
    name = settings.SERVED_BY

    if iscoroutinefunction(get_response):

        async def middleware(request):
            response = await get_response(request)
            response["X-Served-By"] = name
            return response

        markcoroutinefunction(middleware)
    else:

        def middleware(request):
            response = get_response(request)
            response["X-Served-By"] = name
            return response

    return middleware


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """Turn a lost or saturated database into a prompt 503 with a JSON body, not a 500.

    The pool's bounded wait (DB_POOL_TIMEOUT) makes the failure fast; this makes it clear.
    Only connection-level errors qualify: a failing query is a bug and stays a 500.
    """

    def process_exception(self, request, exception):
        if isinstance(exception, (OperationalError, InterfaceError)):
            return JsonResponse(
                {"error": "database unavailable", "detail": type(exception).__name__},
                status=503,
            )
        return None
