#!/usr/bin/env bash
# Runs the official Engine.IO v4 and Socket.IO v5 protocol test suites against
# tools/socketio-test-server (the service's own Engine.IO / Socket.IO code).
#   usage: run.sh <socketio-test-server binary>
# The suites are read from SOCKETIO_PROTOCOL_TESTS (default: ../shared/vendor/socketio-protocol-tests
# seen from the project root), never copied into the project: each run copies test-suite.js to a
# temporary directory with its URL constant pointed at the server's free port. Their npm
# dependencies are the ones pinned here (package-lock.json), installed by scripts/install-deps.sh:
# nothing is installed at test time.
# Passing: all 24 Engine.IO tests, and at least 30 of the 32 Socket.IO ones (the suite has races
# of its own with a 300 ms ping interval: a PING may arrive before the packet a test waits for,
# which fails a test now and then against the reference server too; see the suites' README).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
server_bin="${1:?usage: run.sh <socketio-test-server>}"
suites="${SOCKETIO_PROTOCOL_TESTS:-$root/../shared/vendor/socketio-protocol-tests}"
[ -f "$suites/engine.io/test-suite.js" ] || { echo "protocol suites not found in $suites (set SOCKETIO_PROTOCOL_TESTS)" >&2; exit 1; }
[ -x "$here/node_modules/.bin/mocha" ] || { echo "mocha missing: run scripts/install-deps.sh" >&2; exit 1; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$server_bin" --port 0 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
port=""
for _ in $(seq 1 100); do
  port="$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$work/server.out")"
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "the test server did not start" >&2; exit 1; }

# run_suite <name> → prints mocha's report, sets passing / failing
run_suite() {
  local name="$1" dir="$work/$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$suites/$name/node-imports.js" "$suites/$name/package.json" "$dir/"
  sed "s#^const URL = \"http://localhost:3000\";#const URL = \"http://127.0.0.1:$port\";#" \
    "$suites/$name/test-suite.js" >"$dir/test-suite.js"
  grep -q "127.0.0.1:$port" "$dir/test-suite.js" || { echo "$name: URL constant not found" >&2; exit 1; }
  ln -s "$here/node_modules" "$dir/node_modules"
  (cd "$dir" && "$here/node_modules/.bin/mocha" --reporter spec test-suite.js) >"$dir/report.txt" 2>&1 || true
  cat "$dir/report.txt"
  passing="$(sed -n 's/^ *\([0-9]*\) passing.*/\1/p' "$dir/report.txt")"
  failing="$(sed -n 's/^ *\([0-9]*\) failing.*/\1/p' "$dir/report.txt")"
  passing="${passing:-0}"
  failing="${failing:-0}"
}

run_suite engine.io
engine_passing=$passing engine_failing=$failing
run_suite socket.io
sio_passing=$passing sio_failing=$failing

echo "Engine.IO protocol suite: $engine_passing of $((engine_passing + engine_failing)) passed"
echo "Socket.IO protocol suite: $sio_passing of $((sio_passing + sio_failing)) passed"
status=0
if [ "$engine_passing" -ne 24 ] || [ "$engine_failing" -ne 0 ]; then
  echo "FAIL: every one of the 24 Engine.IO tests must pass" >&2; status=1
fi
if [ "$sio_passing" -lt 30 ] || [ $((sio_passing + sio_failing)) -ne 32 ]; then
  echo "FAIL: at least 30 of the 32 Socket.IO tests must pass" >&2; status=1
fi
kill -0 "$server_pid" 2>/dev/null || { echo "FAIL: the test server died" >&2; cat "$work/server.err" >&2; status=1; }
exit $status
