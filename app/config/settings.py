"""The one settings module, driven by the environment (12-factor).

Every value a deployment changes comes from an environment variable; its default is stated once,
in settings.toml (the list every deployment and docs/configuration.md are rendered from). The
defaults are the safe production ones, so a missing variable never silently turns on something
insecure.
"""

import tomllib
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

BASE_DIR = Path(__file__).resolve().parent.parent

# FileAwareEnv: NAME_FILE, when set, names a file holding NAME (Swarm secrets, /run/secrets/...).
env = environ.FileAwareEnv()
# settings.toml's entries: beside servers.toml at the repository root, /app in the images.
SETTINGS_LIST = tomllib.loads((BASE_DIR.parent / "settings.toml").read_text())["settings"]
CASTS = {"int": int, "float": float, "bool": bool, "list": list}


def setting(name: str):
    """NAME from the environment, else its default from settings.toml, cast by its type there."""
    spec = SETTINGS_LIST[name]
    return env.get_value(name, cast=CASTS.get(spec["type"], str), default=spec.get("default", ""),
                         parse_default=True)


DEBUG = setting("DEBUG")

SECRET_KEY = setting("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (for example "
            "`export SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))')`), "
            "or set DEBUG=1 for local development only."
        )
    SECRET_KEY = "insecure-development-only-key"  # noqa: S105 - only ever with DEBUG on

ALLOWED_HOSTS = setting("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = setting("CSRF_TRUSTED_ORIGINS")

# The name of the server process answering, sent back as X-Served-By. Each server's start
# script or service definition sets it; see servers.toml.
SERVED_BY = setting("SERVED_BY")

# The admin is opt-in: a public deployment that does not use it should not expose a login page.
ADMIN_ENABLED = setting("ADMIN_ENABLED")

# The demo (docs/starter.md): TechEmpower's endpoints, the sync/async pairs and the landing page
# with its tables (bench), and the chat (realtime). DEMO_ENABLED=0 serves the core alone.
DEMO_ENABLED = setting("DEMO_ENABLED")
# The apps the site serves beside the core (app/core): each one's `urls` module is served from
# the root (config/urls.py) and its `routing.websocket_urlpatterns` take WebSockets
# (config/routing.py). A copy of the starter names its own apps (package names) here instead
# of the demo's.
SITE_APPS = ["bench", "realtime"] if DEMO_ENABLED else []

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "channels",
    "core",
    *SITE_APPS,
]

# Django's plumbing under ASGI costs more than the servers do: a thread hop per hook of every
# sync middleware, a new OS thread per request, a thread hop per WebSocket message (README,
# "Traps"). ASGI_TUNING (on by default) removes them: Django's I/O-free middleware runs inline
# (config/middleware.py), each request's sync code runs on a thread lent from a pool of
# ASGI_THREADS per process (config/threads.py), and consumers that never touch the database skip
# Channels' per-message hop (realtime/consumers.py). ASGI_TUNING=0 is Django and Channels as
# shipped, kept measurable beside it (the uvicorn-stock contender in servers.toml).
ASGI_TUNING = setting("ASGI_TUNING")
# Sync views on an ASGI process overlap up to this many at once; more wait for a thread (32 is
# the ceiling of Python's own default executor). Each holds at most one database connection, so
# keep it near DB_POOL_MAX_SIZE if most requests use the database.
ASGI_THREADS = setting("ASGI_THREADS")
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
    "core.middleware.served_by",
    builtin_middleware("SecurityMiddleware"),
    "core.middleware.DatabaseUnavailableMiddleware",
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
# WEB_CONCURRENCY x DB_POOL_MAX_SIZE per server, for every server and replica, must fit in
# PostgreSQL's max_connections, or in PgBouncer's max_client_conn (stack/budget.py).
DATABASES = {"default": env.db("DATABASE_URL", default=SETTINGS_LIST["DATABASE_URL"]["default"])}

# DB_POOLER=pgbouncer: DATABASE_URL is PgBouncer in transaction mode (Swarm, Kubernetes; optional
# on Compose and the host run), so one connection's consecutive transactions may run on different
# PostgreSQL connections, and nothing may outlive a transaction on the server:
# - prepared statements. psycopg prepares a query on the server once it has run prepare_threshold
#   times on a connection; the next run, on another PostgreSQL connection, fails with 'prepared
#   statement "_pg3_0" does not exist'. PgBouncer 1.21+ can track them (max_prepared_statements);
#   Debian bookworm's 1.18 cannot, so they stay off (prepare_threshold None, Django's own default
#   as long as OPTIONS does not set one):
#   https://www.psycopg.org/psycopg3/docs/advanced/prepare.html#using-prepared-statements-with-pgbouncer
# - server-side cursors (QuerySet.iterator()), which Django declares WITHOUT HOLD:
#   https://docs.djangoproject.com/en/5.2/ref/databases/#transaction-pooling-and-server-side-cursors
DB_POOLER = setting("DB_POOLER")
if DB_POOLER not in ("", "pgbouncer"):
    raise ImproperlyConfigured(f"DB_POOLER must be empty or pgbouncer, got {DB_POOLER!r}")
