#!/usr/bin/env bash
# The vector index on synthetic 1,536-dim embeddings: build time, search p50/p99 at k=10 (wall clock
# and CPU time), recall@10 against exact search, memory; and the exact scan at a few sizes (where it
# stops being the better choice). Figures: docs/benchmarks.md, "Retrieval".
#
#   bash bench/retrieval/vectors.sh [BUILD_DIR]     (default build/release; builds bench_vectors)
#
# Knobs: BENCH_VECTORS_N=100000 (1000000 needs ~12 GB of RAM and hours of CPU for the graph),
# BENCH_VECTORS_EF="50,100,200", BENCH_VECTORS_M=16, BENCH_VECTORS_EXACT="2000,5000,20000",
# BENCH_VECTORS_DATA=clustered|gaussian. Nothing here asserts a timing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$(dirname "$here")")"
build="${1:-$root/build/release}"
[ -f "$build/build.ninja" ] || cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAAS_BUILD_TESTS=OFF
cmake --build "$build" --target bench_vectors
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$build/bench_vectors" --exact-sizes "${BENCH_VECTORS_EXACT:-2000,5000,20000}" --n 0 --ef 10 | grep '^exact'
"$build/bench_vectors" --n "${BENCH_VECTORS_N:-100000}" --m "${BENCH_VECTORS_M:-16}" \
  --ef "${BENCH_VECTORS_EF:-50,100,200}" --data "${BENCH_VECTORS_DATA:-clustered}"
