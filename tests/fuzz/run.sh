#!/usr/bin/env bash
# make fuzz: runs every libFuzzer target of BUILD_DIR for SECONDS each, starting from the committed
# seeds (tests/fuzz/corpus/<target>/, never written to) plus what earlier runs found
# (BUILD_DIR/corpus/<target>/). Prints each target's executions and the total; a crash leaves its
# input in BUILD_DIR/artifacts/<target>/ and fails the run (copy it into corpus/<target>/ with the
# fix, so the ctest replay keeps it).
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
total=0
failed=()
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "missing $bin (cmake --build $build --target fuzzers)"; exit 2; }
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
  log="$build/fuzz_$t.log"
  # -rss_limit_mb: a parser that balloons on small input is a finding too.
  "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t/" "$build/corpus/$t" "$here/corpus/$t" >"$log" 2>&1
  rc=$?
  execs=$(grep -m1 '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  execs=${execs:-0}
  total=$((total + execs))
  printf '%-18s %12s execs  %s\n' "$t" "$execs" "$([ $rc -eq 0 ] && echo ok || echo "FAILED (rc $rc, see $log)")"
  [ $rc -eq 0 ] || failed+=("$t")
done
printf '%-18s %12s execs in total\n' total "$total"
if ((${#failed[@]})); then
  echo "crashes in: ${failed[*]}; inputs in $build/artifacts/"
  exit 1
fi
