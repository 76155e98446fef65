#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the test suite, on 127.0.0.1, in
# a new folder, and prints the line to export:
#
#   eval "$(scripts/test-postgres.sh)"    # sets BROADSHEET_TEST_POSTGRES_URL
#   cargo test
#
# It needs Debian's `postgresql` package (installed when missing, as root).
# initdb refuses to run as root, so as root the server runs as the
# `postgres` user. Stop it with: pg_ctl -D "$BROADSHEET_TEST_POSTGRES_DIR/data" stop
set -euo pipefail
# A free port of 127.0.0.1 unless one is asked for: another server (or an
# earlier run of this script) may hold any fixed one.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT="${PGTEST_PORT:-$(free_port 54329 54429)}"
log() { printf '%s\n' "$*" >&2; }

bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [ -z "$bin" ]; then
    log "installing postgresql with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
fi
dir="$(mktemp -d /tmp/broadsheet-pg.XXXXXX)"
as_owner=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    as_owner=(runuser -u postgres --)
fi
"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
"${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $dir -c fsync=off -c max_connections=200" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
"$bin/psql" -q -h "$dir" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 <<SQL >/dev/null
CREATE ROLE broadsheet LOGIN PASSWORD 'broadsheet-test' CREATEDB;
CREATE DATABASE broadsheet OWNER broadsheet;
SQL
echo "export BROADSHEET_TEST_POSTGRES_URL=postgres://broadsheet:broadsheet-test@127.0.0.1:$PORT/broadsheet"
echo "export BROADSHEET_TEST_POSTGRES_DIR=$dir"
echo "export BROADSHEET_TEST_POSTGRES_BIN=$bin"
