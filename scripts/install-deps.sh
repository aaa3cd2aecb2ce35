#!/usr/bin/env bash
# Installs what Tidemark needs on Debian 12: PostgreSQL 15 and TimescaleDB (Apache edition),
# the latter built from Debian 13's source package. Idempotent: a second run does nothing.
set -euo pipefail

PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

log() { printf '[install-deps] %s\n' "$*" >&2; }

have_timescaledb() {
  [ -f "/usr/share/postgresql/$PG_MAJOR/extension/timescaledb.control" ] &&
    ls /usr/lib/postgresql/$PG_MAJOR/lib/timescaledb*.so >/dev/null 2>&1
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ ! -x "$PG_BIN/postgres" ]; then
  log "installing PostgreSQL $PG_MAJOR"
  apt_install "postgresql-$PG_MAJOR" "postgresql-client-$PG_MAJOR"
fi

if have_timescaledb; then
  log "TimescaleDB present"
else
  log "building TimescaleDB from Debian 13 source (about 20 s of compile)"
  apt_install "postgresql-server-dev-$PG_MAJOR" cmake dpkg-dev build-essential libssl-dev ca-certificates
  state=$(mktemp -d /tmp/tidemark-apt.XXXXXX)
  trap 'rm -rf "$state"' EXIT
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/src"
  echo "deb-src http://deb.debian.org/debian trixie main" >"$state/sources.list"
  apt_opts=(
    -o "Dir::Etc::SourceList=$state/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$state/lists"
    -o "Dir::Cache=$state/cache"
    -o "APT::Sandbox::User=root"
  )
  apt-get "${apt_opts[@]}" update -qq
  (cd "$state/src" && apt-get "${apt_opts[@]}" source --download-only -qq timescaledb)
  (cd "$state/src" && dpkg-source -x --no-check ./timescaledb_*.dsc tsdb >/dev/null)
  (
    cd "$state/src/tsdb"
    ./bootstrap -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DAPACHE_ONLY=ON -DWARNINGS_AS_ERRORS=OFF \
      -DPG_CONFIG="$PG_BIN/pg_config" >/dev/null
    make -C build -j"$(nproc)" >/dev/null
    $SUDO make -C build install >/dev/null
  )
  have_timescaledb || { log "TimescaleDB build finished but the extension is not installed"; exit 1; }
  log "TimescaleDB installed"
fi

# Test and bench tools from PyPI: an S3-compatible server for the cold tier's S3 test, and
# DuckDB as the cold-hunt benchmark's anchor. Only `make test` and the benches ask for them.
if [ "${TIDEMARK_TEST_DEPS:-0}" = 1 ]; then
  if ! command -v moto_server >/dev/null 2>&1; then
    log "installing moto[server] (S3-compatible test server) from PyPI"
    python3 -m pip install -q "moto[server]" 2>&1 | grep -v "Running pip as the 'root' user" >&2 || true
    command -v moto_server >/dev/null 2>&1 || { log "moto_server is still missing"; exit 1; }
  fi
fi
if [ "${TIDEMARK_BENCH_DEPS:-0}" = 1 ]; then
  if ! python3 -c "import duckdb, pytz" >/dev/null 2>&1; then
    log "installing duckdb (benchmark anchor) from PyPI"
    python3 -m pip install -q duckdb pytz 2>&1 | grep -v "Running pip as the 'root' user" >&2 || true
    python3 -c 'import duckdb' || { log "duckdb is still missing"; exit 1; }
  fi
fi
