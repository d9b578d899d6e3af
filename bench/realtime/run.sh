#!/usr/bin/env bash
# Realtime over Socket.IO (issue 13); the results are in docs/benchmarks.md.
#
#   bash bench/realtime/run.sh [BINARY [MOCK_BINARY]]     (or: make bench-realtime)
#        (default build/release/ai-agent-service and build/release/mock-llm)
#
# Each run starts fresh services on 127.0.0.1 (a new SQLite file, LOG_LEVEL=warn, per-user limits
# off, the per-socket event limit off, no Redis: rooms in-process) and drives them with bench/realtime/load.mjs (the official
# socket.io-client 4.8 over WebSocket, every socket in that one node process):
#   idle    RT_IDLE sockets of as many users, connected and authenticated, then idle: the service's
#           VmRSS delta per socket (target of issue 13: <= 20 KB).
#   fanout  RT_FANOUT sockets of one user, held by the native receiver (bench_fanout_recv: raw
#           WebSockets on RT_RECV_THREADS epoll threads, each frame timestamped at read) or, with
#           RT_RECEIVER=node, by RT_FANOUT_PROCS socket.io-client node processes (which add a tail of
#           their own); times on the machine's monotonic clock. RT_FANOUT_EVENTS times a chat over
#           REST (the offline mock model) whose ai-message reaches all of them: delivery latency
#           p50/p99 from the request (the turn included) and from the first socket to each other
#           (target: p99 <= 50 ms).
#   cpu     mock-llm answering RT_TOKENS tokens as fast as it can; on one service, RT_CPU_PAIRS
#           pairs of legs of RT_TURNS streamed turns, one leg over ai:chat and one over SSE, the
#           order alternating pair by pair: the service's CPU time (/proc/PID/task/*/schedstat) per
#           output token and the ratio Socket.IO / SSE of each pair (target: Socket.IO <= SSE).
# Figures are medians of RT_RUNS runs. The load generator shares the cores with the service, as
# in the other benchmarks: before each measured run the script waits up to BENCH_MAX_WAIT s for
# the machine to be at most BENCH_MAX_BUSY % busy with other work and records the reading.
# Nothing here asserts a timing.
#
# Knobs (environment):
#   RT_RUNS=3  RT_IDLE=10000  RT_FANOUT=1000  RT_FANOUT_EVENTS=20  RT_FANOUT_PROCS=4
#   RT_RECEIVER=native|node  RT_RECV_THREADS=1  RT_RECEIVER_BIN (default: bench_fanout_recv beside
#     the binary, else build/release's, else build/test's)
#   RT_TURNS=200  RT_TOKENS=200  RT_CPU_PAIRS=6
#   RT_CONCURRENCY=4 (turns at once in cpu)  RT_SCENARIOS="idle fanout cpu"
#   THREADS (the service's I/O threads; default: the number of cores)
#   RT_NICE=N: the service and the fan-out's sender and receiver run at nice N (e.g. -10, as root):
#     on a machine shared with other work, what the service does when it gets the CPU it asks
#     for, as on a host of its own. Say so with the figures.
#   BENCH_MAX_BUSY=25 BENCH_MAX_WAIT=60 BENCH_OUT=DIR
#   RT_PROFILE=perf|strace: while each fanout and cpu measurement runs, `perf record -g` (into
#     $BENCH_OUT/perf-SCENARIO-RUN.data, both transports of cpu together: one alone with load.mjs
#     cpu; read with `perf report -i F --no-children`)
#     or `strace -c -f` (its syscall table into ...strace.txt) is attached to the service. Both
#     slow the service down: figures of such runs are not for comparison.
set -euo pipefail
# RT_NICE: in a session (so an autogroup) of its own; see below.
if [ -n "${RT_NICE:-}" ] && [ -z "${RT_NICE_SESSION:-}" ] && [ -e /proc/self/autogroup ]; then
  RT_NICE_SESSION=1 exec setsid --wait bash "${BASH_SOURCE[0]}" "$@"
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$(dirname "$here")"
root="$(dirname "$bench")"
bin="${1:-$root/build/release/ai-agent-service}"
mock_bin="${2:-$(dirname "$bin")/mock-llm}"
[[ "$bin" == /* ]] || bin="$PWD/$bin"
[[ "$mock_bin" == /* ]] || mock_bin="$PWD/$mock_bin"
. "$bench/lib.sh"
bench_require realtime/run.sh "$bin" "$mock_bin" -- node python3 curl
[ -d "$root/tests/blackbox/node_modules/socket.io-client" ] ||
  { echo "realtime/run.sh: socket.io-client missing: run scripts/install-deps.sh" >&2; exit 2; }

runs="${RT_RUNS:-3}"
idle_count="${RT_IDLE:-10000}"
fanout_count="${RT_FANOUT:-1000}"
fanout_events="${RT_FANOUT_EVENTS:-20}"
fanout_procs="${RT_FANOUT_PROCS:-4}"
receiver="${RT_RECEIVER:-native}"
recv_threads="${RT_RECV_THREADS:-1}"
recv_bin="${RT_RECEIVER_BIN:-}"
if [ -z "$recv_bin" ]; then
  for b in "$(dirname "$bin")/bench_fanout_recv" "$root/build/release/bench_fanout_recv" "$root/build/test/bench_fanout_recv"; do
    [ -x "$b" ] && { recv_bin="$b"; break; }
  done
fi
if [ "$receiver" = native ] && [[ "${RT_SCENARIOS:-idle fanout cpu}" == *fanout* ]] && [ ! -x "$recv_bin" ]; then
  echo "realtime/run.sh: no bench_fanout_recv (cmake --build build/release --target bench_fanout_recv, or RT_RECEIVER=node)" >&2
  exit 2
fi
turns="${RT_TURNS:-200}"
cpu_pairs="${RT_CPU_PAIRS:-6}"
tokens="${RT_TOKENS:-200}"
concurrency="${RT_CONCURRENCY:-4}"
scenarios=" ${RT_SCENARIOS:-idle fanout cpu} "
threads="${THREADS:-$(nproc)}"
max_busy="${BENCH_MAX_BUSY:-25}"
max_wait="${BENCH_MAX_WAIT:-60}"
bench_setup realtime
# One benchmark socket asks for turn after turn: the per-socket event limit off (0 = none).
export SOCKETIO_EVENTS_PER_SECOND=0

# Every socket is a descriptor in the service and one in the load generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$((idle_count + 1000))
[ "$(ulimit -n)" -ge "$need" ] || { echo "realtime/run.sh: ulimit -n is $(ulimit -n); $need needed for RT_IDLE=$idle_count" >&2; exit 2; }

pid=""; mock_pid=""
cleanup() { profile_stop; stop_pid "$pid"; stop_pid "$mock_pid"; rm -rf "$work"; }
trap cleanup EXIT

niced=""
if [ -n "${RT_NICE:-}" ]; then
  # With the kernel's autogroups (sched_autogroup_enabled), nice only ranks processes within one
  # session's group and every group gets its share: the benchmark runs in a session of its own
  # whose group gets the nice value too.
  [ -e /proc/self/autogroup ] && echo "$RT_NICE" >/proc/self/autogroup
  niced="nice -n $RT_NICE"
fi
bench_py() { python3 "$bench/bench.py" "$@"; }
load() { $niced node "$here/load.mjs" "$@"; }
busy=0
profile="${RT_PROFILE:-}"
prof_pid=""
# profile_start NAME / profile_stop: RT_PROFILE's recorder attached to the service ($pid).
profile_start() {
  case "$profile" in
    perf) perf record -q -g -F 499 -p "$pid" -o "$out/perf-$1.data" >/dev/null 2>&1 & prof_pid=$! ;;
    strace) strace -c -f -p "$pid" -o "$out/strace-$1.txt" 2>/dev/null & prof_pid=$! ;;
    "") return 0 ;;
    *) echo "realtime/run.sh: RT_PROFILE is perf or strace" >&2; exit 2 ;;
  esac
  sleep 1  # let the recorder attach before the load starts (a profile, not a measurement)
}
profile_stop() {
  [ -n "$prof_pid" ] || return 0
  kill -INT "$prof_pid" 2>/dev/null || true
  wait "$prof_pid" 2>/dev/null || true
  prof_pid=""
}
quiet() { busy="$(bench_py quiet --max-busy "$max_busy" --max-wait "$max_wait")"; }
# record SCENARIO RUN JSON: adds the context to a result line and keeps it.
record() {
  [ -n "$3" ] || { echo "realtime/run.sh: $1 run $2 measured nothing (see the error above)" >&2; exit 1; }
  local line="{\"scenario\":\"$1\",\"run\":$2,\"loadavg\":\"$(loadavg)\",\"otherBusyPct\":$busy,${3#\{}"
  echo "$line" >>"$results"
  echo "  $1 run $2: $3"
}

# start_service NAME [AI_CONFIG]: a fresh service; sets pid, port.
start_service() {
  local name="$1" config="${2:-}"
  port="$(bench_py free-port)"
  PORT="$port" HOST=127.0.0.1 DATABASE_URL="sqlite:$work/$name.db" LOG_LEVEL=warn THREADS="$threads" \
    env ${config:+"AI_CONFIG=$config"} $niced "$bin" serve >/dev/null 2>"$work/$name.stderr" &
  pid=$!
  bench_wait_ready realtime/run.sh "$name"
}
stop_service() { stop_pid "$pid"; pid=""; }
url() { echo "http://127.0.0.1:$port"; }

echo "{\"scenario\":\"meta\",\"when\":\"$(date -u +%FT%TZ)\",\"binary\":\"$bin\",\"binarySha256\":\"$(sha256sum "$bin" | cut -c1-16)\",\"nproc\":$(nproc),\"loadavg\":\"$(loadavg)\",\"serviceThreads\":$threads,\"runs\":$runs,\"idle\":$idle_count,\"fanout\":$fanout_count,\"fanoutEvents\":$fanout_events,\"turns\":$turns,\"tokens\":$tokens,\"ulimitN\":$(ulimit -n),\"node\":\"$(node --version)\",\"nice\":\"${RT_NICE:-}\"}" >>"$results"
echo "realtime benchmark: $bin (THREADS=$threads); load $(loadavg); results -> $results"

for i in $(seq 1 "$runs"); do
  if [[ "$scenarios" == *" idle "* ]]; then
    start_service "idle-$i"
    quiet; record idle "$i" "$(load idle --url "$(url)" --secret "$JWT_SECRET" --count "$idle_count" --pid "$pid")"
    stop_service
  fi
  if [[ "$scenarios" == *" fanout "* ]]; then
    start_service "fanout-$i"
    quiet; profile_start "fanout-$i"
    record fanout "$i" "$(load fanout --url "$(url)" --secret "$JWT_SECRET" --sockets "$fanout_count" --events "$fanout_events" --procs "$fanout_procs" --receiver "$receiver" --native-bin "$recv_bin" --recv-threads "$recv_threads" --pid "$pid")"
    profile_stop
    stop_service
  fi
  if [[ "$scenarios" == *" cpu "* ]]; then
    bench_start_mock realtime/run.sh "cpu-$i" --answer-tokens "$tokens"
    bench_mock_models "$work/cpu-$i.yaml"
    start_service "cpu-$i" "$work/cpu-$i.yaml"
    # Both transports on the same service, RT_CPU_PAIRS pairs of legs in alternating order.
    quiet; profile_start "cpu-$i"
    record cpu "$i" "$(load cpu-pairs --url "$(url)" --secret "$JWT_SECRET" --pairs "$cpu_pairs" --turns "$turns" --concurrency "$concurrency" --pid "$pid")"
    profile_stop
    stop_service
    stop_pid "$mock_pid"; mock_pid=""
  fi
done

echo "summary ($results):"
load summary "$results"
