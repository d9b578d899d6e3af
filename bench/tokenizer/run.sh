#!/usr/bin/env bash
# Tokenizer throughput, ours against npm tiktoken, single-threaded, on the same texts in one run.
#
#   bash bench/tokenizer/run.sh [BUILD_DIR]     (default build/release; builds bench_tokenizer)
#
# BENCH_SECONDS=2: minimum time per measurement. Nothing here asserts a timing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$(dirname "$here")")"
build="${1:-$root/build/release}"
[ -f "$build/build.ninja" ] || cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAAS_BUILD_TESTS=OFF
cmake --build "$build" --target bench_tokenizer
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
node "$here/make_corpus.mjs" "$out"
files=("$out/code_and_docs.txt" "$out/mixed.txt")
"$build/bench_tokenizer" "${files[@]}"
node "$here/bench_tiktoken.mjs" "${files[@]}"
