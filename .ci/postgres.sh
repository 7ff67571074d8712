#!/usr/bin/env bash
# Start a PostgreSQL server on loopback for the multi-worker search tests and print its URL.
#
# Idempotent (safe to run again while the server runs). Installs Debian's `postgresql` when it is
# missing (needs root), listens on 127.0.0.1 only, and creates the role and database below.
# Stdout is exactly one line, the SQLAlchemy URL; everything else goes to stderr.
#   MSNAS_PG_PORT (default 5432), MSNAS_PG_USER (default msnas), MSNAS_PG_PASSWORD (default msnas-ci-Pw7e2f), MSNAS_PG_DB (msnas_test)
set -euo pipefail

PORT="${MSNAS_PG_PORT:-5432}"
USER_NAME="${MSNAS_PG_USER:-msnas}"
PASSWORD="${MSNAS_PG_PASSWORD:-msnas-ci-Pw7e2f}"  # distinctive: tests grep every output for it
DB="${MSNAS_PG_DB:-msnas_test}"
CLUSTER=main

log() { echo "postgres.sh: $*" >&2; }

if ! command -v pg_ctlcluster >/dev/null || ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
    log "installing Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

# the newest installed server (a client alone also has a folder there)
VERSION="$(for d in /usr/lib/postgresql/*/bin/postgres; do basename "${d%/bin/postgres}"; done | sort -V | tail -n 1)"
if ! pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {found = 1} END {exit !found}'; then
    log "creating cluster $VERSION/$CLUSTER"
    pg_createcluster "$VERSION" "$CLUSTER" >/dev/null
fi

# Loopback only, on the chosen port (a drop-in, since Debian's postgresql.conf reads conf.d/ last);
# a running server is restarted only when that changed.
CONF="/etc/postgresql/$VERSION/$CLUSTER/conf.d/msnas.conf"
WANT="$(printf "listen_addresses = '127.0.0.1'\nport = %s\n" "$PORT")"
changed=0
if [ "$(cat "$CONF" 2>/dev/null || true)" != "$WANT" ]; then
    printf '%s\n' "$WANT" >"$CONF"
    changed=1
fi
status="$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $4}')"
if [ "$status" = online ] && [ "$changed" = 1 ]; then
    log "restarting cluster $VERSION/$CLUSTER (settings changed)"
    pg_ctlcluster "$VERSION" "$CLUSTER" restart >&2
elif [ "$status" != online ]; then
    log "starting cluster $VERSION/$CLUSTER on 127.0.0.1:$PORT"
    pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi
pg_isready -q -h 127.0.0.1 -p "$PORT" -t 60 || { log "server not ready on 127.0.0.1:$PORT"; exit 1; }

psql_admin() { (cd / && runuser -u postgres -- psql -p "$PORT" -v ON_ERROR_STOP=1 -qAtX "$@"); }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$USER_NAME'")" != 1 ]; then
    psql_admin -c "CREATE ROLE \"$USER_NAME\" LOGIN PASSWORD '$PASSWORD'"
else
    psql_admin -c "ALTER ROLE \"$USER_NAME\" LOGIN PASSWORD '$PASSWORD'"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
    psql_admin -c "CREATE DATABASE \"$DB\" OWNER \"$USER_NAME\""
fi
# Debian's pg_hba.conf accepts password logins over TCP from 127.0.0.1: check the URL really works.
PGPASSWORD="$PASSWORD" psql -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" -d "$DB" -qAtX -c "SELECT 1" >/dev/null

echo "postgresql+psycopg2://$USER_NAME:$PASSWORD@127.0.0.1:$PORT/$DB"
