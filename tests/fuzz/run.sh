#!/usr/bin/env bash
# make fuzz: runs every libFuzzer target of BUILD_DIR for SECONDS each, starting from the committed
# seeds (tests/fuzz/corpus/<target>/, never written to) plus what earlier runs found
# (BUILD_DIR/corpus/<target>/). Prints each target's executions and the total; a crash leaves its
# input in BUILD_DIR/artifacts/<target>/ and fails the run (copy it into corpus/<target>/ with the
# fix, so the ctest replay keeps it).
# FUZZ_PARALLEL=1 runs the targets side by side instead of one after another (same SECONDS each):
# on a shared machine, under `nice -n 19`, each fuzzer then gets its own share of the CPU the
# others leave, so the run reaches more executions in the same wall time.
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS [target...]
set -uo pipefail
build=${1:?build dir}
seconds=${2:-60}
shift 2 || true
here=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
if ((${#targets[@]} == 0)); then
  for d in "$here"/corpus/*/; do targets+=("$(basename "$d")"); done
fi
for t in "${targets[@]}"; do
  [ -x "$build/tests/fuzz/fuzz_$t" ] || { echo "missing $build/tests/fuzz/fuzz_$t (cmake --build $build --target fuzzers)"; exit 2; }
done

# One target's run; its exit status is left in BUILD_DIR/fuzz_<target>.rc.
fuzz_one() {
  local t=$1
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
  # -rss_limit_mb: a parser that balloons on small input is a finding too.
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t/" "$build/corpus/$t" "$here/corpus/$t" >"$build/fuzz_$t.log" 2>&1
  echo $? >"$build/fuzz_$t.rc"
}

echo "fuzz: ${#targets[@]} targets, ${seconds} s each, $([ "${FUZZ_PARALLEL:-0}" = 1 ] && echo "side by side" || echo "one after another"), started $(date -u +%FT%TZ)"
if [ "${FUZZ_PARALLEL:-0}" = 1 ]; then
  pids=()
  for t in "${targets[@]}"; do fuzz_one "$t" & pids+=($!); done
  wait "${pids[@]}"
else
  for t in "${targets[@]}"; do fuzz_one "$t"; done
fi

total=0
failed=()
for t in "${targets[@]}"; do
  rc=$(cat "$build/fuzz_$t.rc")
  execs=$(grep -m1 '^stat::number_of_executed_units' "$build/fuzz_$t.log" | awk '{print $2}')
  execs=${execs:-0}
  total=$((total + execs))
  printf '%-18s %12s execs  %s\n' "$t" "$execs" "$([ "$rc" -eq 0 ] && echo ok || echo "FAILED (rc $rc, see $build/fuzz_$t.log)")"
  [ "$rc" -eq 0 ] || failed+=("$t")
done
printf '%-18s %12s execs in total (ended %s)\n' total "$total" "$(date -u +%FT%TZ)"
if ((${#failed[@]})); then
  echo "crashes in: ${failed[*]}; inputs in $build/artifacts/"
  exit 1
fi
