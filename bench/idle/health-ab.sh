#!/bin/bash
# GET /health, two binaries alternating: wrk -t2 -c64 (2 s warm-up, 8 s measured) per round, and
# the service's CPU per request from /proc/PID/stat over the measured run. Prints one line per run;
# nothing is asserted. Usage: bash bench/idle/health-ab.sh OLD_BIN NEW_BIN [ROUNDS=3]
set -euo pipefail
OLD=$1; NEW=$2; ROUNDS=${3:-3}
export JWT_SECRET=${JWT_SECRET:-0123456789abcdef0123456789} LOG_LEVEL=warn HOST=127.0.0.1
for r in $(seq "$ROUNDS"); do for which in old new; do
  bin=$OLD; [ "$which" = new ] && bin=$NEW
  dir=$(mktemp -d); port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  DATABASE_URL=sqlite:$dir/db.sqlite PORT=$port "$bin" serve >"$dir/out" 2>&1 & pid=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$port/ready"; do sleep 0.05; done
  wrk -t2 -c64 -d2s "http://127.0.0.1:$port/health" >/dev/null
  c0=$(awk '{print $14+$15}' /proc/$pid/stat)
  out=$(wrk -t2 -c64 -d8s "http://127.0.0.1:$port/health")
  c1=$(awk '{print $14+$15}' /proc/$pid/stat)
  rps=$(echo "$out" | awk '/Requests\/sec/{print $2}'); n=$(echo "$out" | awk '/requests in/{print $1}')
  tick=$(getconf CLK_TCK)
  echo "round=$r $which rps=$rps cpu_us_per_req=$(python3 -c "print(round(($c1-$c0)*1e6/$tick/$n,1))") load=$(cut -d' ' -f1 /proc/loadavg)"
  kill "$pid"; wait "$pid" || true; rm -rf "$dir"
done; done
