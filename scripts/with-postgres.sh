#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL 15 server, for the tests that need a real one (the
# Store conformance suite on PostgreSQL: ctest runs unit_store through this script).
#
#   scripts/with-postgres.sh COMMAND [ARGS...]
#
# initdb's a cluster in a temp dir (trust auth, loopback only, unix socket in the temp dir),
# starts it on a free port, exports AAS_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:PORT/postgres,
# runs the command, and always stops the server and removes the dir, whatever the command did.
# The exit status is the command's. When AAS_TEST_POSTGRES_URL is already set, the command runs
# against that server instead and nothing is started. PG_DURABLE=1 keeps fsync and
# synchronous_commit on (as in production: bench/compare.sh); tests leave them off.
#
# PostgreSQL refuses to run as root: as root the server runs as the `postgres` user (runuser).
# The server binaries come from Debian's postgresql-15 (scripts/install-deps.sh); PG_BIN overrides.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi
if [ -n "${AAS_TEST_POSTGRES_URL:-}" ]; then
  exec "$@"
fi

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
  echo "with-postgres.sh: no PostgreSQL server in $PG_BIN: run scripts/install-deps.sh (postgresql-15)" >&2
  exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/aas-pg-XXXXXX")
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$dir"
  as_pg=(runuser -u postgres --)
fi

started=0
cleanup() {
  if [ "$started" = 1 ]; then
    # A throwaway cluster: no need for a clean checkpoint.
    "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! "${as_pg[@]}" "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 \
    --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1; then
  cat "$dir/initdb.log" >&2
  exit 1
fi

# A free loopback port: pick one nothing answers on; if another process takes it before the
# server binds, starting fails and the next candidate is tried.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for attempt in 1 2 3 4 5 6 7 8; do
  port=$((20000 + RANDOM % 40000))
  port_in_use "$port" && continue
  # Durability is pointless for a throwaway test cluster; turning it off makes the tests faster.
  durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  [ "${PG_DURABLE:-0}" = 1 ] && durability=""
  if "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o \
      "-h 127.0.0.1 -p $port -k $dir $durability -c max_connections=200" \
      start >/dev/null; then
    started=1
    break
  fi
  echo "with-postgres.sh: start on port $port failed (attempt $attempt):" >&2
  tail -n 5 "$dir/server.log" >&2 || true
done
if [ "$started" != 1 ]; then
  echo "with-postgres.sh: could not start PostgreSQL" >&2
  exit 1
fi

export AAS_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/postgres"
echo "with-postgres.sh: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') at $AAS_TEST_POSTGRES_URL" >&2
status=0
"$@" || status=$?
exit "$status"
