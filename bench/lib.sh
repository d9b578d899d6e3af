# Shared by the benchmark scripts (bench/run.sh, bench/usage/run.sh, bench/gateway/run.sh,
# bench/cluster/run.sh): sourced after they set `bin`. Provides the results file and work dir, the service environment
# every benchmark wants, and small helpers.
#
#   bench_require SCRIPT EXECUTABLE... -- TOOL...
#                      stops (exit 2) naming SCRIPT when an executable is missing or a tool is
#                      not on PATH
#   bench_setup NAME   out=<bin dir>/bench-results (or BENCH_OUT), results=$out/NAME-<time>.jsonl,
#                      work=<fresh temp dir>; exports a random JWT_SECRET, limits off, no provider
#                      keys (the offline mock model, or the script's own upstream)
#   stop_pid PID       SIGTERM and wait, when it is still running
#   bench_wait_ready SCRIPT NAME [SECONDS]   until the service ($pid, $port) answers GET /ready
#                      (10 s by default); exits naming SCRIPT with its stderr ($work/NAME.stderr)
#                      when it does not
#   bench_mock_models FILE   writes an AI_CONFIG whose one model, gpt-4o-mini, is mock-llm
#                      ($mock_port), with the router's limits out of the way
#   bench_start_mock SCRIPT NAME [FLAGS...]   $mock_bin on a free port, one thread; sets mock_pid
#                      and mock_port
#   loadavg            the 1/5/15-minute load averages

bench_require() {
  local script="$1"; shift
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    [ -x "$1" ] || { echo "$script: no executable at $1 (build it with: make build)" >&2; exit 2; }
    shift
  done
  [ $# -gt 0 ] && shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$script: $tool is required (scripts/install-deps.sh)" >&2; exit 2; }
  done
}

bench_setup() {
  out="${BENCH_OUT:-$(dirname "$bin")/bench-results}"
  mkdir -p "$out"
  results="$out/$1-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
  work="$(mktemp -d "${TMPDIR:-/tmp}/aas-$1.XXXXXX")"
  export JWT_SECRET="bench-secret-$RANDOM$RANDOM-not-for-production"
  # One benchmark user sends thousands of requests a second: per-user limits off (0 = none; the
  # limiter still runs). A script's caller may set them.
  export LIMIT_RPM="${LIMIT_RPM:-0}" LIMIT_TPM="${LIMIT_TPM:-0}"
  export LIMIT_CONCURRENT_STREAMS="${LIMIT_CONCURRENT_STREAMS:-0}"
  # Every load client is 127.0.0.1: no per-address connection cap (MAX_CONNECTIONS still follows
  # ulimit -n).
  export MAX_CONNECTIONS_PER_IP="${MAX_CONNECTIONS_PER_IP:-0}"
  unset OPENAI_API_KEY ANTHROPIC_API_KEY OPENAI_BASE_URL REDIS_URL AI_CONFIG 2>/dev/null || true
}

stop_pid() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 0
  kill -TERM "$1" 2>/dev/null
  wait "$1" 2>/dev/null || true
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

bench_wait_ready() {
  local tries=$(( ${3:-10} * 50 ))
  for _ in $(seq 1 "$tries"); do
    if curl -sf -o /dev/null "http://127.0.0.1:$port/ready"; then return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  echo "$1: $2: the service did not become ready; its stderr:" >&2
  cat "$work/$2.stderr" >&2
  exit 1
}

bench_mock_models() {
  cat >"$1" <<EOF
models:
  - name: gpt-4o-mini
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "http://127.0.0.1:$mock_port/v1", api_key: sk-bench, max_concurrency: 10000, max_queue: 10000}
EOF
}

bench_start_mock() {
  local script="$1" name="$2"; shift 2
  "$mock_bin" --port 0 --threads 1 "$@" >/dev/null 2>"$work/$name.mock.stderr" &
  mock_pid=$!
  for _ in $(seq 1 250); do
    mock_port="$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/$name.mock.stderr" | grep -o '[0-9]*$' || true)"
    [ -n "$mock_port" ] && return 0
    sleep 0.02
  done
  echo "$script: mock-llm did not start:" >&2; cat "$work/$name.mock.stderr" >&2; exit 1
}
