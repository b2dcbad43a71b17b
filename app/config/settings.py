"""The one settings module, driven by the environment (12-factor).

Every value a deployment changes comes from an environment variable; the defaults are the safe
production ones, so a missing variable never silently turns on something insecure.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

BASE_DIR = Path(__file__).resolve().parent.parent

# FileAwareEnv: NAME_FILE, when set, names a file holding NAME (Swarm secrets, /run/secrets/...).
env = environ.FileAwareEnv()

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (for example "
            "`export SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))')`), "
            "or set DEBUG=1 for local development only."
        )
    SECRET_KEY = "insecure-development-only-key"  # noqa: S105 - only ever with DEBUG on

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The name of the server process answering, sent back as X-Served-By. Each server's start
# script or service definition sets it; see servers.toml.
SERVED_BY = env.str("SERVED_BY", default="unknown")

# The admin is opt-in: a public deployment that does not use it should not expose a login page.
ADMIN_ENABLED = env.bool("ADMIN_ENABLED", default=False)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "channels",
    "bench",
    "realtime",
]

# Django's plumbing under ASGI costs more than the servers do: a thread hop per hook of every
# sync middleware, a new OS thread per request, a thread hop per WebSocket message (README,
# "Traps"). ASGI_TUNING (on by default) removes them: Django's I/O-free middleware runs inline
# (config/middleware.py), each request's sync code runs on a thread lent from a pool of
# ASGI_THREADS per process (config/threads.py), and consumers that never touch the database skip
# Channels' per-message hop (realtime/consumers.py). ASGI_TUNING=0 is Django and Channels as
# shipped, kept measurable beside it (the uvicorn-stock contender in servers.toml).
ASGI_TUNING = env.bool("ASGI_TUNING", default=True)
# Sync views on an ASGI process overlap up to this many at once; more wait for a thread (32 is
# the ceiling of Python's own default executor). Each holds at most one database connection, so
# keep it near DB_POOL_MAX_SIZE if most requests use the database.
ASGI_THREADS = env.int("ASGI_THREADS", default=32)
if ASGI_THREADS < 1:
    raise ImproperlyConfigured(f"ASGI_THREADS must be at least 1, got {ASGI_THREADS}")


def builtin_middleware(name: str) -> str:
    """Django's middleware `name`, inlined by config.middleware unless ASGI_TUNING is off."""
    module = {"SecurityMiddleware": "security", "CommonMiddleware": "common",
              "CsrfViewMiddleware": "csrf", "XFrameOptionsMiddleware": "clickjacking"}[name]
    return f"config.middleware.{name}" if ASGI_TUNING else f"django.middleware.{module}.{name}"


# Every hook of a sync middleware costs a thread hop per request under ASGI unless it is inlined
# (above); so sessions, users and messages, which do I/O and keep their hops, come with the admin,
# the only part that uses them. Common (which enforces ALLOWED_HOSTS on every request) and CSRF
# protection stay on for everything.
MIDDLEWARE = [
    "bench.middleware.served_by",
    builtin_middleware("SecurityMiddleware"),
    "bench.middleware.DatabaseUnavailableMiddleware",
    builtin_middleware("CommonMiddleware"),
    builtin_middleware("CsrfViewMiddleware"),
    builtin_middleware("XFrameOptionsMiddleware"),
]
CONTEXT_PROCESSORS = ["django.template.context_processors.request"]

# The admin's middleware reads the session store, the user table and the message storage: it keeps
# Django's thread hop (config.middleware.inline refuses it), so the event loop never blocks on them.
if ADMIN_ENABLED:
    INSTALLED_APPS += ["django.contrib.admin", "django.contrib.sessions", "django.contrib.messages"]
    MIDDLEWARE.insert(MIDDLEWARE.index(builtin_middleware("CommonMiddleware")),
                      "django.contrib.sessions.middleware.SessionMiddleware")
    MIDDLEWARE[-1:-1] = [
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ]
    CONTEXT_PROCESSORS += [
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": CONTEXT_PROCESSORS},
    },
]

# PostgreSQL through psycopg 3 and its connection pool. CONN_MAX_AGE must stay 0: persistent
# connections are per thread, and under ASGI every request may run in a new thread, so they
# pile up until PostgreSQL refuses more. The pool bounds connections per process instead:
# WEB_CONCURRENCY x DB_POOL_MAX_SIZE per server must fit in PostgreSQL's max_connections.
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://app@127.0.0.1:5432/app")}
DATABASES["default"].update(
    CONN_MAX_AGE=0,
    # With the pool, this makes psycopg check a connection before lending it, so connections
    # broken by a PostgreSQL restart are replaced instead of failing requests (the fault tests
    # still see at most one failed request per process right after a restart).
    CONN_HEALTH_CHECKS=True,
    OPTIONS={
        "pool": {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=1),
            "max_size": env.int("DB_POOL_MAX_SIZE", default=8),
            # How long a request waits for a connection before it fails with a 503: bounded,
            # so an outage answers fast instead of hanging every worker.
            "timeout": env.float("DB_POOL_TIMEOUT", default=3.0),
        },
        "connect_timeout": env.int("DB_CONNECT_TIMEOUT", default=3),
    },
)

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

