#!/usr/bin/env bash
# What one stored chat turn costs the service, counted (issue 16): CPU time, context switches and
# the system calls that the store's writes make, per turn, over 7 s of a 10 s `wrk -t2 -c32` run of
# bench/wrk/chat_new.lua (a new conversation per turn, the offline mock model, SQLite).
#
#   bash bench/store/turn-counts.sh BIN [BIN...]     (one run per binary, in the order given)
#
# Turns are counted in the ledger (one row per turn), so the figures are per turn whatever the
# load; run the binaries to compare one after the other, twice, and read the counts, which depend
# on the machine's load far less than turns/s do. Needs perf (tracepoints: run as root), wrk,
# sqlite3, curl, python3.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for bin in "$@"; do
  [[ "$bin" == /* ]] || bin="$PWD/$bin"
  work="$(mktemp -d "${TMPDIR:-/tmp}/aas-turn-counts.XXXXXX")"
  export JWT_SECRET="bench-secret-$RANDOM$RANDOM-not-for-production" LIMIT_RPM=0 LIMIT_TPM=0
  export LIMIT_CONCURRENT_STREAMS=0 MAX_CONNECTIONS_PER_IP=0 LOG_LEVEL=warn
  unset OPENAI_API_KEY ANTHROPIC_API_KEY OPENAI_BASE_URL REDIS_URL AI_CONFIG 2>/dev/null || true
  port="$(python3 "$here/bench.py" free-port)"
  PORT="$port" HOST=127.0.0.1 DATABASE_URL="sqlite:$work/ai.db" "$bin" serve >/dev/null 2>"$work/stderr" &
  pid=$!
  for _ in $(seq 1 250); do curl -sf -o /dev/null "http://127.0.0.1:$port/ready" && break; sleep 0.02; done
  token="$("$bin" token --user counts --ttl 2h)"
  url="http://127.0.0.1:$port/api/ai/chat"
  BENCH_TOKEN="$token" wrk -t2 -c32 -d2s -s "$here/wrk/chat_new.lua" "$url" >/dev/null
  BENCH_TOKEN="$token" wrk -t2 -c32 -d10s -s "$here/wrk/chat_new.lua" "$url" >"$work/wrk.txt" &
  wrk_pid=$!
  sleep 1
  before="$(sqlite3 "$work/ai.db" 'SELECT count(*) FROM usage_ledger')"
  perf stat -x, -o "$work/stat.csv" -p "$pid" -e task-clock,context-switches,raw_syscalls:sys_enter \
    -e syscalls:sys_enter_pwrite64,syscalls:sys_enter_fdatasync,syscalls:sys_enter_fcntl \
    -e syscalls:sys_enter_futex,syscalls:sys_enter_sched_yield -- sleep 7
  after="$(sqlite3 "$work/ai.db" 'SELECT count(*) FROM usage_ledger')"
  wait "$wrk_pid"
  kill "$pid"; wait "$pid" || true
  turns=$((after - before))
  echo "$bin: $turns turns in 7 s ($(grep Requests/sec "$work/wrk.txt" | tr -s ' ')), load $(cut -d' ' -f1-3 /proc/loadavg)"
  awk -F, -v n="$turns" '/^[0-9]/ { name = $3; sub(/^syscalls:sys_enter_/, "", name); sub(/^raw_syscalls:sys_enter/, "system calls", name);
    if (name == "task-clock") printf "  %-16s %8.1f µs per turn\n", "CPU", $1 * 1000 / n;
    else printf "  %-16s %8.2f per turn\n", name, $1 / n }' "$work/stat.csv"
  rm -rf "$work"
done
