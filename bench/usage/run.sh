#!/usr/bin/env bash
# Usage API on a large ledger (issue 4: "benchmark on 1,000,000 ledger rows, aim <= 100 ms per
# query on SQLite"); the results are in docs/benchmarks.md.
#
#   bash bench/usage/run.sh [BINARY]      (default build/release/ai-agent-service)
#
# 1. A new SQLite database (`ai-agent-service migrate`), filled by `usage_bench.py generate` with
#    USAGE_ROWS ledger rows (USAGE_USERS users, Zipf-like: user-0001 is the heaviest; 5 models, one
#    of them unpriced; USAGE_DAYS days ending today, UTC; weekday/hour-of-day curves; ~95 %
#    complete, 3 % interrupted, 2 % error) and the usage_daily rows insert_usage would have
#    produced for them (aggregated in Python), in one transaction (WAL, synchronous=OFF), then
#    checked: the ledger aggregated by (UTC day, user, model) in SQL equals the rollup, row by row.
#    Then migration 13 is undone and run again (`ai-agent-service migrate`, timed), so its back-fill
#    builds usage_monthly_user and usage_daily_model from the generated usage_daily (its triggers
#    keep them from then on); both are checked against the ledger the same way.
# 2. The service on that database (127.0.0.1, a free port, THREADS, LOG_LEVEL=warn, access log to
#    /dev/null); an admin token and a token for the heavy user; every report over HTTP on one
#    keep-alive connection: USAGE_WARMUP warm-up requests each, then USAGE_RUNS rounds in which
#    every report is requested once (so noise spreads over all of them); p50/p90/p99/max.
# 3. The service stopped, the same SQL (SqliteStore::usage_report's two statements, verbatim, in a
#    read transaction, default page cache like the service's readers) timed with Python's sqlite3
#    (the same SQLite 3.40.1), EXPLAIN QUERY PLAN of each statement, and (USAGE_FIXES=1) candidate
#    indexes / schema changes timed inside a transaction that is rolled back.
# Every figure is one JSON line in bench-results/usage-TIMESTAMP.jsonl beside the binary; a summary
# table is printed at the end. Nothing here asserts a timing.
#
# Knobs (environment):
#   USAGE_ROWS=1000000 USAGE_USERS=2000 USAGE_DAYS=90 USAGE_SEED=4
#   USAGE_RUNS=30 USAGE_WARMUP=3      rounds and warm-up requests per report
#   USAGE_FIXES=1                     time the candidate fixes too (a few minutes)
#   USAGE_DB=PATH                     use (and keep) this database; generated only if missing
#   USAGE_STORE=postgres              serve from PostgreSQL instead (run under
#                            scripts/with-postgres.sh): the SQLite database's ledger and daily rollup
#                            are copied into a new PostgreSQL database, migration 13 back-fills the
#                            other rollups there; the bare-SQL phases (3.) are SQLite's only
#   USAGE_OLD_BIN=PATH                also time this (older) binary over HTTP on the same database,
#                            alternating OLD, NEW, OLD, NEW (USAGE_RUNS rounds each); the summary
#                            gives NEW/OLD ratios
#   THREADS=2                         the service's I/O threads
#   BENCH_MAX_BUSY=25 BENCH_MAX_WAIT=120   before each timed phase, wait up to MAX_WAIT s for the
#                            cores to be at most MAX_BUSY % busy (a shared machine); the reading is
#                            recorded either way
#   BENCH_OUT=DIR
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$(dirname "$here")"
root="$(dirname "$bench")"
bin="${1:-$root/build/release/ai-agent-service}"
[[ "$bin" == /* ]] || bin="$PWD/$bin"
. "$bench/lib.sh"
bench_require usage/run.sh "$bin" -- python3 curl

rows="${USAGE_ROWS:-1000000}"
users="${USAGE_USERS:-2000}"
days="${USAGE_DAYS:-90}"
seed="${USAGE_SEED:-4}"
runs="${USAGE_RUNS:-30}"
warmup="${USAGE_WARMUP:-3}"
fixes="${USAGE_FIXES:-1}"
max_busy="${BENCH_MAX_BUSY:-25}"
max_wait="${BENCH_MAX_WAIT:-120}"
bench_setup usage
db="${USAGE_DB:-$work/usage.db}"
[[ "$db" == /* ]] || db="$PWD/$db"

export LOG_LEVEL=warn THREADS="${THREADS:-2}"

pid=""
cleanup() { stop_pid "$pid"; rm -rf "$work"; }
trap cleanup EXIT

ub() { python3 "$here/usage_bench.py" "$@"; }
record() { tee -a "$results"; }
# quiet PHASE: wait for the machine to calm down (bounded), record how busy it was.
quiet() {
  local busy; busy="$(python3 "$bench/bench.py" quiet --max-busy "$max_busy" --max-wait "$max_wait")"
  echo "{\"what\":\"busy\",\"before\":\"$1\",\"otherBusyPct\":$busy,\"loadavg\":\"$(loadavg)\"}" | record
}

echo "usage API on a $rows-row ledger: $bin"
echo "  $(nproc) cores, load $(loadavg); results -> $results"
echo "{\"what\":\"meta\",\"when\":\"$(date -u +%FT%TZ)\",\"binary\":\"$bin\",\"version\":\"$("$bin" --version 2>/dev/null | tr -d '"')\",\"nproc\":$(nproc),\"loadavg\":\"$(loadavg)\",\"uptime\":\"$(uptime | sed 's/^ *//')\",\"runs\":$runs,\"threads\":$THREADS}" >>"$results"

# --- 1. the database --------------------------------------------------------------------------------
if [ ! -s "$db" ]; then
  echo "migrate + generate ($rows ledger rows, $users users, $days days)"
  DATABASE_URL="sqlite:$db" "$bin" migrate >/dev/null
  SECONDS=0
  ub generate --db "$db" --rows "$rows" --users "$users" --days "$days" --seed "$seed" | record
  echo "  generated in ${SECONDS} s"
  # The generator fills usage_daily only: migration 13's back-fill builds the other rollups.
  python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("DROP TRIGGER IF EXISTS usage_daily_rollups_insert; DROP TRIGGER IF EXISTS usage_daily_rollups_update;"
                 " DROP TABLE IF EXISTS usage_monthly_user; DROP TABLE IF EXISTS usage_daily_model;"
                 " DELETE FROM schema_migrations WHERE version = 13;")' "$db"
  t0=$(date +%s%N)
  DATABASE_URL="sqlite:$db" "$bin" migrate >/dev/null
  echo "{\"what\":\"migration13\",\"store\":\"sqlite\",\"ms\":$(( ($(date +%s%N) - t0) / 1000000 ))}" | record
  ub check-rollups --db "$db" | record
else
  echo "using the existing database $db"
  # Describe it the way generate would (heavy / light users) without regenerating.
  python3 - "$db" <<'EOF' | record
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
heavy = db.execute("SELECT user_id, count(*) FROM usage_ledger GROUP BY 1 ORDER BY 2 DESC LIMIT 1").fetchone()
light = db.execute("SELECT user_id, count(*) FROM usage_ledger GROUP BY 1 ORDER BY 2, 1 LIMIT 1").fetchone()
print(json.dumps({"what": "existing", "rows": db.execute("SELECT count(*) FROM usage_ledger").fetchone()[0],
                  "rollupRows": db.execute("SELECT count(*) FROM usage_daily").fetchone()[0],
                  "heavyUser": heavy[0], "heavyUserCalls": heavy[1], "lightUser": light[0], "lightUserCalls": light[1]}))
EOF
fi
read -r heavy light < <(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d["what"] in ("generate", "existing"): h, l = d["heavyUser"], d["lightUser"]
print(h, l)' "$results")
mib() { if [ -e "$1" ]; then du -m --apparent-size "$1" | cut -f1; else echo 0; fi; }
echo "{\"what\":\"db\",\"dbMiB\":$(mib "$db"),\"walMiB\":$(mib "$db-wal"),\"tables\":$(python3 -c '
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
try:
    rows = db.execute("SELECT name, sum(pgsize) >> 20 FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    print(json.dumps({n: m for n, m in rows if m}))
except sqlite3.Error:
    print("null")' "$db")}" | record

# --- 1b. PostgreSQL: the same ledger and daily rollup copied in, migration 13 back-fills the rest -----
store="${USAGE_STORE:-sqlite}"
db_url="sqlite:$db"
if [ "$store" = postgres ]; then
  [ -n "${AAS_TEST_POSTGRES_URL:-}" ] || { echo "usage/run.sh: USAGE_STORE=postgres runs under scripts/with-postgres.sh" >&2; exit 2; }
  pg_db="usage_bench_$$"
  psql -q "$AAS_TEST_POSTGRES_URL" -c "CREATE DATABASE $pg_db"
  db_url="${AAS_TEST_POSTGRES_URL%/*}/$pg_db"
  DATABASE_URL="$db_url" "$bin" migrate >/dev/null
  # Migration 13 undone before the copy (its trigger would roll up each copied row), run again after.
  psql -q "$db_url" -c "DROP TRIGGER usage_daily_rollups ON usage_daily; DROP FUNCTION usage_daily_rollups();
    DROP TABLE usage_monthly_user; DROP TABLE usage_daily_model; DELETE FROM schema_migrations WHERE version = 13"
  SECONDS=0
  for table in usage_ledger usage_daily; do
    python3 -c 'import csv, sqlite3, sys
w = csv.writer(sys.stdout)
for row in sqlite3.connect(sys.argv[1]).execute("SELECT * FROM " + sys.argv[2]):
    w.writerow(["" if v is None else v for v in row])' "$db" "$table" |
      psql -q "$db_url" -c "\\copy $table FROM STDIN WITH (FORMAT csv)"
  done
  echo "  copied into PostgreSQL in ${SECONDS} s"
  t0=$(date +%s%N)
  DATABASE_URL="$db_url" "$bin" migrate >/dev/null
  echo "{\"what\":\"migration13\",\"store\":\"postgres\",\"ms\":$(( ($(date +%s%N) - t0) / 1000000 ))}" | record
  psql -q "$db_url" -c "VACUUM ANALYZE"
  # The rollups hold what the ledger does (whole totals; the SQLite check compares group by group).
  psql -At "$db_url" -c "SELECT json_build_object('what', 'pgcheck', 'ledger', (SELECT count(*) FROM usage_ledger),
    'daily', (SELECT sum(requests) FROM usage_daily), 'monthlyUser', (SELECT sum(requests) FROM usage_monthly_user),
    'dailyModel', (SELECT sum(requests) FROM usage_daily_model),
    'ledgerCost', (SELECT coalesce(sum(cost_micros), 0) FROM usage_ledger),
    'monthlyUserCost', (SELECT sum(cost_micros) FROM usage_monthly_user),
    'dailyModelCost', (SELECT sum(cost_micros) FROM usage_daily_model))" | record
fi

# --- 2. over HTTP -----------------------------------------------------------------------------------
# http_phase BINARY LABEL: the service on the database, every report USAGE_RUNS rounds.
http_phase() {
  local b="$1" label="$2"
  port="$(python3 "$bench/bench.py" free-port)"
  PORT="$port" HOST=127.0.0.1 DATABASE_URL="$db_url" "$b" serve >/dev/null 2>"$work/serve.stderr" &
  pid=$!
  for _ in $(seq 1 500); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/ready" && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/serve.stderr" >&2; exit 1; }
    sleep 0.02
  done
  admin_token="$("$b" token --user bench-admin --admin --ttl 2h)"
  user_token="$("$b" token --user "$heavy" --ttl 2h)"
  quiet "http $label"
  echo "HTTP ($label, $store): $runs rounds of every report (heavy user $heavy, light user $light), load $(loadavg)"
  ub http --port "$port" --admin-token "$admin_token" --user-token "$user_token" --heavy "$heavy" \
    --light "$light" --runs "$runs" --warmup "$warmup" --label "$label" --store "$store" | record
  echo "{\"what\":\"memory\",\"label\":\"$label\",$(awk '/^VmRSS:/{r=$2} /^VmHWM:/{h=$2} END{printf "\"rssMiB\":%.1f,\"hwmMiB\":%.1f", r/1024, h/1024}' "/proc/$pid/status")}" | record
  kill -TERM "$pid"
  code=0; wait "$pid" || code=$?
  pid=""
  [ "$code" -eq 0 ] || echo "usage/run.sh: the service exited with $code on SIGTERM" >&2
  if grep -Eqi 'error|critical|fatal' "$work/serve.stderr"; then
    echo "usage/run.sh: the service logged errors:" >&2; grep -Ei 'error|critical|fatal' "$work/serve.stderr" | head -5 >&2
  fi
}
if [ -n "${USAGE_OLD_BIN:-}" ]; then
  for _ in 1 2; do http_phase "$USAGE_OLD_BIN" old; http_phase "$bin" new; done
else
  http_phase "$bin" new
fi
if [ "$store" = postgres ]; then
  echo
  ub summary "$results" | tee "$out/usage-summary.txt"
  exit 0
fi

# --- 3. the same SQL directly, plans, candidate fixes -------------------------------------------------
quiet sql
echo "SQL directly (sqlite3 $(python3 -c 'import sqlite3; print(sqlite3.sqlite_version)')), load $(loadavg)"
ub sql --db "$db" --heavy "$heavy" --light "$light" --runs "$runs" --warmup "$warmup" | record
ub plans --db "$db" --heavy "$heavy" | record
if [ "$fixes" = 1 ]; then
  quiet fixes
  echo "candidate fixes (in a transaction that is rolled back), load $(loadavg)"
  ub fixes --db "$db" --heavy "$heavy" --light "$light" --runs "$runs" --warmup "$warmup" >>"$results"
fi

echo
ub summary "$results" | tee "$out/usage-summary.txt"
echo
echo "results: $results (summary: $out/usage-summary.txt); load now $(loadavg)"
