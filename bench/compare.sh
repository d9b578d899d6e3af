#!/usr/bin/env bash
# A/B comparison of two service binaries on this machine (issue 16): every change is measured
# against the landed binary in the SAME run, interleaved, so the load of a shared machine hits
# both alike. The ratios (new / old) are what count; docs/benchmarks.md keeps the latest table.
#
#   bash bench/compare.sh OLD_BIN NEW_BIN
#
# For each round (CMP_ROUNDS) and each scenario, OLD and NEW run one after the other (A B in odd
# rounds, B A in even ones, so neither always goes first), each on a fresh service with a fresh
# database, a 2 s warm-up and one measured run. Scenarios (CMP_SCENARIOS):
#   chat-sqlite  POST /api/ai/chat, a new conversation per request, offline mock model (as in
#                bench/run.sh), SQLite
#                (wrk -c CMP_CONNS, bench/wrk/chat_new.lua): stored chat turns/s, p50/p99
#   chat-pg      the same on PostgreSQL (a new database per run on a cluster started by
#                scripts/with-postgres.sh with PG_DURABLE=1: fsync and synchronous_commit on, as
#                in production; CMP_PG_FAST=1 keeps the test cluster's fsync=off instead)
#   gateway      POST /api/ai/v1/chat/completions to mock-llm, closed loop (wrk -c CMP_CONNS)
#   gateway-rate the same at a fixed CMP_GW_RATE req/s (open loop, load.mjs rate): p50/p99
#   streams      CMP_STREAMS concurrent gateway streams at CMP_STREAM_TPS tokens/s held
#                CMP_STREAM_HOLD s (load.mjs streams): RSS per stream, service CPU µs per token
#   health       GET /health (wrk -c CMP_CONNS)
# One mock-llm (beside NEW, or CMP_MOCK) serves both binaries. Nothing here asserts a timing.
#
# Knobs: CMP_ROUNDS=3 CMP_DURATION=10 CMP_CONNS=32 CMP_GW_RATE=1000 CMP_STREAMS=1000
#        CMP_STREAM_TPS=20 CMP_STREAM_HOLD=10 CMP_SCENARIOS="chat-sqlite chat-pg gateway
#        gateway-rate streams health" CMP_MOCK=PATH BENCH_OUT=DIR THREADS (passed to the service)
# Output: bench-results/compare-TIMESTAMP.jsonl beside NEW (one line per run) and a table of
# medians and ratios (also written as compare-TIMESTAMP.md).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
if [ $# -ne 2 ]; then
  echo "usage: $0 OLD_BIN NEW_BIN" >&2
  exit 2
fi
old="$1"; new="$2"
[[ "$old" == /* ]] || old="$PWD/$old"
[[ "$new" == /* ]] || new="$PWD/$new"
scenarios=" ${CMP_SCENARIOS:-chat-sqlite chat-pg gateway gateway-rate streams health} "

# PostgreSQL: run the whole comparison beside one throwaway cluster (durable unless CMP_PG_FAST).
if [[ "$scenarios" == *" chat-pg "* && -z "${AAS_TEST_POSTGRES_URL:-}" ]]; then
  if [ "${CMP_PG_FAST:-0}" = 1 ]; then export PG_DURABLE=0; else export PG_DURABLE=1; fi
  exec bash "$root/scripts/with-postgres.sh" bash "${BASH_SOURCE[0]}" "$old" "$new"
fi

# Streams need ~3 fds each (client, service, upstream), the open-loop gateway client one a request.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bin="$new"
mock_bin="${CMP_MOCK:-$(dirname "$new")/mock-llm}"
. "$here/lib.sh"
bench_require compare.sh "$old" "$new" "$mock_bin" -- wrk curl python3 node
rounds="${CMP_ROUNDS:-3}"
duration="${CMP_DURATION:-10}"
conns="${CMP_CONNS:-32}"
gw_rate="${CMP_GW_RATE:-1000}"
n_streams="${CMP_STREAMS:-1000}"
stream_tps="${CMP_STREAM_TPS:-20}"
stream_hold="${CMP_STREAM_HOLD:-10}"
bench_setup compare
export LOG_LEVEL=warn

pid=""; mock_pid=""; smock_pid=""
cleanup() { stop_pid "$pid"; stop_pid "$mock_pid"; stop_pid "$smock_pid"; rm -rf "$work"; }
trap cleanup EXIT

bench_py() { python3 "$here/bench.py" "$@"; }
load() { node "$here/gateway/load.mjs" "$@"; }
runs_seq=0

# start_service WHICH BIN NAME STORE: a fresh service (fresh database); sets pid, port.
start_service() {
  local which="$1" b="$2" name="$3" store="$4" db
  port="$(bench_py free-port)"
  runs_seq=$((runs_seq + 1))
  if [ "$store" = pg ]; then
    local dbname="cmp_${runs_seq}_$which"
    psql -q "$AAS_TEST_POSTGRES_URL" -c "CREATE DATABASE $dbname" >/dev/null
    db="${AAS_TEST_POSTGRES_URL%/*}/$dbname"
  else
    db="sqlite:$work/$name-$runs_seq.db"
  fi
  # The chat scenarios use the offline mock model (as bench/run.sh: no upstream hop, no titles);
  # the gateway ones mock-llm as gpt-4o-mini.
  local config=()
  if [[ "$name" != chat-* ]]; then bench_mock_models "$work/$name.yaml"; config=("AI_CONFIG=$work/$name.yaml"); fi
  env PORT="$port" HOST=127.0.0.1 DATABASE_URL="$db" "${config[@]}" \
    "$b" serve >/dev/null 2>"$work/$name.stderr" &
  pid=$!
  bench_wait_ready compare.sh "$name"
}
stop_service() { stop_pid "$pid"; pid=""; }

# record SCENARIO WHICH ROUND JSON
record() {
  if [ -z "$4" ]; then echo "  $1 $2 round $3: no result (see the errors above)" >&2; return 0; fi
  local line="{\"scenario\":\"$1\",\"bin\":\"$2\",\"round\":$3,\"loadavg\":\"$(loadavg)\",${4#\{}"
  echo "$line" >>"$results"
  echo "  $1 $2 round $3: $4"
}

wrk_run() {  # wrk_run SCRIPT URL TOKEN: warm-up, then one measured run (BENCH_JSON + CPU)
  BENCH_TOKEN="$3" wrk -t2 -c"$conns" -d2s --timeout 5s -s "$1" "$2" >/dev/null
  BENCH_TOKEN="$3" bench_py wrk --pid "$pid" -- wrk -t2 -c"$conns" -d"${duration}s" --timeout 5s -s "$1" "$2"
}

# one SCENARIO WHICH BIN ROUND: one measured run of one binary.
one() {
  local s="$1" which="$2" b="$3" r="$4" token
  case "$s" in
    chat-sqlite|chat-pg)
      start_service "$which" "$b" "$s-$which" "$([ "$s" = chat-pg ] && echo pg || echo sqlite)"
      token="$("$b" token --user cmp-chatter --ttl 2h)"
      record "$s" "$which" "$r" "$(wrk_run "$here/wrk/chat_new.lua" "http://127.0.0.1:$port/api/ai/chat" "$token")" ;;
    gateway)
      start_service "$which" "$b" "$s-$which" sqlite
      token="$("$b" token --user cmp-gw --ttl 2h)"
      record "$s" "$which" "$r" "$(wrk_run "$here/wrk/gateway_chat.lua" "http://127.0.0.1:$port/api/ai/v1/chat/completions" "$token")" ;;
    gateway-rate)
      start_service "$which" "$b" "$s-$which" sqlite
      token="$("$b" token --user cmp-gw --ttl 2h)"
      load rate --url "http://127.0.0.1:$port/api/ai/v1/chat/completions" --token "$token" --rate "$gw_rate" --duration 1 >/dev/null
      record "$s" "$which" "$r" "$(load rate --url "http://127.0.0.1:$port/api/ai/v1/chat/completions" --token "$token" \
        --rate "$gw_rate" --duration "$duration" --pids "service=$pid")" ;;
    streams)
      local saved_mock="$mock_port"
      mock_port="$smock_port"
      start_service "$which" "$b" "$s-$which" sqlite
      mock_port="$saved_mock"
      token="$("$b" token --user cmp-streams --ttl 2h)"
      local out line idle
      out="$(load streams --url "http://127.0.0.1:$port/api/ai/v1/chat/completions" --token "$token" \
        --steps "$n_streams" --hold "$stream_hold" --pid "$pid")"
      idle="$(grep '"step":0,' <<<"$out" | grep -o '"VmRSS":[0-9.]*' | cut -d: -f2)"
      line="$(grep "\"step\":$n_streams," <<<"$out" || true)"
      [ -n "$line" ] && record "$s" "$which" "$r" "{\"idleRssMiB\":${idle:-null},${line#\{}" ;;
    health)
      start_service "$which" "$b" "$s-$which" sqlite
      record "$s" "$which" "$r" "$(wrk_run "$here/wrk/health.lua" "http://127.0.0.1:$port/health" "")" ;;
  esac
  if grep -Eqi 'error|critical|fatal' "$work/$s-$which.stderr"; then
    echo "compare.sh: $s $which logged errors (first lines):" >&2
    grep -Ei 'error|critical|fatal' "$work/$s-$which.stderr" | head -3 >&2
  fi
  stop_service
}

echo "{\"scenario\":\"meta\",\"when\":\"$(date -u +%FT%TZ)\",\"old\":\"$old\",\"oldSha256\":\"$(sha256sum "$old" | cut -c1-16)\",\"new\":\"$new\",\"newSha256\":\"$(sha256sum "$new" | cut -c1-16)\",\"nproc\":$(nproc),\"loadavg\":\"$(loadavg)\",\"rounds\":$rounds,\"durationS\":$duration,\"conns\":$conns,\"pgDurable\":\"${PG_DURABLE:-}\"}" >>"$results"
echo "compare: OLD $old"
echo "         NEW $new"
echo "  load $(loadavg); results -> $results"

bench_start_mock compare.sh plain
if [[ "$scenarios" == *" streams "* ]]; then
  # The answers outlast the hold; the streams are closed by the client at the end.
  saved_pid="$mock_pid"; saved_port="$mock_port"
  bench_start_mock compare.sh streams --tokens-per-second "$stream_tps" --answer-tokens $((stream_tps * (stream_hold + 60)))
  smock_pid="$mock_pid"; smock_port="$mock_port"
  mock_pid="$saved_pid"; mock_port="$saved_port"
fi

for r in $(seq 1 "$rounds"); do
  for s in $scenarios; do
    if [ $((r % 2)) = 1 ]; then
      one "$s" old "$old" "$r"; one "$s" new "$new" "$r"
    else
      one "$s" new "$new" "$r"; one "$s" old "$old" "$r"
    fi
  done
done

python3 - "$results" <<'PY' | tee "${results%.jsonl}.md"
import json, statistics, sys
rows = []
for l in open(sys.argv[1]):
    try:
        rows.append(json.loads(l))
    except ValueError:
        pass  # a run that printed no result
meta = next(r for r in rows if r["scenario"] == "meta")
def per_token_us(r):
    ev = (r.get("eventsPerStreamPerS") or {}).get("mean") or 0
    n = r.get("streams") or 0
    return r["serviceCpuPct"] / 100 / (ev * n) * 1e6 if ev and n and "serviceCpuPct" in r else None
def rss_per_stream_kb(r):
    # what the streams added, over the same service's RSS before the first one
    return (r["service"]["VmRSS"] - r["idleRssMiB"]) * 1024 / r["streams"] if r.get("streams") and r.get("idleRssMiB") else None
metrics = {
    "chat-sqlite": [("turns/s", lambda r: r["rps"], True), ("p50 ms", lambda r: r["p50Ms"], False), ("p99 ms", lambda r: r["p99Ms"], False), ("service CPU %", lambda r: r["serverCpuPct"], None)],
    "chat-pg": [("turns/s", lambda r: r["rps"], True), ("p50 ms", lambda r: r["p50Ms"], False), ("p99 ms", lambda r: r["p99Ms"], False), ("service CPU %", lambda r: r["serverCpuPct"], None)],
    "gateway": [("req/s", lambda r: r["rps"], True), ("p99 ms", lambda r: r["p99Ms"], False)],
    "gateway-rate": [("p50 ms", lambda r: r["p50Ms"], False), ("p99 ms", lambda r: r["p99Ms"], False), ("achieved req/s", lambda r: r["achievedRps"], True)],
    "streams": [("alive", lambda r: r["alive"], True), ("RSS MiB", lambda r: r["service"]["VmRSS"], False), ("RSS KiB/stream", rss_per_stream_kb, False), ("CPU µs/token", per_token_us, False)],
    "health": [("req/s", lambda r: r["rps"], True), ("p99 ms", lambda r: r["p99Ms"], False)],
}
print(f"A/B {meta['when']}: OLD {meta['old']} ({meta['oldSha256']}) vs NEW {meta['new']} ({meta['newSha256']}); "
      f"{meta['rounds']} rounds interleaved, {meta['durationS']} s runs, -c{meta['conns']}, load at start {meta['loadavg']}")
print()
print("| scenario | metric | OLD median | NEW median | NEW/OLD | n |")
print("|---|---|---:|---:|---:|---:|")
for scen, ms in metrics.items():
    got = [r for r in rows if r["scenario"] == scen]
    if not got:
        continue
    for name, f, _ in ms:
        vals = {}
        for which in ("old", "new"):
            v = []
            for r in got:
                if r["bin"] != which:
                    continue
                try:
                    x = f(r)
                except (KeyError, TypeError, ZeroDivisionError):
                    x = None
                if x is not None:
                    v.append(x)
            vals[which] = v
        if not vals["old"] or not vals["new"]:
            continue
        o, n = statistics.median(vals["old"]), statistics.median(vals["new"])
        ratio = f"{n / o:.2f}×" if o else "–"
        print(f"| {scen} | {name} | {o:.1f} | {n:.1f} | {ratio} | {min(len(vals['old']), len(vals['new']))} |")
loads = [r["loadavg"] for r in rows if r["scenario"] != "meta"]
if loads:
    print()
    print(f"load averages during the runs: first {loads[0]}, last {loads[-1]}")
PY
echo
echo "results: $results (table: ${results%.jsonl}.md)"
