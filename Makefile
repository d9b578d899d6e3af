# The two commands of the README: `make run` and `make test`. Both install what they need first.
BUILD_DIR   ?= build/release
TEST_DIR    ?= build/test
JOBS        ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build build-test run test unit bench bench-realtime bench-vectors bench-retrieval-1m clean fuzz test-asan test-tsan coverage coverage-unit soak text-order

all: build

deps:
	bash scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DAAS_BUILD_TESTS=OFF $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS) --target ai-agent-service

# Starts the service on its embedded defaults: port 4002, SQLite under ./data, the offline mock
# model unless a provider key is set. Mint a token with: $(BUILD_DIR)/ai-agent-service token --user alice
run: build
	$(BUILD_DIR)/ai-agent-service serve

$(TEST_DIR)/build.ninja:
	cmake -S . -B $(TEST_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAAS_WERROR=ON $(CMAKE_FLAGS)

build-test: deps $(TEST_DIR)/build.ninja
	cmake --build $(TEST_DIR) -j $(JOBS)

# Every test: unit (GoogleTest), store conformance, and the black-box suites against the binary.
test: build-test
	cd $(TEST_DIR) && ctest --output-on-failure --timeout 900

bench: build
	bash bench/run.sh $(BUILD_DIR)/ai-agent-service

# Rewrites cmake/text-order.txt, the Release link's code layout (what runs at start-up and on the
# common requests, placed together: scripts/text-order.sh), from the Release binary; commit it.
text-order: build
	bash scripts/text-order.sh $(BUILD_DIR)/ai-agent-service

# Socket.IO: memory per idle socket, fan-out latency, CPU per streamed token against SSE
# (bench/realtime/run.sh; figures in docs/benchmarks.md). Needs mock-llm beside the binary.
bench-realtime: build
	cmake --build $(BUILD_DIR) -j $(JOBS) --target mock-llm bench_fanout_recv
	bash bench/realtime/run.sh $(BUILD_DIR)/ai-agent-service $(BUILD_DIR)/mock-llm

# The vector index of knowledge bases on synthetic 1,536-dim embeddings (bench/retrieval/vectors.sh;
# figures in docs/benchmarks.md, "Retrieval"): minutes at the default 100,000 vectors, so not part of
# `make bench`'s scenarios unless BENCH_SCENARIOS names `vectors`.
bench-vectors: deps
	bash bench/retrieval/vectors.sh $(BUILD_DIR)

# Lexical search on a synthetic 1,000,000-chunk knowledge base written straight into a SQLite store
# file (bench/retrieval/lexical-1m/; ~0.5 GB of disk and ~8 min here; figures in docs/benchmarks.md;
# build/test/bench_lexical DB_FILE times the index in process on a file kept with run.mjs --db FILE).
bench-retrieval-1m: build
	AAS_BIN=$(BUILD_DIR)/ai-agent-service node bench/retrieval/lexical-1m/run.mjs

# libFuzzer (clang-14, ASan + UBSan) on the parsers of untrusted bytes, FUZZ_SECONDS each from the
# committed seeds in tests/fuzz/corpus/; crashes land in build/fuzz/artifacts/. docs/testing.md.
# FUZZ_PARALLEL=1 runs the targets side by side (each still FUZZ_SECONDS).
FUZZ_DIR     ?= build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_PARALLEL ?= 0
$(FUZZ_DIR)/build.ninja:
	cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DAAS_FUZZ=ON -DAAS_BUILD_TESTS=OFF

fuzz: deps $(FUZZ_DIR)/build.ninja
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzzers
	FUZZ_PARALLEL=$(FUZZ_PARALLEL) bash tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

# The unit tests and the black-box suites again, with the service, tools and tests built with
# ASan + UBSan (build/asan) or TSan (build/tsan; unit tests only: see docs/testing.md). Suppressions,
# each with its reason, are in tests/sanitizers/. SAN_TESTS (test-asan) and TSAN_TESTS (test-tsan)
# pick ctest entries (a regex).
ASAN_DIR  ?= build/asan
TSAN_DIR  ?= build/tsan
SAN_TESTS ?= .
TSAN_TESTS ?= ^unit_
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$(CURDIR)/tests/sanitizers/ubsan.supp \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitizers/lsan.supp \
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/sanitizers/tsan.supp
$(ASAN_DIR)/build.ninja:
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAAS_WERROR=ON -DAAS_SANITIZE=address,undefined

test-asan: deps $(ASAN_DIR)/build.ninja
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && $(SAN_ENV) ctest --output-on-failure --timeout 1800 -R '$(SAN_TESTS)' -E '^(ui|deploy|promtool)$$'

# -O1 -g1: what TSan's authors advise (-O1 or more, line tables for the reports), and lighter to
# compile than -O2 -g: the build's compile time, not the test run, is what limited every TSan run.
$(TSAN_DIR)/build.ninja:
	cmake -S . -B $(TSAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAAS_WERROR=ON -DAAS_SANITIZE=thread \
	  '-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG'

test-tsan: deps $(TSAN_DIR)/build.ninja
	cmake --build $(TSAN_DIR) -j $(JOBS) --target $$(cd $(TSAN_DIR) && ninja -t targets all | grep -o '^unit_[a-z]*' | sort -u)
	cd $(TSAN_DIR) && $(SAN_ENV) ctest --output-on-failure --timeout 1800 -R '$(TSAN_TESTS)'

# Line and branch coverage of src/ from the unit tests and the black-box suites (gcovr; per
# folder); the figures are kept in docs/testing.md. Debug -O0 with line tables only (-g1: gcov needs
# none, a sanitizer report needs file:line). COV_SANITIZE=address,undefined builds it with ASan +
# UBSan as well, so one instrumented build (the costliest of all here) gives both the sanitizer run of
# every suite and the figures (UBSan adds checks gcov counts as branches: see docs/testing.md).
# Only the targets ctest runs are built (not the benchmarks). Every ctest entry runs but promtool
# (it checks alert rules, no code of src/): ui, todo_app and deploy drive the service too (ui is the
# only suite that serves the embedded page). AAS_START_TIMEOUT_MS: an instrumented service starts
# several times slower than the black-box harness's default allows.
COV_DIR ?= build/coverage
COV_SANITIZE ?=
$(COV_DIR)/build.ninja:
	cmake -S . -B $(COV_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug '-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g1' \
	  -DAAS_WERROR=ON -DAAS_COVERAGE=ON -DAAS_SANITIZE=$(COV_SANITIZE)

coverage: deps $(COV_DIR)/build.ninja
	cmake --build $(COV_DIR) -j $(JOBS) --target ai-agent-service mock-llm socketio-test-server \
	  $$(cd $(COV_DIR) && ninja -t targets all | grep -o '^\(unit\|fuzz\)_[a-z_]*' | sort -u)
	find $(COV_DIR) -name '*.gcda' -delete
	-cd $(COV_DIR) && $(SAN_ENV) AAS_START_TIMEOUT_MS=120000 ctest --output-on-failure --timeout 1800 \
	  -E '^promtool$$'
	bash scripts/coverage-report.sh $(COV_DIR)

# Line coverage of src/ from the unit suites alone: the unit binaries only (no service, no black-box
# run, so a fraction of `make coverage`), Debug -O0 with line tables, then the same report.
# COV_SANITIZE=address,undefined builds them with ASan + UBSan as well, so one build gives both the
# sanitizer run and the line figures (UBSan's checks are branches gcov counts: read only the line
# columns of such a run).
COV_UNIT_DIR ?= build/coverage-unit
$(COV_UNIT_DIR)/build.ninja:
	cmake -S . -B $(COV_UNIT_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug '-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g1' \
	  -DAAS_WERROR=ON -DAAS_COVERAGE=ON -DAAS_SANITIZE=$(COV_SANITIZE)

coverage-unit: deps $(COV_UNIT_DIR)/build.ninja
	cmake --build $(COV_UNIT_DIR) -j $(JOBS) --target $$(cd $(COV_UNIT_DIR) && ninja -t targets all | grep -o '^unit_[a-z]*' | sort -u)
	find $(COV_UNIT_DIR) -name '*.gcda' -delete
	-cd $(COV_UNIT_DIR) && $(SAN_ENV) ctest --output-on-failure --timeout 1800 -R '^unit_'
	bash scripts/coverage-report.sh $(COV_UNIT_DIR)

# bench/soak: SOAK_MINUTES (default 30) of mixed load; fails when RSS or fds keep growing or a 5xx
# is unexpected. Figures in docs/benchmarks.md.
SOAK_MINUTES ?= 30
soak: build
	cmake --build $(BUILD_DIR) -j $(JOBS) --target mock-llm
	SOAK_MINUTES=$(SOAK_MINUTES) node bench/soak/soak.mjs $(BUILD_DIR)/ai-agent-service $(BUILD_DIR)/mock-llm

clean:
	rm -rf build
