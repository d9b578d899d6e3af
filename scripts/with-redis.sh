#!/usr/bin/env bash
# Runs a command beside a throwaway Redis 7 server, for the tests that need a real one (the
# limiter and Redis client unit suites: ctest runs them through this script).
#
#   scripts/with-redis.sh COMMAND [ARGS...]
#
# Starts redis-server on a free loopback port (no persistence, its files in a temp dir), exports
# AAS_TEST_REDIS_URL=redis://127.0.0.1:PORT, runs the command, and always stops the server and
# removes the dir. The exit status is the command's. When AAS_TEST_REDIS_URL is already set, the
# command runs against that server instead and nothing is started.
# The server comes from Debian's redis-server (scripts/install-deps.sh); REDIS_SERVER overrides.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi
if [ -n "${AAS_TEST_REDIS_URL:-}" ]; then
  exec "$@"
fi

REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || true)}
if [ -z "$REDIS_SERVER" ] || [ ! -x "$REDIS_SERVER" ]; then
  echo "with-redis.sh: no redis-server: run scripts/install-deps.sh (redis-server)" >&2
  exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/aas-redis-XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for attempt in 1 2 3 4 5 6 7 8; do
  port=$((20000 + RANDOM % 40000))
  port_in_use "$port" && continue
  "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    --daemonize no --logfile "$dir/server.log" &
  pid=$!
  for _ in $(seq 1 100); do
    port_in_use "$port" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if port_in_use "$port" && kill -0 "$pid" 2>/dev/null; then
    break
  fi
  echo "with-redis.sh: start on port $port failed (attempt $attempt):" >&2
  tail -n 5 "$dir/server.log" >&2 || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
done
if [ -z "$pid" ]; then
  echo "with-redis.sh: could not start Redis" >&2
  exit 1
fi

export AAS_TEST_REDIS_URL="redis://127.0.0.1:$port"
echo "with-redis.sh: Redis $("$REDIS_SERVER" --version | awk '{print $3}' | cut -d= -f2) at $AAS_TEST_REDIS_URL" >&2
status=0
"$@" || status=$?
exit "$status"
