#!/usr/bin/env bash
# Chat turns per second by deployment shape (issue 5); the results are in docs/benchmarks.md.
#
#   bash bench/cluster/run.sh [BINARY]        (default build/release/ai-agent-service)
#
# Every scenario is POST /api/ai/chat with a new conversation per request on the offline mock
# model (bench/wrk/chat_new.lua: per turn two store writes, a context read, the limiter's acquire
# and settle, the ledger row), driven by wrk -t2 -cCL_CONNS for CL_DURATION s, CL_RUNS times:
#   sqlite-1              one replica on a SQLite file (the embedded default)
#   postgres-1            one replica on PostgreSQL 15
#   postgres-redis-1      one replica on PostgreSQL + Redis (limits in Redis, events published)
#   caddy-1               the same replica behind Caddy (deploy/Caddyfile): the proxy's cost
#   caddy-3               three replicas on one PostgreSQL + one Redis behind Caddy (round robin)
# PostgreSQL and Redis are throwaway servers on loopback (scripts/with-postgres.sh and
# scripts/with-redis.sh; durability off, as in the tests): the figures compare shapes on this
# machine, not a tuned production database. Each scenario gets a new database and an empty Redis.
# Everything shares the machine's cores with wrk: with 2 cores, three replicas cannot add capacity,
# so caddy-3 against caddy-1 shows what spreading costs, not what more machines would give.
# Nothing here asserts a timing. Knobs: CL_RUNS=3 CL_DURATION=10 CL_CONNS=32
# CL_SCENARIOS="sqlite-1 postgres-1 postgres-redis-1 caddy-1 caddy-3" THREADS (per replica)
# BENCH_MAX_BUSY=25 BENCH_MAX_WAIT=60 BENCH_OUT=DIR
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$(dirname "$here")"
root="$(dirname "$bench")"
bin="${1:-$root/build/release/ai-agent-service}"
[[ "$bin" == /* ]] || bin="$PWD/$bin"
. "$bench/lib.sh"
bench_require cluster/run.sh "$bin" -- wrk curl python3 psql redis-cli caddy

# The servers: started once around the whole run.
if [ -z "${AAS_TEST_POSTGRES_URL:-}" ]; then exec bash "$root/scripts/with-postgres.sh" bash "$0" "$bin"; fi
if [ -z "${AAS_TEST_REDIS_URL:-}" ]; then exec bash "$root/scripts/with-redis.sh" bash "$0" "$bin"; fi

runs="${CL_RUNS:-3}"
duration="${CL_DURATION:-10}"
conns="${CL_CONNS:-32}"
scenarios="${CL_SCENARIOS:-sqlite-1 postgres-1 postgres-redis-1 caddy-1 caddy-3}"
max_busy="${BENCH_MAX_BUSY:-25}"
max_wait="${BENCH_MAX_WAIT:-60}"
bench_setup cluster
export LOG_LEVEL=warn

pids=()
caddy_pid=""
cleanup() {
  for p in "${pids[@]}" "$caddy_pid"; do stop_pid "$p"; done
  rm -rf "$work"
}
trap cleanup EXIT

bench_py() { python3 "$bench/bench.py" "$@"; }
record() { echo "$1" >>"$results"; }

# wait_ready PORT [PATH]
wait_ready() {
  for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$1${2:-/ready}" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "cluster/run.sh: nothing ready on port $1" >&2
  return 1
}

new_database() {
  local name="bench_${1//-/_}_$RANDOM$RANDOM"
  psql "$AAS_TEST_POSTGRES_URL" -qc "CREATE DATABASE $name" >/dev/null
  python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' \
    "$AAS_TEST_POSTGRES_URL" "$name"
}

# start_replicas SCENARIO COUNT DATABASE_URL [REDIS_URL]: ports in $ports, pids in $pids.
ports=()
start_replicas() {
  local scenario="$1" count="$2" db="$3" redis="${4:-}"
  ports=(); pids=()
  for i in $(seq 1 "$count"); do
    local port; port="$(bench_py free-port)"
    PORT="$port" HOST=127.0.0.1 DATABASE_URL="$db" REDIS_URL="$redis" \
      "$bin" serve >/dev/null 2>"$work/$scenario-$i.stderr" &
    pids+=($!); ports+=("$port")
    # The first one migrates the new database; the others find it done.
    wait_ready "$port"
  done
}

# start_caddy: deploy/Caddyfile in front of $ports, listening on $caddy_port.
start_caddy() {
  caddy_port="$(bench_py free-port)"
  local dir="$work/caddy"; mkdir -p "$dir"
  local upstreams=""; for p in "${ports[@]}"; do upstreams+="127.0.0.1:$p "; done
  env -i PATH="$PATH" HOME="$dir" XDG_CONFIG_HOME="$dir" XDG_DATA_HOME="$dir" CADDY_ADMIN=off \
    CADDY_ADDRESS=":$caddy_port" AI_UPSTREAMS="$upstreams" BACKEND_UPSTREAMS="127.0.0.1:9" \
    caddy adapt --config "$root/deploy/Caddyfile" --adapter caddyfile >"$dir/adapted.json" 2>"$dir/adapt.log"
  # The file binds every interface, as a container should; here only loopback.
  python3 - "$dir/adapted.json" "$caddy_port" <<'PY'
import json, sys
path, port = sys.argv[1], sys.argv[2]
cfg = json.load(open(path))
for server in cfg["apps"]["http"]["servers"].values():
    server["listen"] = [f"127.0.0.1:{port}"]
json.dump(cfg, open(path, "w"))
PY
  env -i PATH="$PATH" HOME="$dir" XDG_CONFIG_HOME="$dir" XDG_DATA_HOME="$dir" \
    caddy run --config "$dir/adapted.json" >"$dir/caddy.log" 2>&1 &
  caddy_pid=$!
  wait_ready "$caddy_port" /health  # answered by Caddy itself
}

stop_all() {
  for p in "${pids[@]}" "$caddy_pid"; do stop_pid "$p"; done
  pids=(); caddy_pid=""
}

measure() {
  local scenario="$1" url="$2"
  local token; token="$("$bin" token --user "bench-$scenario" --ttl 2h)"
  local all_pids=(); for p in "${pids[@]}" "$caddy_pid"; do [ -n "$p" ] && all_pids+=(--pid "$p"); done
  BENCH_TOKEN="$token" wrk -t2 -c"$conns" -d2s --timeout 5s -s "$bench/wrk/chat_new.lua" "$url" >/dev/null
  for i in $(seq 1 "$runs"); do
    local busy; busy="$(bench_py quiet --max-busy "$max_busy" --max-wait "$max_wait")"
    local line
    line="$(BENCH_TOKEN="$token" bench_py wrk "${all_pids[@]}" -- wrk -t2 -c"$conns" -d"${duration}s" --timeout 5s \
      -s "$bench/wrk/chat_new.lua" "$url")"
    line="{\"scenario\":\"$scenario\",\"conns\":$conns,\"threads\":2,\"run\":$i,\"loadavg\":\"$(loadavg)\",\"otherBusyPct\":$busy,${line#\{}"
    record "$line"
    echo "$line" | bench_py describe
  done
}

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
record "{\"scenario\":\"meta\",\"when\":\"$(date -u +%FT%TZ)\",\"binary\":\"$bin\",\"nproc\":$(nproc),\"cpu\":\"$cpu\",\"loadavg\":\"$(loadavg)\",\"runs\":$runs,\"durationS\":$duration}"
echo "chat turns by deployment shape: $bin; $(nproc) cores, load $(loadavg); results -> $results"

for scenario in $scenarios; do
  redis-cli -u "$AAS_TEST_REDIS_URL" FLUSHALL >/dev/null
  case "$scenario" in
    sqlite-1)         start_replicas "$scenario" 1 "sqlite:$work/$scenario.db" ;;
    postgres-1)       start_replicas "$scenario" 1 "$(new_database "$scenario")" ;;
    postgres-redis-1) start_replicas "$scenario" 1 "$(new_database "$scenario")" "$AAS_TEST_REDIS_URL" ;;
    caddy-1)          start_replicas "$scenario" 1 "$(new_database "$scenario")" "$AAS_TEST_REDIS_URL"; start_caddy ;;
    caddy-3)          start_replicas "$scenario" 3 "$(new_database "$scenario")" "$AAS_TEST_REDIS_URL"; start_caddy ;;
    *) echo "cluster/run.sh: unknown scenario $scenario" >&2; exit 2 ;;
  esac
  echo "$scenario"
  if [ -n "$caddy_pid" ]; then measure "$scenario" "http://127.0.0.1:$caddy_port/api/ai/chat"
  else measure "$scenario" "http://127.0.0.1:${ports[0]}/api/ai/chat"; fi
  stop_all
done

python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("\nmedians over runs (turns/s, p50 ms, p99 ms, non-2xx, CPU % of a core of the service processes)")
order = []
for r in rows:
    if "rps" in r and r["scenario"] not in order:
        order.append(r["scenario"])
for s in order:
    rs = [r for r in rows if r.get("scenario") == s and "rps" in r]
    med = lambda k: statistics.median(r[k] for r in rs)
    print(f"  {s:<18} {med('rps'):8.0f} turns/s  p50 {med('p50Ms'):6.2f}  p99 {med('p99Ms'):7.2f}  "
          f"non-2xx {sum(r['non2xx'] for r in rs)}  service cpu {med('serverCpuPct')}%  "
          f"(runs: {', '.join(str(round(r['rps'])) for r in rs)})")
PY
