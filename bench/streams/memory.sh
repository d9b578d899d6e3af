#!/usr/bin/env bash
# Where a held gateway stream's memory is (issue 16): one service, N streams held, and the process
# looked at while they are held, after they closed and MEM_AFTER s later.
#
#   bash bench/streams/memory.sh BIN [MOCK_BIN]      (MOCK_BIN default: mock-llm beside BIN)
#
# Set-up as bench/streams/ab.sh's memory scenario (mock-llm at 2 tokens/s, 240-token answers, the
# service with SQLite, THREADS=2, LOG_LEVEL=warn, limits off, one warm-up call before the idle
# figure). Prints one JSON line per moment (idle, held, closed, after) from
# bench/streams/memstat.py --malloc: resident KiB per kind of mapping (main heap, other arenas,
# thread stacks, other anonymous, files) and malloc's own figures (in use / free / from the
# system), then the per-stream differences. MEM_HEAPTRACK=1 runs the service under heaptrack
# (its file in the work dir, kept; `heaptrack_print -f FILE` reads it).
#
# MEM_TRIM_PROBE=1 then calls malloc_trim(0) in the service through gdb and looks once more.
# MEM_HEAPTRACK_LIVE=1 (with MEM_HEAPTRACK=1) ends the service at the last moment with exit(0)
# through gdb: no destructor of its own runs, so heaptrack's "leaked" list
# (`heaptrack_print -f FILE -l 1`) is what was live then, i.e. what stays after the streams.
# MEM_HEAPTRACK_LIVE=held does the same at the "held" moment: what the held streams keep, not
# heaptrack's peak (taken while streams are still opening, it over-counts the opening frames).
#
# Knobs: MEM_STREAMS=1000 MEM_AFTER=60 MEM_HEAPTRACK=0 MEM_HEAPTRACK_LIVE=0 MEM_TRIM_PROBE=0
#        MEM_ENV="VAR=value ..." (extra service env)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$(dirname "$here")"
bin="${1:?usage: memory.sh BIN [MOCK_BIN]}"
mock_bin="${2:-$(dirname "$bin")/mock-llm}"
. "$bench/lib.sh"
bench_require streams/memory.sh "$bin" "$mock_bin" -- node python3 curl gdb
n="${MEM_STREAMS:-1000}"
after="${MEM_AFTER:-60}"
bench_setup streams-memory
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
pid=""; svc=""; mock_pid=""; load_pid=""
# Under heaptrack $pid is its wrapper script, which passes no signal on: the service itself is
# stopped, and the wrapper waited for while it writes its file.
stop_service() {
  if [ -n "$svc" ] && [ "$svc" != "$pid" ]; then
    kill -TERM "$svc" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  else
    stop_pid "$pid"
  fi
  pid=""; svc=""
}
cleanup() { stop_pid "$load_pid"; stop_service; stop_pid "$mock_pid"; }
trap cleanup EXIT

bench_start_mock streams/memory.sh mem --tokens-per-second 2 --answer-tokens 240
bench_mock_models "$work/models.yaml"
port="$(python3 "$bench/bench.py" free-port)"
db="$work/mem.db"
wrapper=()
[ "${MEM_HEAPTRACK:-0}" = 1 ] && wrapper=(heaptrack -o "$work/heaptrack")
# shellcheck disable=SC2086
env ${MEM_ENV:-} PORT="$port" HOST=127.0.0.1 DATABASE_URL="sqlite:$db" LOG_LEVEL=warn THREADS=2 \
  AI_CONFIG="$work/models.yaml" "${wrapper[@]}" "$bin" serve >"$work/mem.stdout" 2>"$work/mem.stderr" &
