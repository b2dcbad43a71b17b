"""Django's I/O-free built-in middleware, run on the event loop under ASGI.

Under an ASGI server, Django's `MiddlewareMixin.__acall__` runs every `process_request` and
`process_response` through `sync_to_async`, and `BaseHandler.load_middleware` adapts every
`process_view` the same way (django/utils/deprecation.py, django/core/handlers/base.py): a thread
hop per hook, eight per request for this stack, though these hooks only read the request and set
headers. `inline()` makes a subclass whose hooks are called directly: on the event loop under
ASGI, on the worker's thread under WSGI (unchanged there: no event loop is involved).

Only middleware reviewed to do no I/O in its hooks may be inlined; anything else (the admin's
sessions, auth and messages read the session store and the user table) keeps Django's hop, so a
blocking call never stalls the event loop. `inline()` refuses classes not in the reviewed list.
"""

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.middleware import clickjacking, common, csrf, security

# Hooks read the request and the settings, set headers and may build a redirect; nothing else.
REVIEWED_IO_FREE = {
    security.SecurityMiddleware,
    common.CommonMiddleware,  # ALLOWED_HOSTS, APPEND_SLASH (a URL resolve), Content-Length
    csrf.CsrfViewMiddleware,  # with the token in a cookie; see csrf_hooks_inline
    clickjacking.XFrameOptionsMiddleware,
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def always(request) -> bool:
    return True


def csrf_hooks_inline(request) -> bool:
    """CSRF's hooks do I/O only with the token in the session, or when they parse a request body.

    `process_view` reads `request.POST` for unsafe methods, and a large upload is spooled to a
    temporary file on disk: such requests keep the hop, as does CSRF_USE_SESSIONS.
    """
    return not settings.CSRF_USE_SESSIONS and request.method in SAFE_METHODS


def inline(middleware, hooks_inline=always):
    """A subclass of an I/O-free `MiddlewareMixin` that calls its hooks without a thread hop.

    `hooks_inline(request)` may send a request's hooks to Django's hop after all (see CSRF).
    """
    if middleware not in REVIEWED_IO_FREE:
        raise ImproperlyConfigured(
            f"{middleware.__module__}.{middleware.__qualname__} is not reviewed as I/O-free: "
            "inlining it could block the event loop. Leave it in MIDDLEWARE as it is."
        )

    class Inline(middleware):
        def __init__(self, get_response):
            super().__init__(get_response)
            if self.async_mode and hasattr(self, "process_view"):
                # load_middleware leaves a coroutine function alone; an instance attribute keeps
                # the class's sync process_view for the WSGI handler's instances.
                self.process_view = self.process_view_async

        async def __acall__(self, request):
            if not hooks_inline(request):
                return await super().__acall__(request)
            response = None
            if hasattr(self, "process_request"):
                response = self.process_request(request)
            response = response or await self.get_response(request)
            if hasattr(self, "process_response"):
                response = self.process_response(request, response)
            return response

        async def process_view_async(self, request, view, args, kwargs):
            if hooks_inline(request):
                return super().process_view(request, view, args, kwargs)
            return await sync_to_async(super().process_view)(request, view, args, kwargs)

    Inline.__name__ = Inline.__qualname__ = middleware.__name__
    Inline.__doc__ = f"{middleware.__name__}, with its hooks inline (config.middleware.inline)."
    return Inline


SecurityMiddleware = inline(security.SecurityMiddleware)
CommonMiddleware = inline(common.CommonMiddleware)
CsrfViewMiddleware = inline(csrf.CsrfViewMiddleware, csrf_hooks_inline)
XFrameOptionsMiddleware = inline(clickjacking.XFrameOptionsMiddleware)
