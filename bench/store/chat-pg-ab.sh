#!/usr/bin/env bash
# Stored chat turns on PostgreSQL for several binaries interleaved in one run (issue 16; compare.sh
# takes two): for each round and each binary, a fresh database on ONE durable cluster
# (scripts/with-postgres.sh with PG_DURABLE=1, as compare.sh's chat-pg), a 2 s warm-up and an 8 s
# `wrk -t2 -c32` run of bench/wrk/chat_new.lua (a new conversation per turn, the offline mock
# model). Prints turns/s, p50/p99 and the server's commits and rollbacks per run (pg_stat_database).
#
#   bash bench/store/chat-pg-ab.sh ROUNDS BIN [BIN...]
#
# Nothing here asserts a timing; read medians, and ratios within one run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${AAS_TEST_POSTGRES_URL:-}" ]; then
  export PG_DURABLE=1
  exec bash "$here/../scripts/with-postgres.sh" bash "${BASH_SOURCE[0]}" "$@"
fi
rounds="$1"; shift
bins=()
for b in "$@"; do [[ "$b" == /* ]] && bins+=("$b") || bins+=("$PWD/$b"); done
bin="${bins[0]}"
. "$here/lib.sh"
bench_require chat-pg-ab.sh "${bins[@]}" -- wrk curl psql python3
BENCH_OUT="${TMPDIR:-/tmp}" bench_setup chat-pg-ab  # for its work dir and environment: no results file
export LOG_LEVEL=warn
pid=""
trap 'stop_pid "$pid"; rm -rf "$work"' EXIT
n=0
for r in $(seq "$rounds"); do
  for bin in "${bins[@]}"; do
    n=$((n + 1))
    db="${AAS_TEST_POSTGRES_URL%/*}/ab_$n"
    psql -q "$AAS_TEST_POSTGRES_URL" -c "CREATE DATABASE ab_$n" >/dev/null
    port="$(python3 "$here/bench.py" free-port)"
    PORT="$port" HOST=127.0.0.1 DATABASE_URL="$db" "$bin" serve >/dev/null 2>"$work/run-$n.stderr" &
    pid=$!
    bench_wait_ready chat-pg-ab.sh "run-$n"
    token="$("$bin" token --user ab --ttl 2h 2>/dev/null)"
    url="http://127.0.0.1:$port/api/ai/chat"
    BENCH_TOKEN="$token" wrk -t2 -c32 -d2s -s "$here/wrk/chat_new.lua" "$url" >/dev/null
    stats="SELECT xact_commit || ' ' || xact_rollback FROM pg_stat_database WHERE datname = 'ab_$n'"
    read -r c0 r0 <<<"$(psql -qAt "$db" -c "$stats")"
    res="$(BENCH_TOKEN="$token" wrk -t2 -c32 -d8s -s "$here/wrk/chat_new.lua" "$url" | grep BENCH_JSON)"
    read -r c1 r1 <<<"$(psql -qAt "$db" -c "$stats")"
    echo "round $r $(basename "$bin") ($bin): $(echo "${res#BENCH_JSON }" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%s turns/s p50 %s p99 %s ms non2xx %s" % (d["rps"], d["p50Ms"], d["p99Ms"], d["non2xx"]), end="")')" \
      "commits $((c1 - c0)) rollbacks $((r1 - r0)) load $(loadavg)"
    stop_pid "$pid"; pid=""
  done
done
