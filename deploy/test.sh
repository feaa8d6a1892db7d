#!/usr/bin/env bash
# Runs every test against real services: installs what is missing, then `cargo test`.
# Tests create a fresh database per test on DATABASE_URL's server, else on 127.0.0.1:5432
# (user postgres), else in a private cluster they start; each test starts its own Mosquitto.
#
#   deploy/test.sh [cargo test options]
#       plain PostgreSQL: readings in monthly partitions.
#   deploy/test.sh --timescaledb [cargo test options]
#       TimescaleDB: installs it with $TIMESCALEDB_INSTALL (default: shared/timescaledb/install.sh
#       in the folder that holds this repository), starts a private cluster with it preloaded on
#       a free port (from $GEOHAZARD_TIMESCALEDB_PORT, default 54330), runs the same tests
#       against it, then removes the cluster.
# Tests whose subject depends on the storage mode run in both modes when the server has
# TimescaleDB, in the partitioned mode only otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh

if [ "${1:-}" != "--timescaledb" ]; then
  if [ -n "${DATABASE_URL:-}" ]; then
    echo "deploy/test.sh: testing against DATABASE_URL's server"
  else
    echo "deploy/test.sh: testing against plain PostgreSQL only (no TimescaleDB);" \
      "deploy/test.sh --timescaledb runs the TimescaleDB pass"
  fi
  exec cargo test --workspace --all-targets "$@"
fi
shift

install="${TIMESCALEDB_INSTALL:-$(cd .. && pwd)/shared/timescaledb/install.sh}"
if [ ! -f "$install" ]; then
  echo "deploy/test.sh: no TimescaleDB install script at $install (set TIMESCALEDB_INSTALL)" >&2
  exit 1
fi
as_root=()
[ "$(id -u)" -ne 0 ] && as_root=(sudo)
"${as_root[@]}" bash "$install"

# PostgreSQL refuses to run as root: then the cluster runs as Debian's postgres user.
as_postgres=()
dir="$(mktemp -d "${TMPDIR:-/tmp}/geohazard-timescaledb-test.XXXXXX")"
if [ "$(id -u)" -eq 0 ]; then
  chmod 755 "$dir"
  chown postgres:postgres "$dir"
  as_postgres=(runuser -u postgres --)
fi
bindir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
port="${GEOHAZARD_TIMESCALEDB_PORT:-54330}"
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done

stop_cluster() {
  "${as_postgres[@]}" "$bindir/pg_ctl" -D "$dir/pgdata" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop_cluster EXIT
"${as_postgres[@]}" "$bindir/initdb" -D "$dir/pgdata" -U postgres -A trust -E UTF8 --locale=C \
  --no-sync >"$dir/initdb.log"
# A throw-away cluster: no fsync. Every test database starts a TimescaleDB scheduler, so give
# background workers room.
options=(-p "$port" -c listen_addresses=127.0.0.1 -c "unix_socket_directories=''"
  -c max_connections=300 -c shared_preload_libraries=timescaledb -c max_worker_processes=32
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off)
"${as_postgres[@]}" "$bindir/pg_ctl" -D "$dir/pgdata" -l "$dir/postgres.log" -w -t 60 \
  -o "${options[*]}" start >/dev/null

echo "deploy/test.sh: TimescaleDB pass, against a private cluster on 127.0.0.1:$port"
export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
export GEOHAZARD_TEST_TIMESCALEDB=require
cargo test --workspace --all-targets "$@"
