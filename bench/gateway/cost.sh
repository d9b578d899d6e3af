#!/usr/bin/env bash
# What one gateway call costs the service, counted rather than timed, so two binaries can be
# compared on a busy, shared machine (where throughput moves ±25 % from run to run):
#
#   bash bench/gateway/cost.sh BINARY [BINARY...]      (mock-llm: beside the first binary, or MOCK_BIN)
#
# For each binary the service runs under valgrind twice per tool, once for COST_FEW and once for
# COST_MANY non-streamed POST /api/ai/v1/chat/completions (`load.mjs count`, COST_CONNS keep-alive
# connections, mock-llm as the upstream, THREADS=1, SQLite, limits off), and the difference
# divided by COST_MANY - COST_FEW is one call's cost, start-up and shut-down cancelled out:
#   callgrind  instructions executed (Ir) per call, in every thread of the service;
#   dhat       heap blocks allocated per call and bytes allocated per call;
#   perf       (no valgrind: the service runs natively, `perf stat` attached while the calls run)
#              futex calls, context switches and system calls per call: the hand-offs between
#              threads, which this VM charges heavily and instructions do not show (issue 16); and
#              the service's CPU time per call (task-clock: a time, so it moves with the load).
# These counts are nearly deterministic (timers and thread hand-offs vary them by a few tenths of
# a percent), unlike time. They say nothing of waiting (the kernel, the disk, locks): the
# throughput benchmarks (run.sh's wrk scenario) remain the measure of speed; this one finds
# where the work went. One JSON line per binary and tool in bench-results/gateway-cost-*.jsonl.
#
# Knobs: COST_FEW=200 COST_MANY=1200 COST_CONNS=4 COST_TOOLS="callgrind dhat"
#        COST_KEEP=DIR keeps valgrind's outputs there (callgrind_annotate DIR/<n>.callgrind.<calls>.out
#        shows where the instructions went; <n> is the binary's position on the command line).
# Under valgrind the service is ~50x slower: a run of 1,200 calls takes about a minute.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$(dirname "$here")"
[ $# -ge 1 ] || { echo "usage: bash bench/gateway/cost.sh BINARY [BINARY...]" >&2; exit 2; }
bins=()
for b in "$@"; do [[ "$b" == /* ]] && bins+=("$b") || bins+=("$PWD/$b"); done
bin="${bins[0]}"
mock_bin="${MOCK_BIN:-$(dirname "$bin")/mock-llm}"
. "$bench/lib.sh"
tools="${COST_TOOLS:-callgrind dhat}"
if [[ " $tools " == *" perf "* ]]; then bench_require gateway/cost.sh "${bins[@]}" "$mock_bin" -- node perf python3 curl; fi
if [[ " $tools " == *" callgrind "* || " $tools " == *" dhat "* ]]; then
  bench_require gateway/cost.sh "${bins[@]}" "$mock_bin" -- node valgrind python3 curl
fi

few="${COST_FEW:-200}"
many="${COST_MANY:-1200}"
conns="${COST_CONNS:-4}"
bench_setup gateway-cost

pid=""; mock_pid=""
cleanup() { stop_pid "$pid"; stop_pid "$mock_pid"; rm -rf "$work"; }
trap cleanup EXIT

bench_start_mock gateway/cost.sh cost
bench_mock_models "$work/models.yaml"

# measure BINARY TOOL CALLS: prints the tool's total (callgrind: "Ir"; dhat: "blocks bytes").
measure() {
  local b="$1" tool="$2" calls="$3" port out
  port="$(python3 "$bench/bench.py" free-port)"
  out="$work/$tool.$calls.out"
  rm -f "$work/run.db"*
  local vg=(valgrind --tool="$tool")
  # (dhat prints its totals only when not --quiet)
  if [ "$tool" = callgrind ]; then vg+=(--quiet --callgrind-out-file="$out");
  elif [ "$tool" = dhat ]; then vg+=(--dhat-out-file=/dev/null --log-file="$out");
  else vg=(); fi
  PORT="$port" HOST=127.0.0.1 DATABASE_URL="sqlite:$work/run.db" LOG_LEVEL=warn THREADS=1 \
    AI_CONFIG="$work/models.yaml" "${vg[@]}" "$b" serve >/dev/null 2>"$work/cost.stderr" &
  pid=$!
  bench_wait_ready gateway/cost.sh cost 300  # under valgrind the start takes up to a minute
  local token
  token="$("$b" token --user cost-bench)"
  local perf_pid=""
  if [ "$tool" = perf ]; then
    perf stat -x, -o "$out" -e syscalls:sys_enter_futex,context-switches,raw_syscalls:sys_enter,task-clock -p "$pid" &
    perf_pid=$!
    sleep 0.5  # perf attaches to every thread of the service before the first call
  fi
  node "$here/load.mjs" count --url "http://127.0.0.1:$port/api/ai/v1/chat/completions" --token "$token" \
    --count "$calls" --conns "$conns" >"$work/count.json" || { cat "$work/count.json" >&2; exit 1; }
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  stop_pid "$pid"; pid=""
  if [ -n "${COST_KEEP:-}" ]; then mkdir -p "$COST_KEEP" && cp "$out" "$COST_KEEP/$index.$tool.$calls.out"; fi
  if [ "$tool" = callgrind ]; then
    sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out"
  elif [ "$tool" = perf ]; then  # "count,unit,event,..." lines: futex, context switches, syscalls, CPU ms
    awk -F, '/^[0-9]/ {printf "%s ", $1}' "$out"
  else  # "Total:     1,234 bytes in 56 blocks"
    sed -n 's/.*Total: *\([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\2 \1/p' "$out" | tr -d ,
  fi
}

echo "gateway cost: ${bins[*]}; $few and $many calls, $conns connections; results -> $results"
for tool in $tools; do
  index=0
  for b in "${bins[@]}"; do
    index=$((index + 1))
    a="$(measure "$b" "$tool" "$few")"
    z="$(measure "$b" "$tool" "$many")"
    line="$(python3 - "$tool" "$b" "$few" "$many" "$a" "$z" <<'EOF'
import json, sys
tool, b, few, many, a, z = sys.argv[1:]
n = int(many) - int(few)
a, z = [float(x) for x in a.split()], [float(x) for x in z.split()]  # perf: CPU ms has decimals
if tool == "callgrind":
    r = {"irPerCall": round((z[0] - a[0]) / n)}
elif tool == "perf":
    r = {"futexPerCall": round((z[0] - a[0]) / n, 2), "contextSwitchesPerCall": round((z[1] - a[1]) / n, 2),
         "syscallsPerCall": round((z[2] - a[2]) / n, 2), "cpuUsPerCall": round((z[3] - a[3]) * 1000 / n, 1)}
else:
    r = {"blocksPerCall": round((z[0] - a[0]) / n, 1), "bytesPerCall": round((z[1] - a[1]) / n)}
print(json.dumps({"tool": tool, "binary": b, "calls": [int(few), int(many)], **r}))
EOF
)"
    echo "$line" >>"$results"
    echo "  $line"
  done
done
