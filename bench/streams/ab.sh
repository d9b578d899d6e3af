#!/usr/bin/env bash
# Streams, old binary against new, interleaved in one run (issue 16); results in docs/benchmarks.md.
#
#   bash bench/streams/ab.sh OLD_BIN NEW_BIN [MOCK_BIN]     (MOCK_BIN default: mock-llm beside NEW_BIN)
#
# Each measurement starts a fresh mock-llm and a fresh service (SQLite, THREADS=2, LOG_LEVEL=warn,
# per-user limits and the per-address connection cap off) and drives the OpenAI-compatible gateway
# with bench/gateway/load.mjs streams; the binaries alternate run by run (old, new, old, new, ...).
#   token   AB_TOKEN_STREAMS streams, mock-llm pacing 20 tokens/s each (every token its own upstream
#           read and client write, as with a real model), held 10 s: service CPU over the hold
#           divided by the tokens delivered = µs of service CPU per relayed token.
#   memory  AB_MEMORY_STREAMS streams at 2 tokens/s held 10 s, after one warm-up call (the
#           tokenizer and other lazily built state are in the idle figure): VmRSS idle, held, per
#           stream = (held - idle) / streams answered, and AB_AFTER s after the client closed them.
# Medians of AB_RUNS runs; `uptime` before and after. Nothing here asserts a timing.
#
# Knobs: AB_RUNS=3 AB_SCENARIOS="token memory" AB_TOKEN_STREAMS=200 AB_MEMORY_STREAMS=2000 AB_AFTER=60
#        BENCH_OUT=DIR
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$(dirname "$here")"
old_bin="${1:?usage: ab.sh OLD_BIN NEW_BIN [MOCK_BIN]}"
new_bin="${2:?usage: ab.sh OLD_BIN NEW_BIN [MOCK_BIN]}"
mock_bin="${3:-$(dirname "$new_bin")/mock-llm}"
bin="$new_bin"
. "$bench/lib.sh"
bench_require streams/ab.sh "$old_bin" "$new_bin" "$mock_bin" -- node python3 curl
runs="${AB_RUNS:-3}"
scenarios=" ${AB_SCENARIOS:-token memory} "
token_streams="${AB_TOKEN_STREAMS:-200}"
memory_streams="${AB_MEMORY_STREAMS:-2000}"
after="${AB_AFTER:-60}"
bench_setup streams-ab
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

pid=""; mock_pid=""
cleanup() { stop_pid "$pid"; stop_pid "$mock_pid"; rm -rf "$work"; }
trap cleanup EXIT
bench_py() { python3 "$bench/bench.py" "$@"; }

# measure SCENARIO LABEL BIN RUN
measure() {
  local scenario="$1" label="$2" b="$3" run="$4" tps answer n extra=()
  if [ "$scenario" = token ]; then tps=20; answer=1200; n="$token_streams"
  else tps=2; answer=240; n="$memory_streams"; extra=(--after "$after"); fi
  bench_start_mock streams/ab.sh "$scenario-$label-$run" --tokens-per-second "$tps" --answer-tokens "$answer"
  bench_mock_models "$work/models.yaml"
  port="$(bench_py free-port)"
  local db="$work/$scenario-$label-$run.db"
  PORT="$port" HOST=127.0.0.1 DATABASE_URL="sqlite:$db" LOG_LEVEL=warn THREADS=2 AI_CONFIG="$work/models.yaml" \
    "$b" serve >/dev/null 2>"$work/$label.stderr" &
  pid=$!
  bench_wait_ready streams/ab.sh "$label"
  local token; token="$(DATABASE_URL="sqlite:$db" "$b" token --user bench)"
  local url="http://127.0.0.1:$port/api/ai/v1/chat/completions"
  if [ "$scenario" = memory ]; then
    curl -sf -o /dev/null -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
      -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"warm up"}],"max_tokens":2}' "$url"
  fi
  local load; load="$(loadavg)"
  node "$bench/gateway/load.mjs" streams --url "$url" --token "$token" --steps "$n" --hold 10 --pid "$pid" \
    "${extra[@]}" >"$work/out.jsonl"
  python3 - "$work/out.jsonl" "$scenario" "$label" "$run" "$load" >>"$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
scenario, label, run, load = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
held = [r for r in rows if isinstance(r.get("step"), int) and r["step"] > 0][-1]
out = {"scenario": scenario, "binary": label, "run": run, "loadavg": load, "streams": held["streams"],
       "alive": held["alive"], "statuses": held.get("statuses")}
if scenario == "token":
    eps = held["eventsPerStreamPerS"]["mean"]
    out.update(eventsPerStreamPerS=eps, serviceCpuPct=held["serviceCpuPct"],
               usPerToken=round(held["serviceCpuPct"] / 100 * 1e6 / (held["alive"] * eps), 2))
else:
    idle = rows[0]["service"]["VmRSS"]
    ok = (held.get("statuses") or {}).get("200", 0)
    after = [r for r in rows if str(r.get("step")).startswith("closed+")]
    out.update(idleMiB=idle, heldMiB=held["service"]["VmRSS"],
               perStreamKiB=round((held["service"]["VmRSS"] - idle) * 1024 / max(ok, 1), 1),
               afterMiB=after[-1]["service"]["VmRSS"] if after else None)
print(json.dumps(out))
PY
  tail -1 "$results"
  stop_pid "$pid"; pid=""; stop_pid "$mock_pid"; mock_pid=""
}

echo "streams A/B: old $old_bin, new $new_bin; $(uptime)"
for i in $(seq 1 "$runs"); do
  for scenario in token memory; do
    [[ "$scenarios" == *" $scenario "* ]] || continue
    measure "$scenario" old "$old_bin" "$i"
    measure "$scenario" new "$new_bin" "$i"
  done
done
echo "after: $(uptime)"
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(xs): return statistics.median(xs) if xs else None
for scenario, keys in (("token", ["usPerToken"]), ("memory", ["perStreamKiB", "idleMiB", "afterMiB"])):
    for key in keys:
        v = {b: [r[key] for r in rows if r["scenario"] == scenario and r["binary"] == b and r.get(key) is not None]
             for b in ("old", "new")}
        if v["old"] and v["new"]:
            print(f"{scenario} {key}: old {med(v['old'])} ({v['old']}), new {med(v['new'])} ({v['new']}), "
                  f"new/old {med(v['new']) / med(v['old']):.2f}")
PY
echo "results: $results"
