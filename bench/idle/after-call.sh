#!/bin/bash
# Idle VmRSS 1 s after /ready first answers 200, then 2 s after one stored chat turn (the offline
# mock model), on an existing SQLite database. Nothing is asserted.
# Usage: bash bench/idle/after-call.sh BIN [RUNS=3]
set -euo pipefail
BIN=$1; RUNS=${2:-3}
for i in $(seq "$RUNS"); do
  dir=$(mktemp -d); port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  export DATABASE_URL=sqlite:$dir/db.sqlite PORT=$port HOST=127.0.0.1 LOG_LEVEL=warn
  export JWT_SECRET=${JWT_SECRET:-0123456789abcdef0123456789}
  "$BIN" migrate >/dev/null 2>&1
  "$BIN" serve >"$dir/out" 2>&1 & pid=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$port/ready"; do sleep 0.02; done
  sleep 1; idle=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
  token=$("$BIN" token --user rss-probe 2>/dev/null)
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"message":"hello there"}' "http://127.0.0.1:$port/api/ai/chat")
  sleep 2; after=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
  echo "run=$i idle_MiB=$(python3 -c "print(round($idle/1024,2))") after_one_chat_MiB=$(python3 -c "print(round($after/1024,2))") chat_status=$code"
  kill "$pid"; wait "$pid" || true; rm -rf "$dir"
done
