#!/usr/bin/env bash
# Runs a command beside a throwaway TimescaleDB cluster (one per test run). The cluster's
# connection string is exported as TIDEMARK_TEST_PG; tests create a fresh database each.
set -euo pipefail

PG_BIN=${TIDEMARK_PG_BIN:-/usr/lib/postgresql/15/bin}
# Tests trade durability for speed; benchmarks set TIDEMARK_CLUSTER_DURABLE=1 to measure real commits.
if [ "${TIDEMARK_CLUSTER_DURABLE:-0}" = 1 ]; then durability="-c fsync=on"; else durability="-c fsync=off -c full_page_writes=off"; fi
dir=$(mktemp -d /tmp/tidemark-test.XXXXXX)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"

cleanup() {
  as_pg "$PG_BIN/pg_ctl" -D "$dir/pg" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

as_pg "$PG_BIN/initdb" -D "$dir/pg" -U postgres --auth-local=trust --auth-host=reject -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$dir/pg" -l "$dir/postgres.log" -w -t 60 start -o \
  "-c listen_addresses='' -k $dir -p 5432 -c shared_preload_libraries=timescaledb \
   -c timescaledb.max_background_workers=0 -c timescaledb.telemetry_level=off \
   -c max_connections=400 $durability -c max_wal_size=4GB" >/dev/null

export TIDEMARK_TEST_PG="host=$dir port=5432 user=postgres"
echo "test cluster: $TIDEMARK_TEST_PG" >&2
"$@"
