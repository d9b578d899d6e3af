#!/usr/bin/env bash
# Load scenarios for ai-agent-service; see docs/benchmarks.md for what they measure and the results.
#
#   bash bench/run.sh [BINARY]        (default build/release/ai-agent-service; `make bench` builds it)
#
# Each scenario starts a fresh service on 127.0.0.1 and a free port, with a new SQLite database in
# a temp dir, its own JWT_SECRET, LOG_LEVEL=warn and the access log (stdout) sent to /dev/null, then
# drives it with wrk. Figures are medians over BENCH_RUNS runs. Nothing here asserts a timing.
#
# Knobs (environment):
#   BENCH_RUNS=3             wrk runs per scenario (the summary quotes the median and the spread)
#   BENCH_DURATION=10        seconds per wrk run (plus a 2 s warm-up per scenario)
#   BENCH_STARTS=10          starts for start-to-ready and idle RSS (per series: new / existing db)
#   BENCH_HEALTH_CONNS="32 128"   connection counts for GET /health
#   BENCH_CONNS=32           connections for the list and chat scenarios
#   BENCH_THREADS=2          wrk threads
#   BENCH_ACCESS_LOG=1       also run /health and chat with the access log written to a file and a
#                            pipe, and /health without an access log (LOG_LEVEL=off)
#   BENCH_SCENARIOS="start health list chat chat-continue"   which scenarios to run; `vectors`
#                            (not in the default) also runs bench/retrieval/vectors.sh (BENCH_VECTORS_*)
#   BENCH_MAX_BUSY=25 BENCH_MAX_WAIT=60   before each measured run, wait up to MAX_WAIT s for the
#                            cores to be at most MAX_BUSY % busy with other work (a shared machine);
#                            the reading is recorded with the run either way
#   BENCH_OUT=DIR            where results go (default: a `bench-results` dir beside the binary)
#   THREADS                  passed to the service (I/O threads; default: the number of cores)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
bin="${1:-$root/build/release/ai-agent-service}"
[[ "$bin" == /* ]] || bin="$PWD/$bin"
. "$here/lib.sh"
bench_require run.sh "$bin" -- wrk curl python3

runs="${BENCH_RUNS:-3}"
duration="${BENCH_DURATION:-10}"
starts="${BENCH_STARTS:-10}"
health_conns="${BENCH_HEALTH_CONNS:-32 128}"
conns="${BENCH_CONNS:-32}"
wrk_threads="${BENCH_THREADS:-2}"
access_log_variants="${BENCH_ACCESS_LOG:-1}"
max_busy="${BENCH_MAX_BUSY:-25}"
max_wait="${BENCH_MAX_WAIT:-60}"
scenarios=" ${BENCH_SCENARIOS:-start health list chat chat-continue} "
bench_setup results  # no provider keys: the offline mock model answers
export LOG_LEVEL=warn
export BENCH_WRK_THREADS="$wrk_threads"

pid=""
cleanup() { stop_pid "$pid"; rm -rf "$work"; }
trap cleanup EXIT

bench_py() { python3 "$here/bench.py" "$@"; }
record() { echo "$1" >>"$results"; }

# --- service lifecycle ----------------------------------------------------------------------------

port=""; name=""; access_sink=""
# start_service NAME [ACCESS]: ACCESS is null (default: stdout to /dev/null), file, pipe, or off
# (LOG_LEVEL=off: no access log at all).
start_service() {
  name="$1"; local access="${2:-null}"
  port="$(bench_py free-port)"
  local db="$work/$name.db"
  rm -f "$db" "$db-wal" "$db-shm"
  case "$access" in
    null) access_sink=/dev/null
          PORT="$port" HOST=127.0.0.1 DATABASE_URL="sqlite:$db" "$bin" serve >/dev/null 2>"$work/$name.stderr" & ;;
    file) access_sink="$work/$name.access.log"
          PORT="$port" HOST=127.0.0.1 DATABASE_URL="sqlite:$db" "$bin" serve >"$access_sink" 2>"$work/$name.stderr" & ;;
    off)  access_sink=none
          LOG_LEVEL=off PORT="$port" HOST=127.0.0.1 DATABASE_URL="sqlite:$db" "$bin" serve >/dev/null 2>"$work/$name.stderr" & ;;
    pipe) access_sink="pipe"
          # The service writes into a pipe; a reader process drains it (as a log shipper would).
          mkfifo "$work/$name.fifo"
          cat "$work/$name.fifo" >/dev/null &
          PORT="$port" HOST=127.0.0.1 DATABASE_URL="sqlite:$db" "$bin" serve >"$work/$name.fifo" 2>"$work/$name.stderr" & ;;
  esac
  pid=$!
  bench_wait_ready run.sh "$name"
}

mem_json() {
  awk '/^VmRSS:/{r=$2} /^VmHWM:/{h=$2} END{printf "\"rssMiB\":%.2f,\"hwmMiB\":%.2f", r/1024, h/1024}' "/proc/$pid/status"
}

stop_service() {
  kill -TERM "$pid"
  local code=0
  wait "$pid" || code=$?
  [ "$code" -eq 0 ] || echo "run.sh: $name: the service exited with $code on SIGTERM" >&2
  if grep -Eqi 'error|critical|fatal' "$work/$name.stderr"; then
    echo "run.sh: $name: the service logged errors (first lines):" >&2
    grep -Ei 'error|critical|fatal' "$work/$name.stderr" | head -5 >&2
  fi
  pid=""
}

token_for() { "$bin" token --user "$1" --ttl 2h; }

# wrk_runs SCENARIO CONNS SCRIPT URL [VARIANT]: a 2 s warm-up, then $runs measured runs.
wrk_runs() {
  local scenario="$1" c="$2" script="$3" url="$4" variant="${5:-}"
  wrk -t"$wrk_threads" -c"$c" -d2s --timeout 5s -s "$script" "$url" >/dev/null
  for i in $(seq 1 "$runs"); do
    local busy; busy="$(bench_py quiet --max-busy "$max_busy" --max-wait "$max_wait")"
    local load; load="$(loadavg)"
    local line
    line="$(bench_py wrk --pid "$pid" -- wrk -t"$wrk_threads" -c"$c" -d"${duration}s" --timeout 5s -s "$script" "$url")"
    line="{\"scenario\":\"$scenario\",\"variant\":\"$variant\",\"conns\":$c,\"threads\":$wrk_threads,\"run\":$i,\"loadavg\":\"$load\",\"otherBusyPct\":$busy,${line#\{}"
    record "$line"
    echo "$line" | bench_py describe
  done
}

record_memory() {
  local of="$1" idle="$2" variant="${3:-}"
  sleep 1
  record "{\"scenario\":\"memory\",\"of\":\"$of\",\"variant\":\"$variant\",\"idleRssMiB\":$idle,$(mem_json)}"
}

idle_rss() { awk '/^VmRSS:/{printf "%.2f", $2/1024}' "/proc/$pid/status"; }

# --- the run --------------------------------------------------------------------------------------

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
mem_total="$(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
record "{\"scenario\":\"meta\",\"when\":\"$(date -u +%FT%TZ)\",\"binary\":\"$bin\",\"version\":\"$("$bin" --version 2>/dev/null | tr -d '"')\",\"nproc\":$(nproc),\"cpu\":\"$cpu\",\"memory\":\"$mem_total\",\"kernel\":\"$(uname -r)\",\"loadavg\":\"$(loadavg)\",\"runs\":$runs,\"durationS\":$duration,\"wrkThreads\":$wrk_threads}"
echo "ai-agent-service benchmarks: $bin"
echo "  $(nproc) cores ($cpu), $mem_total, load $(loadavg); results -> $results"

if [[ "$scenarios" == *" start "* ]]; then
  echo "start-to-ready and idle RSS: $starts starts on a new database, $starts on an existing one"
  record "{\"scenario\":\"busy\",\"of\":\"start\",\"otherBusyPct\":$(bench_py quiet --max-busy "$max_busy" --max-wait "$max_wait")}"
  bench_py start-times --bin "$bin" --runs "$starts" --workdir "$work/starts" | tee -a "$results" |
    bench_py describe
fi

if [[ "$scenarios" == *" health "* ]]; then
  echo "GET /health"
  for c in $health_conns; do
    start_service "health-$c"
    idle="$(idle_rss)"
    wrk_runs health "$c" "$here/wrk/health.lua" "http://127.0.0.1:$port/health"
    record_memory "health c=$c" "$idle"
    stop_service
  done
  if [ "$access_log_variants" = 1 ]; then
    for sink in file pipe off; do
      local_variant="access log to $sink"; [ "$sink" = off ] && local_variant="no access log (LOG_LEVEL=off)"
      start_service "health-log-$sink" "$sink"
      idle="$(idle_rss)"
      wrk_runs health "$conns" "$here/wrk/health.lua" "http://127.0.0.1:$port/health" "$local_variant"
      record_memory "health c=$conns" "$idle" "$local_variant"
      stop_service
    done
  fi
fi

if [[ "$scenarios" == *" list "* ]]; then
  echo "GET /api/ai/conversations?limit=20 for a user with 1,000 conversations"
  start_service list
  idle="$(idle_rss)"
  export BENCH_TOKEN; BENCH_TOKEN="$(token_for bench-lister)"
  seeded="$(bench_py seed --port "$port" --token "$BENCH_TOKEN" --count 1000)"
  # A second user with conversations of their own, so the query has to select by user.
  bench_py seed --port "$port" --token "$(token_for bench-other)" --count 200 >/dev/null
  echo "  seeded: $seeded"
  record "{\"scenario\":\"seed\",${seeded#\{}"
  wrk_runs list "$conns" "$here/wrk/conversations_list.lua" "http://127.0.0.1:$port/api/ai/conversations?limit=20"
  record_memory "list c=$conns" "$idle"
  stop_service
fi

chat_scenario() {
  local variant="$1" access="$2"
  start_service "chat-${access}" "$access"
  idle="$(idle_rss)"
  export BENCH_TOKEN; BENCH_TOKEN="$(token_for bench-chatter)"
  wrk_runs chat-new "$conns" "$here/wrk/chat_new.lua" "http://127.0.0.1:$port/api/ai/chat" "$variant"
  record_memory "chat-new c=$conns" "$idle" "$variant"
  local db="$work/$name.db"
  record "{\"scenario\":\"db\",\"of\":\"chat-new${variant:+ $variant}\",\"dbMiB\":$(du -m "$db" | cut -f1),\"walMiB\":$( (du -m "$db-wal" 2>/dev/null || echo 0) | cut -f1)}"
  stop_service
}

if [[ "$scenarios" == *" chat "* ]]; then
  echo "POST /api/ai/chat, a new conversation per request (mock model, SQLite)"
  chat_scenario "" null
  if [ "$access_log_variants" = 1 ]; then
    chat_scenario "access log to file" file
    chat_scenario "access log to pipe" pipe
  fi
fi

if [[ "$scenarios" == *" chat-continue "* ]]; then
  echo "POST /api/ai/chat continuing $conns conversations (one per connection)"
  start_service chat-continue
  idle="$(idle_rss)"
  export BENCH_TOKEN; BENCH_TOKEN="$(token_for bench-continuer)"
  export BENCH_CONVERSATIONS="$work/conversations.txt"
  bench_py seed --port "$port" --token "$BENCH_TOKEN" --count "$conns" --out "$BENCH_CONVERSATIONS" \
    --title-prefix "Continued conversation" >/dev/null
  wrk_runs chat-continue "$conns" "$here/wrk/chat_continue.lua" "http://127.0.0.1:$port/api/ai/chat"
  record_memory "chat-continue c=$conns" "$idle"
  stop_service
fi

if [[ "$scenarios" == *" vectors "* ]]; then
  echo "vector index of a knowledge base (bench/retrieval/vectors.sh)"
  bash "$here/retrieval/vectors.sh" "$(dirname "$bin")" | tee "$out/vectors.txt"
fi

bench_py summary "$results" | tee "$out/summary.txt"
echo
echo "results: $results (summary: $out/summary.txt)"
