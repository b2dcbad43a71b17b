"""`manage.py check --deploy` for the inlined middleware (config.middleware).

Django's security.W001-W003 look for Django's own dotted paths in MIDDLEWARE, so with
ASGI_TUNING they would fire although the inlined subclasses do the same work; settings silences
them then, and this check makes the same demand of either path (config.W001).
"""

from django.conf import settings
from django.core.checks import Tags, Warning, register

STANDS_IN_FOR = {
    "SecurityMiddleware": "django.middleware.security.SecurityMiddleware",
    "CsrfViewMiddleware": "django.middleware.csrf.CsrfViewMiddleware",
    "XFrameOptionsMiddleware": "django.middleware.clickjacking.XFrameOptionsMiddleware",
}


@register(Tags.security, deploy=True)
def protective_middleware_present(app_configs, **kwargs):
    return [
        Warning(f"Neither {stock} nor config.middleware.{name} is in MIDDLEWARE: "
                "its protection is off.", id="config.W001")
        for name, stock in STANDS_IN_FOR.items()
        if stock not in settings.MIDDLEWARE and f"config.middleware.{name}" not in settings.MIDDLEWARE
    ]
