#!/usr/bin/env bash
# Gateway overhead and concurrent streams (issue 3); the results are in docs/benchmarks.md.
#
#   bash bench/gateway/run.sh [BINARY [MOCK_BINARY]]
#        (default build/release/ai-agent-service and build/release/mock-llm)
#
# Starts mock-llm (`--threads 1`) and the service on 127.0.0.1 (THREADS=1 I/O thread, a new SQLite
# file, LOG_LEVEL=warn, access log to /dev/null, per-user limits off: LIMIT_RPM=0 LIMIT_TPM=0
# LIMIT_CONCURRENT_STREAMS=0, so the limiter runs but refuses nothing; the ledger row of every
# call is written as usual) with one model, gpt-4o-mini, whose only
# deployment is mock-llm (max_concurrency and max_queue 10,000, so the router's limits stay out
# of the way), then measures, on the same machine:
#   overhead  POST /api/ai/v1/chat/completions (not streamed) against mock-llm's own
#             POST /v1/chat/completions with the same body, at a fixed rate (GW_RATE req/s for
#             GW_DURATION s, open loop, `load.mjs rate`): p50/p99 of both and their difference.
#             The two targets alternate run by run.
#   wrk       closed-loop maximum of both: wrk -t2 -cGW_CONNS (bench/wrk/gateway_chat.lua).
#   ttft      "stream": true, one at a time (GW_TTFT_COUNT per run, `load.mjs ttft`): write() of
#             the request -> first non-empty delta.content, directly and through the gateway.
#   streams   a fresh mock-llm pacing GW_STREAM_TPS tokens/s per stream and a fresh service; then
#             GW_STREAM_STEPS concurrent streams through the gateway, each step held GW_STREAM_HOLD
#             s: the service's VmRSS, streams alive, events per stream per second (`load.mjs
#             streams`). Needs ~3 fds per stream in all (2 in the service): check `ulimit -n`.
# Every figure is one JSON line in bench-results/gateway-TIMESTAMP.jsonl beside the binary; a
# summary with medians over GW_RUNS runs is printed at the end (`load.mjs summary FILE`).
# Nothing here asserts a timing. The load generator (node) and wrk share the cores with both
# servers; before each measured run the script waits up to BENCH_MAX_WAIT s for the machine to be
# at most BENCH_MAX_BUSY % busy with other work, and records the reading either way.
#
# Knobs (environment):
#   GW_RUNS=3  GW_RATE=2000  GW_DURATION=10  GW_CONNS=32  GW_WRK_DURATION=10
#   GW_TTFT_COUNT=2000  GW_TTFT_CONCURRENCY=1
#   GW_STREAM_STEPS="1000 2500 5000"  GW_STREAM_HOLD=10  GW_STREAM_TPS=20
#   GW_STREAM_AFTER=0 (>3: the service's RSS once more that many seconds after the streams closed)
#   GW_SCENARIOS="overhead wrk ttft streams"   THREADS=1 (the service's I/O threads)
#   LIMIT_RPM=0 LIMIT_TPM=0 LIMIT_CONCURRENT_STREAMS=0   (passed to the service)
#   BENCH_MAX_BUSY=25 BENCH_MAX_WAIT=60  BENCH_OUT=DIR
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$(dirname "$here")"
root="$(dirname "$bench")"
bin="${1:-$root/build/release/ai-agent-service}"
mock_bin="${2:-$(dirname "$bin")/mock-llm}"
[[ "$bin" == /* ]] || bin="$PWD/$bin"
[[ "$mock_bin" == /* ]] || mock_bin="$PWD/$mock_bin"
. "$bench/lib.sh"
bench_require gateway/run.sh "$bin" "$mock_bin" -- node wrk python3 curl

runs="${GW_RUNS:-3}"
rate="${GW_RATE:-2000}"
duration="${GW_DURATION:-10}"
conns="${GW_CONNS:-32}"
wrk_duration="${GW_WRK_DURATION:-10}"
ttft_count="${GW_TTFT_COUNT:-2000}"
ttft_concurrency="${GW_TTFT_CONCURRENCY:-1}"
stream_steps="${GW_STREAM_STEPS:-1000 2500 5000}"
stream_hold="${GW_STREAM_HOLD:-10}"
stream_tps="${GW_STREAM_TPS:-20}"
stream_after="${GW_STREAM_AFTER:-0}"
scenarios=" ${GW_SCENARIOS:-overhead wrk ttft streams} "
threads="${THREADS:-1}"
# Per-user limits: 0 = none. The defaults (60 requests/min, 200k tokens/min, 5 concurrent streams
# per user) would refuse nearly all of the one benchmark user's requests; the limiter still runs.
limit_rpm="${LIMIT_RPM:-0}"
limit_tpm="${LIMIT_TPM:-0}"
limit_streams="${LIMIT_CONCURRENT_STREAMS:-0}"
max_busy="${BENCH_MAX_BUSY:-25}"
max_wait="${BENCH_MAX_WAIT:-60}"
bench_setup gateway

pid=""; mock_pid=""
cleanup() { stop_pid "$pid"; stop_pid "$mock_pid"; rm -rf "$work"; }
trap cleanup EXIT

bench_py() { python3 "$bench/bench.py" "$@"; }
load() { node "$here/load.mjs" "$@"; }
# record SCENARIO TARGET RUN JSON: adds the context to a result line and keeps it.
record() {
  local line="{\"scenario\":\"$1\",\"target\":\"$2\",\"run\":$3,\"loadavg\":\"$(loadavg)\",\"otherBusyPct\":$busy,${4#\{}"
  echo "$line" >>"$results"
  echo "  $1 $2 run $3: $4"
}
quiet() { busy="$(bench_py quiet --max-busy "$max_busy" --max-wait "$max_wait")"; }

# start_mock NAME [FLAGS...]: mock-llm on a free port; sets mock_pid, mock_port.
start_mock() { bench_start_mock gateway/run.sh "$@"; }

# start_service NAME: the service on a free port with mock-llm as gpt-4o-mini; sets pid, port.
# (With LOG_LEVEL=warn it prints no "listening" line, so the port is chosen here.)
start_service() {
  local name="$1"
  port="$(bench_py free-port)"
  bench_mock_models "$work/$name.yaml"
  PORT="$port" HOST=127.0.0.1 DATABASE_URL="sqlite:$work/$name.db" LOG_LEVEL=warn THREADS="$threads" \
    LIMIT_RPM="$limit_rpm" LIMIT_TPM="$limit_tpm" LIMIT_CONCURRENT_STREAMS="$limit_streams" \
    AI_CONFIG="$work/$name.yaml" "$bin" serve >/dev/null 2>"$work/$name.stderr" &
  pid=$!
  bench_wait_ready gateway/run.sh "$name"
}

check_stderr() {  # the service's and mock-llm's stderr should hold no errors
  local f
  for f in "$work"/*.stderr; do
    if grep -Eqi 'error|critical|fatal' "$f"; then
      echo "gateway/run.sh: $(basename "$f") has errors (first lines):" >&2
      grep -Ei 'error|critical|fatal' "$f" | head -5 >&2
    fi
  done
}

# --- the run --------------------------------------------------------------------------------------

echo "{\"scenario\":\"meta\",\"when\":\"$(date -u +%FT%TZ)\",\"binary\":\"$bin\",\"binarySha256\":\"$(sha256sum "$bin" | cut -c1-16)\",\"binaryMtime\":\"$(date -u -r "$bin" +%FT%TZ)\",\"mock\":\"$mock_bin\",\"nproc\":$(nproc),\"loadavg\":\"$(loadavg)\",\"serviceThreads\":$threads,\"limits\":\"rpm=$limit_rpm tpm=$limit_tpm streams=$limit_streams\",\"runs\":$runs,\"rate\":$rate,\"durationS\":$duration,\"ulimitN\":$(ulimit -n),\"node\":\"$(node --version)\"}" >>"$results"
echo "gateway benchmark: $bin (THREADS=$threads), $mock_bin; load $(loadavg); results -> $results"

direct_path="/v1/chat/completions"
gateway_path="/api/ai/v1/chat/completions"

if [[ "$scenarios" == *" overhead "* || "$scenarios" == *" wrk "* || "$scenarios" == *" ttft "* ]]; then
  start_mock plain
  start_service gateway
  token="$("$bin" token --user bench --ttl 2h)"
  direct="http://127.0.0.1:$mock_port$direct_path"
  gateway="http://127.0.0.1:$port$gateway_path"
  # Warm-up: connections, the upstream pool, allocator arenas.
  load rate --url "$direct" --rate "$rate" --duration 1 >/dev/null
  load rate --url "$gateway" --token "$token" --rate "$rate" --duration 1 >/dev/null
  busy=0

  if [[ "$scenarios" == *" overhead "* ]]; then
    echo "fixed rate: $rate req/s for $duration s, direct vs gateway (open loop)"
    for i in $(seq 1 "$runs"); do
      quiet; record overhead direct "$i" "$(load rate --url "$direct" --rate "$rate" --duration "$duration" --pids "mock=$mock_pid")"
      quiet; record overhead gateway "$i" "$(load rate --url "$gateway" --token "$token" --rate "$rate" --duration "$duration" --pids "service=$pid,mock=$mock_pid")"
    done
  fi

  if [[ "$scenarios" == *" wrk "* ]]; then
    echo "closed loop: wrk -t2 -c$conns -d${wrk_duration}s, direct vs gateway"
    for i in $(seq 1 "$runs"); do
      quiet; record wrk direct "$i" "$(BENCH_TOKEN=sk-bench bench_py wrk --pid "$mock_pid" -- wrk -t2 -c"$conns" -d"${wrk_duration}s" --timeout 5s -s "$bench/wrk/gateway_chat.lua" "$direct")"
      quiet; record wrk gateway "$i" "$(BENCH_TOKEN="$token" bench_py wrk --pid "$pid" -- wrk -t2 -c"$conns" -d"${wrk_duration}s" --timeout 5s -s "$bench/wrk/gateway_chat.lua" "$gateway")"
    done
  fi

  if [[ "$scenarios" == *" ttft "* ]]; then
    echo "streamed: time to the first content delta, $ttft_count requests per run, concurrency $ttft_concurrency"
    for i in $(seq 1 "$runs"); do
      quiet; record ttft direct "$i" "$(load ttft --url "$direct" --count "$ttft_count" --concurrency "$ttft_concurrency")"
      quiet; record ttft gateway "$i" "$(load ttft --url "$gateway" --token "$token" --count "$ttft_count" --concurrency "$ttft_concurrency")"
    done
  fi
  stop_pid "$pid"; pid=""
  stop_pid "$mock_pid"; mock_pid=""
fi

if [[ "$scenarios" == *" streams "* ]]; then
  nsteps=$(wc -w <<<"$stream_steps")
  # Long enough that the first streams are still going at the end (with room for slow ticks).
  answer_tokens=$(( stream_tps * (nsteps * (stream_hold + 20) + 30) ))
  echo "concurrent streams through the gateway: steps $stream_steps, hold ${stream_hold}s, mock-llm at $stream_tps tokens/s ($answer_tokens tokens per answer)"
  for i in $(seq 1 "$runs"); do
    start_mock "streams-$i" --tokens-per-second "$stream_tps" --answer-tokens "$answer_tokens"
    start_service "streams-$i"
    token="$("$bin" token --user bench --ttl 2h)"
    sleep 1
    quiet
    load streams --url "http://127.0.0.1:$port$gateway_path" --token "$token" --steps "${stream_steps// /,}" \
      --hold "$stream_hold" --after "$stream_after" --pid "$pid" --mock-pid "$mock_pid" --tps "$stream_tps" |
      while read -r line; do record streams gateway "$i" "$line"; done
    stop_pid "$pid"; pid=""
    stop_pid "$mock_pid"; mock_pid=""
  done
fi

check_stderr
load summary "$results" | tee "$out/gateway-summary.txt"
echo
echo "results: $results (summary: $out/gateway-summary.txt)"
