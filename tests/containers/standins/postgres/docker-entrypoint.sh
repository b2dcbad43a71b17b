#!/usr/bin/env bash
# Entrypoint of the postgres stand-in: a small re-implementation of the
# official image's first-run initialisation, then `exec postgres`.
set -Eeuo pipefail

log() { printf '%s [entrypoint] %s\n' "$(date '+%F %T')" "$*"; }

# VAR or VAR_FILE (not both), with a default.
file_env() {
    local var=$1 file_var="${1}_FILE" def=${2:-} val
    if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
        log "error: both $var and $file_var are set (but are exclusive)" >&2
        exit 1
    fi
    val=$def
    if [ -n "${!var:-}" ]; then
        val=${!var}
    elif [ -n "${!file_var:-}" ]; then
        val=$(< "${!file_var}")
    fi
    export "$var"="$val"
    unset "$file_var"
}

if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
    exec "$@"
fi

: "${PGDATA:?PGDATA must be set}"

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    chmod 3777 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
        cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       Set POSTGRES_PASSWORD to a non-empty value for the superuser, or
       POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a
       password (not recommended).
MSG
        exit 1
    fi

    chmod 700 "$PGDATA" 2>/dev/null || :
    initdb_args=(--username="$POSTGRES_USER" --auth-local=trust --auth-host=trust)
    # POSTGRES_INITDB_ARGS is word-split on purpose, like the official image.
    # (The <(...) must be on the initdb command line: its fd closes after it.)
    # shellcheck disable=SC2086
    if [ -n "$POSTGRES_PASSWORD" ]; then
        initdb "${initdb_args[@]}" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") $POSTGRES_INITDB_ARGS
    else
        initdb "${initdb_args[@]}" $POSTGRES_INITDB_ARGS
    fi

    printf '\nhost all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"

    # Temporary server on the unix socket only.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
    psql_cmd=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
    if [ "$POSTGRES_DB" != postgres ]; then
        exists=$("${psql_cmd[@]}" --dbname postgres -tAc \
            "SELECT 1 FROM pg_database WHERE datname = '${POSTGRES_DB//\'/\'\'}'")
        if [ -z "$exists" ]; then
            "${psql_cmd[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
        fi
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        [ -e "$f" ] || continue
        case "$f" in
            *.sh)
                if [ -x "$f" ]; then log "running $f"; "$f"
                else log "sourcing $f"; . "$f"; fi ;;
            *.sql) log "running $f"; "${psql_cmd[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sql.gz) log "running $f"; gunzip -c "$f" | "${psql_cmd[@]}" --dbname "$POSTGRES_DB" ;;
            *) log "ignoring $f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    log "PostgreSQL init process complete; ready for start up."
else
    log "PostgreSQL database directory appears to contain a database; skipping initialization"
fi

exec "$@"