pid=$!
bench_wait_ready streams/memory.sh mem 60
# Under heaptrack $pid is the wrapper: the service is whoever listens on the port.
svc="$(ss -ltnpH "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)"
token="$(DATABASE_URL="sqlite:$db" "$bin" token --user bench)"
url="http://127.0.0.1:$port/api/ai/v1/chat/completions"
curl -sf -o /dev/null -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
  -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"warm up"}],"max_tokens":2}' "$url"
sleep 1
stat() { echo "{\"moment\":\"$1\",\"loadavg\":\"$(loadavg)\",\"fds\":$(ls /proc/"$svc"/fd | wc -l),\"mem\":$(python3 "$here/memstat.py" "$svc" --malloc)}"; }
stat idle | tee "$work/moments.jsonl"

node "$bench/gateway/load.mjs" streams --url "$url" --token "$token" --steps "$n" --hold 20 --pid "$svc" \
  --after "$after" >"$work/load.jsonl" &
load_pid=$!
# Held: every stream has its client and its upstream connection.
base_fds="$(ls /proc/"$svc"/fd | wc -l)"
for _ in $(seq 1 1200); do
  [ "$(ls /proc/"$svc"/fd | wc -l)" -ge $((base_fds + 2 * n)) ] && break
  sleep 0.1
done
sleep 5
stat held | tee -a "$work/moments.jsonl"
if [ "${MEM_HEAPTRACK_LIVE:-0}" = held ]; then
  gdb -p "$svc" -batch -nx -ex 'call (void)((void(*)(int))exit)(0)' >/dev/null 2>&1 || true
  wait "$pid" 2>/dev/null || true
  pid=""; svc=""
  echo "work dir (heaptrack file, service stderr): $work"
  exit 0
fi
while ! grep -q '"step":"closed"' "$work/load.jsonl"; do sleep 0.5; done
stat closed | tee -a "$work/moments.jsonl"
wait "$load_pid" || true; load_pid=""
stat "after${after}s" | tee -a "$work/moments.jsonl"
if [ "${MEM_TRIM_PROBE:-0}" = 1 ]; then
  # What another malloc_trim(0) would still give back: free pages the service's trimmer left
  # (timing) as opposed to pages pinned by live chunks.
  gdb -p "$svc" -batch -nx -ex 'call (int)((int(*)(unsigned long))malloc_trim)(0)' >/dev/null 2>&1 || true
  stat "after${after}s+malloc_trim" | tee -a "$work/moments.jsonl"
fi
grep '"step":'"$n"',' "$work/load.jsonl" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(json.dumps({"streams": r["streams"], "alive": r["alive"], "statuses": r["statuses"], "noHead": r["noHead"]}))'
python3 - "$work/moments.jsonl" "$n" <<'PY'
import json, sys
rows = {r["moment"]: r for r in map(json.loads, open(sys.argv[1]))}
n = int(sys.argv[2])
idle, held = rows["idle"]["mem"], rows["held"]["mem"]
keys = ["rss", "heap", "arenas", "stacks", "otherAnon", "files"]
print("per stream held, KiB:", {k: round((held[k] - idle[k]) / n, 2) for k in keys},
      "malloc in use", round((held["malloc"]["inUseKiB"] - idle["malloc"]["inUseKiB"]) / n, 2),
      "free", round((held["malloc"]["freeKiB"] - idle["malloc"]["freeKiB"]) / n, 2))
for m, r in rows.items():
    print(f"{m}: rss {r['mem']['rss'] / 1024:.1f} MiB, malloc in use {r['mem']['malloc']['inUseKiB'] / 1024:.1f} MiB, "
          f"free {r['mem']['malloc']['freeKiB'] / 1024:.1f} MiB, arenas {len(r['mem']['malloc']['arenas'])}")
PY
if [ "${MEM_HEAPTRACK_LIVE:-0}" = 1 ]; then
  gdb -p "$svc" -batch -nx -ex 'call (void)((void(*)(int))exit)(0)' >/dev/null 2>&1 || true
fi
stop_service
echo "work dir (heaptrack file, service stderr): $work"
