#!/usr/bin/env bash
# A throwaway PostgreSQL server for Deja's ledger tests: 127.0.0.1:15432, database `deja`, user `deja`.
#
#   scripts/postgres.sh start    install PostgreSQL (Debian's apt) if missing, create and start the cluster
#   scripts/postgres.sh stop     stop it (the data directory is kept; DEJA_PG_DIR to change it)
#   scripts/postgres.sh status   say whether it runs
#
# `start` prints DEJA_POSTGRES_URL=… for `export`. Idempotent: starting a running server only prints the URL.
set -euo pipefail

PGDIR="${DEJA_PG_DIR:-/tmp/deja-pg}"
DATA="$PGDIR/data"
PORT="${DEJA_PG_PORT:-15432}"
URL="postgres://deja:deja@127.0.0.1:$PORT/deja"

find_bindir() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        [[ -x "$dir/pg_ctl" ]] && { echo "$dir"; return 0; }
    done
    return 1
}

as_postgres() {
    if [[ "$(id -un)" == postgres ]]; then "$@"
    elif command -v runuser >/dev/null; then runuser -u postgres -- "$@"
    else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
}

install_postgres() {
    find_bindir >/dev/null && return 0
    echo "installing PostgreSQL with apt-get…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q postgresql >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; }
    find_bindir >/dev/null || { echo "PostgreSQL did not install" >&2; exit 1; }
}

is_running() {
    [[ -f "$DATA/postmaster.pid" ]] && as_postgres "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

start() {
    install_postgres
    BIN="$(find_bindir)"
    if ! is_running; then
        if [[ ! -f "$DATA/PG_VERSION" ]]; then
            mkdir -p "$PGDIR"
            chown postgres: "$PGDIR"
            chmod 700 "$PGDIR"
            printf 'postgres\n' >"$PGDIR/.pwfile"
            chown postgres: "$PGDIR/.pwfile"
            as_postgres "$BIN/initdb" -D "$DATA" -U postgres --pwfile="$PGDIR/.pwfile" -A scram-sha-256 \
                -E UTF8 --locale=C.UTF-8 >"$PGDIR/initdb.log" 2>&1 \
                || { cat "$PGDIR/initdb.log" >&2; exit 1; }
            cat >>"$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$PGDIR'
max_connections = 300
fsync = on
CONF
        fi
        as_postgres "$BIN/pg_ctl" -D "$DATA" -l "$PGDIR/server.log" -w -t 60 start >/dev/null \
            || { tail -20 "$PGDIR/server.log" >&2; exit 1; }
    fi
    for _ in $(seq 1 60); do
        "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
        sleep 0.5
    done
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" || { echo "PostgreSQL is not accepting connections" >&2; exit 1; }
    # Role and database, once.
    local psql=("$BIN/psql" -h "$PGDIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt)
    if [[ "$(as_postgres env PGPASSWORD=postgres "${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'deja'")" != 1 ]]; then
        as_postgres env PGPASSWORD=postgres "${psql[@]}" -c "CREATE ROLE deja LOGIN PASSWORD 'deja'" >/dev/null
    fi
    if [[ "$(as_postgres env PGPASSWORD=postgres "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'deja'")" != 1 ]]; then
        as_postgres env PGPASSWORD=postgres "${psql[@]}" -c "CREATE DATABASE deja OWNER deja" >/dev/null
    fi
    echo "DEJA_POSTGRES_URL=$URL"
}

stop() {
    BIN="$(find_bindir)" || { echo "PostgreSQL is not installed" >&2; return 0; }
    if is_running; then
        as_postgres "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
        echo "stopped"
    else
        echo "not running"
    fi
}

status() {
    BIN="$(find_bindir)" || { echo "not installed"; exit 3; }
    if is_running; then echo "running: DEJA_POSTGRES_URL=$URL"; else echo "not running"; exit 3; fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
