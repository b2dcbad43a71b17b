# The app image: one Django codebase, every app server. Which server a container runs is its
# command, the start script servers.toml names (gunicorn/start, uvicorn/start, ...) plus that
# server's environment; docker-compose.yml runs one container per server and a one-shot
# `migrate`, all from this image.
#
#   docker build -t django-servers/app .
#
# Written for the classic builder as well as BuildKit: no `# syntax=` line, no RUN --mount.
#
# Build arguments:
#   PYTHON_IMAGE  base image; any Debian-based CPython 3.11 with `python -m venv` works
#   WHEELS_ONLY   1: install from ./wheels only, no index (Debian's apt mirror is still used for
#                 the compiler). Make the wheelhouse on a machine that has PyPI: the wheels of
#                 requirements/app.txt and build.txt for the image's Python and platform, plus
#                 uWSGI's source distribution (tests/stacks.py does it; tests/containers/README.md).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: the virtualenv, in its own stage so pip, the compiler and caches stay out ----
FROM ${PYTHON_IMAGE} AS builder

ARG WHEELS_ONLY=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# uWSGI has no wheel on PyPI: it compiles from its source distribution here, the one stage with
# a compiler. It builds in PCRE2 (its routing) and OpenSSL when their headers are found, so
# both are installed, and the build fails below if either was left out.
COPY requirements/install-compiler /usr/local/bin/
RUN install-compiler libpcre2-dev libssl-dev

# `wheel[s]` makes ./wheels optional: COPY fails only when no source matches at all, and
# requirements/app.txt always does. Without ./wheels, /build holds just the lock files.
COPY requirements/app.txt requirements/build.txt wheel[s] /build/

# Wheels only (--only-binary), but for uWSGI: a package without a wheel for this platform
# should fail here, by name, not halfway through a C build. PIP_CONSTRAINT pins what pip puts
# into uWSGI's isolated build environment (setuptools, wheel) to requirements/build.txt.
# pip check: the lock is complete and consistent. pip and setuptools then leave the venv:
# nothing imports them at run time.
RUN set -eux; \
    if [ "$WHEELS_ONLY" = 1 ]; then index="--no-index"; else index=""; fi; \
    python -m venv /opt/venv; \
    PIP_CONSTRAINT=/build/build.txt /opt/venv/bin/pip install $index --find-links /build \
        --only-binary=:all: --no-binary=uwsgi --require-virtualenv -r /build/app.txt; \
    /opt/venv/bin/pip check; \
    /opt/venv/bin/uwsgi --cflags | grep -q -- -DUWSGI_PCRE2; \
    /opt/venv/bin/uwsgi --cflags | grep -q -- -DUWSGI_SSL; \
    /opt/venv/bin/pip uninstall -y -q pip setuptools

# ---- final: the venv and the code, nothing else ----
FROM ${PYTHON_IMAGE}

# PATH: the venv's python and every server (gunicorn, uvicorn, uwsgi, ...) come first.
# PYTHONDONTWRITEBYTECODE: the root filesystem is read-only at run time; the bytecode is
# compiled below, at build time, instead.
# STATIC_ROOT: collectstatic's output and its manifest, which {% static %} reads at run time.
# XDG_RUNTIME_DIR: where Gunicorn puts its control socket (`gunicornc`); its fallback, the home
# folder, does not exist for the app user.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STATIC_ROOT=/srv/static \
    XDG_RUNTIME_DIR=/tmp \
    HOST=0.0.0.0 \
    PORT=8000

# A fixed uid, so volume permissions and `docker inspect` checks do not depend on the base.
RUN set -eux; \
    groupadd --system --gid 10001 app; \
    useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv
# uWSGI links PCRE2, OpenSSL and libpython at run time: all must be in this stage's base.
RUN set -eux; \
    if ldd /opt/venv/bin/uwsgi | grep 'not found'; then \
        echo "uwsgi needs the libraries above, which the base image lacks" >&2; exit 1; \
    fi

# The repository layout, minus what the servers do not need: the start scripts find the code
# as ../app, and servers.toml's commands are relative to this folder. Owned by root and not
# writable by the app user.
WORKDIR /app
COPY servers.toml settings.toml ./
COPY app/ app/
COPY gunicorn/ gunicorn/
COPY uvicorn/ uvicorn/
COPY daphne/ daphne/
COPY granian/ granian/
COPY uwsgi/ uwsgi/
COPY hypercorn/ hypercorn/

# collectstatic needs settings, and settings need a SECRET_KEY: a throwaway one, given to this
# RUN only, so no key is ever stored in the image (the real one comes from the environment).
# The static files end up twice: here for the manifest Django reads, and in the nginx image
# (nginx/Dockerfile copies them from this image), which serves them.
RUN set -eux; \
    SECRET_KEY=collectstatic-at-build-time-only python app/manage.py collectstatic --noinput -v 0; \
    test -s /srv/static/staticfiles.json; \
    python -m compileall -q app

USER 10001:10001
EXPOSE 8000

# Liveness only: /healthz does no I/O, so a database outage shows in /readyz and does not make
# Docker (or an orchestrator) restart app servers. There is no curl in the slim image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

# Every server here shuts down gracefully on SIGTERM (Docker's default, stated for the reader).
STOPSIGNAL SIGTERM
CMD ["/app/gunicorn/start"]