# After how many runs on one connection psycopg prepares a query on the server (empty: never).
# With a direct connection, a number trades a round of parsing and planning per query for memory
# held on the server; it needs server-side parameter binding, which it turns on.
DB_PREPARE_THRESHOLD = setting("DB_PREPARE_THRESHOLD")
if DB_PREPARE_THRESHOLD and not DB_PREPARE_THRESHOLD.isdigit():
    raise ImproperlyConfigured(
        f"DB_PREPARE_THRESHOLD must be a whole number or empty, got {DB_PREPARE_THRESHOLD!r}"
    )
DB_PREPARE_THRESHOLD = int(DB_PREPARE_THRESHOLD) if DB_PREPARE_THRESHOLD else None
if DB_POOLER and DB_PREPARE_THRESHOLD is not None:
    raise ImproperlyConfigured(
        f"DB_PREPARE_THRESHOLD={DB_PREPARE_THRESHOLD} with DB_POOLER={DB_POOLER}: PgBouncer's "
        "transaction pooling loses prepared statements between transactions; unset it"
    )
DATABASES["default"].update(
    CONN_MAX_AGE=0,
    # With the pool, this makes psycopg check a connection before lending it, so connections
    # broken by a PostgreSQL restart are replaced instead of failing requests (the fault tests
    # still see at most one failed request per process right after a restart).
    CONN_HEALTH_CHECKS=True,
    DISABLE_SERVER_SIDE_CURSORS=bool(DB_POOLER),
    OPTIONS={
        "pool": {
            "min_size": setting("DB_POOL_MIN_SIZE"),
            "max_size": setting("DB_POOL_MAX_SIZE"),
            # How long a request waits for a connection before it fails with a 503: bounded,
            # so an outage answers fast instead of hanging every worker.
            "timeout": setting("DB_POOL_TIMEOUT"),
        },
        "connect_timeout": setting("DB_CONNECT_TIMEOUT"),
        "prepare_threshold": DB_PREPARE_THRESHOLD,
        "server_side_binding": DB_PREPARE_THRESHOLD is not None,
    },
)

REDIS_URL = setting("REDIS_URL")

CHANNEL_LAYERS = {
    "default": {
        # channels-redis's Redis layer with rooms fanned out per process (core/layer.py).
        "BACKEND": "core.layer.RoomChannelLayer",
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
                    "max_connections": setting("REDIS_POOL_SIZE"),
                    "pool_timeout": 5,
                },
            ],
            # Per-channel queue bound: a slow consumer loses messages instead of growing Redis.
            "capacity": setting("CHANNEL_LAYER_CAPACITY"),
            "expiry": 60,
            "prefix": setting("CHANNEL_LAYER_PREFIX"),
        },
    }
}

# Largest WebSocket message a consumer accepts; bigger ones close the socket with 1009.
WS_MAX_MESSAGE_BYTES = setting("WS_MAX_MESSAGE_BYTES")

# A chat member may send WS_CHAT_RATE messages a second on average, in bursts of WS_CHAT_BURST;
# faster, its socket is closed with 1008. Far above anyone typing, far below a flood, which would
# otherwise hold its server process busy fanning messages out while others wait.
WS_CHAT_RATE = setting("WS_CHAT_RATE")
WS_CHAT_BURST = setting("WS_CHAT_BURST")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(setting("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Hashed file names let nginx serve /static/ with a one-year immutable cache header.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}

# nginx terminates the client connection and says which scheme the client used.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = False
SECURE_SSL_REDIRECT = setting("SECURE_SSL_REDIRECT")
SECURE_HSTS_SECONDS = setting("SECURE_HSTS_SECONDS")
SECURE_HSTS_INCLUDE_SUBDOMAINS = setting("SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = setting("SECURE_HSTS_PRELOAD")
SESSION_COOKIE_SECURE = setting("SECURE_COOKIES")
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
        # Hypercorn serves each connection as an asyncio stream, and cancels those still open when
        # GRACEFUL_TIMEOUT ends (a WebSocket through a reload). Python 3.11's stream callback then
        # calls exception() on the cancelled task, which raises: the loop logs a traceback per
        # connection, for a stop that went as configured. Python 3.12 closes the transport and
        # logs nothing (https://github.com/python/cpython/issues/113538); the line stays here.
        "cancelled-connection": {"()": "config.logfilters.WithoutTracebackOf",
                                 "exceptions": {"asyncio.exceptions.CancelledError": ""}},
        # Django 5.2's ASGIHandler.handle waits on two tasks of its own, the view and a listener
        # for the client's disconnect, and does not cancel them when it is cancelled itself (Daphne
        # cancels the requests still in flight when it stops). The orphaned listener then hears
        # the disconnect and raises RequestAborted into a task nobody awaits: asyncio logs "Task
        # exception was never retrieved" with a traceback. A client gone during a stop; the line
        # stays (https://github.com/django/django/pull/19366 moves handle to a TaskGroup).
        "orphaned-disconnect": {"()": "config.logfilters.WithoutTracebackOf",
                                "exceptions": {"django.core.exceptions.RequestAborted": ""}},
    },
    "root": {"handlers": ["stdout"], "level": setting("LOG_LEVEL")},
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
        "asyncio": {"filters": ["cancelled-connection", "orphaned-disconnect"]},
    },
}
