#!/bin/sh
# Entrypoint of the nginx stand-in: like the official image, run the hooks in
# /docker-entrypoint.d/ (*.envsh sourced, *.sh executed, in version order)
# when the command is nginx, then exec the command.
set -e

entrypoint_log() {
    [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || echo "$@"
}

if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
    for f in $(find /docker-entrypoint.d/ -follow -type f -print | sort -V); do
        case "$f" in
            *.envsh|*.sh)
                if [ ! -x "$f" ]; then
                    entrypoint_log "$0: Ignoring $f, not executable"
                elif [ "${f%.envsh}" != "$f" ]; then
                    entrypoint_log "$0: Sourcing $f"
                    . "$f"
                else
                    entrypoint_log "$0: Launching $f"
                    "$f"
                fi ;;
            *) entrypoint_log "$0: Ignoring $f" ;;
        esac
    done
    entrypoint_log "$0: Configuration complete; ready for start up"
fi

exec "$@"