CHANNEL_LAYERS = {
    "default": {
        # channels-redis's Redis layer with rooms fanned out per process (realtime/layer.py).
        "BACKEND": "realtime.layer.RoomChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    # After Redis restarts, every pooled connection is dead. Without retries,
                    # each one fails a chat socket (1013) before the pool has reconnected;
                    # with them, a command on a dead connection reconnects and runs again.
                    # While Redis is down, the retries run out within about half a second.
                    "retry": Retry(ExponentialBackoff(cap=0.25, base=0.05), 3),
                    # A consumer waits for messages with BZPOPMIN blocking 5 s in Redis
                    # (channels-redis's brpop_timeout), and redis-py 8 gives up reading after 5 s
                    # by default: the two raced, and an idle member's socket was closed (1013)
                    # after about 20 s of quiet. Reads must outlast the blocking poll.
                    "socket_timeout": 10,
                    # redis-py's asyncio pool refuses a command once 100 connections are busy
                    # (MaxConnectionsError), and channels-redis keeps that default: 200 clients
                    # joining one process at once were closed with 1013. This pool blocks instead:
                    # a join storm waits a moment for one of REDIS_POOL_SIZE connections (commands
                    # take well under a millisecond; one more is held by the blocking poll), and
                    # fails only after pool_timeout seconds, as in an outage. Bounded, so that
                    # every process of every server together stays far below Redis's maxclients.
                    "max_connections": env.int("REDIS_POOL_SIZE", default=50),
                    "pool_timeout": 5,
                },
            ],
            # Per-channel queue bound: a slow consumer loses messages instead of growing Redis.
            "capacity": env.int("CHANNEL_LAYER_CAPACITY", default=100),
            "expiry": 60,
            "prefix": env.str("CHANNEL_LAYER_PREFIX", default="asgi"),
        },
    }
}

# Largest WebSocket message a consumer accepts; bigger ones close the socket with 1009.
WS_MAX_MESSAGE_BYTES = env.int("WS_MAX_MESSAGE_BYTES", default=64 * 1024)

# A chat member may send WS_CHAT_RATE messages a second on average, in bursts of WS_CHAT_BURST;
# faster, its socket is closed with 1008. Far above anyone typing, far below a flood, which would
# otherwise hold its server process busy fanning messages out while others wait.
WS_CHAT_RATE = env.float("WS_CHAT_RATE", default=50.0)
WS_CHAT_BURST = env.int("WS_CHAT_BURST", default=100)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Hashed file names let nginx serve /static/ with a one-year immutable cache header.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}

# nginx terminates the client connection and says which scheme the client used.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = False
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# `manage.py check --deploy` warnings silenced on purpose (tests/hardening/test_security.py runs it):
SILENCED_SYSTEM_CHECKS = [
    # W008 SECURE_SSL_REDIRECT off: TLS terminates in front of Django (nginx or a load balancer),
    # which owns the http -> https redirect; SECURE_SSL_REDIRECT=1 makes Django do it too.
    "security.W008",
    # W005 / W021 HSTS includeSubDomains / preload: commitments for the whole domain and every
    # subdomain, hard to undo; only the operator can make them (SECURE_HSTS_INCLUDE_SUBDOMAINS=1,
    # SECURE_HSTS_PRELOAD=1).
    "security.W005",
    "security.W021",
]
if ASGI_TUNING:
    # W001-W003 look for Django's own dotted paths in MIDDLEWARE; the inlined subclasses stand in
    # for them, and config/checks.py makes the same demand of either path (config.W001).
    SILENCED_SYSTEM_CHECKS += ["security.W001", "security.W002", "security.W003"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "formatter": "plain"},
        "discard": {"class": "logging.NullHandler"},
    },
    "filters": {
        # Uvicorn's sans-I/O WebSocket protocol closes a socket that sent invalid UTF-8 with 1007,
        # and logs it with logger.exception: a traceback per bad client (uvicorn 0.54,
        # protocols/websockets/websockets_sansio_impl.py, send_receive_event_to_app).
        "client-utf8": {"()": "config.logfilters.WithoutTraceback",
                        "messages": ["Invalid UTF-8 sequence received from client."]},
        # Daphne hands the app's websocket.send to autobahn while its close handshake is under
        # way (Daphne only checks for a lost TCP connection), and autobahn raises Disconnected
        # into the app: a chat event that crosses the client's close ends the consumer with a
        # traceback. Nobody is left to tell; the line stays, the traceback goes (daphne 4.2.3,
        # server.py handle_reply, ws_protocol.py serverSend; the ASGI spec asks for an OSError:
        # https://github.com/django/daphne/blob/4.2.3/daphne/ws_protocol.py#L251-L261
        # https://asgi.readthedocs.io/en/latest/specs/www.html#send-send-event).
        "send-after-close": {"()": "config.logfilters.WithoutTracebackOf",
                             "exceptions": {"autobahn.exception.Disconnected":
                                            "Attempt to send on a closed protocol"}},
    },
    "root": {"handlers": ["stdout"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # A 4xx is the client's mistake and already answered with a JSON body; logging each with
        # a traceback would bury the 5xx that need attention.
        "django.request": {"level": "ERROR"},
        # A Host outside ALLOWED_HOSTS is answered 400 and shows in every access log; Django would
        # also log it at ERROR with a traceback, for what is only scanners' noise.
        "django.security.DisallowedHost": {"handlers": ["discard"], "propagate": False},
        # Only a filter: Uvicorn's own handlers and levels stay as Uvicorn set them.
        "uvicorn.error": {"filters": ["client-utf8"]},
        # Daphne's processes log to the root logger (daphne.cli's basicConfig): only a filter here.
        "daphne.server": {"filters": ["send-after-close"]},
    },
}
