#!/bin/sh
# Entrypoint of the redis stand-in (behaves like the official image's).
set -e

# `docker run standin/redis --save ""` / `... /path/redis.conf`
case "$1" in
    -*|*.conf) set -- redis-server "$@" ;;
esac

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' + 2>/dev/null || :
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "$1" = redis-server ]; then
    # The official image builds redis with protected mode off by default;
    # emulate that, still letting later arguments override it.
    shift
    case "${1:-}" in
        ''|-*) set -- redis-server --protected-mode no "$@" ;;
        *) conf=$1; shift; set -- redis-server "$conf" --protected-mode no "$@" ;;
    esac
fi

um=$(umask)
[ "$um" = 0022 ] && umask 0077

exec "$@"
