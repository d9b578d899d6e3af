# The two commands of the README: `make run` and `make test`. Both install what they need first.
BUILD_DIR   ?= build/release
TEST_DIR    ?= build/test
JOBS        ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build build-test run test unit bench bench-realtime bench-vectors clean

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

# Socket.IO: memory per idle socket, fan-out latency, CPU per streamed token against SSE
# (bench/realtime/run.sh; figures in docs/benchmarks.md). Needs mock-llm beside the binary.
bench-realtime: build
	cmake --build $(BUILD_DIR) -j $(JOBS) --target mock-llm
	bash bench/realtime/run.sh $(BUILD_DIR)/ai-agent-service $(BUILD_DIR)/mock-llm

# The vector index of knowledge bases on synthetic 1,536-dim embeddings (bench/retrieval/vectors.sh;
# figures in docs/benchmarks.md, "Retrieval"): minutes at the default 100,000 vectors, so not part of
# `make bench`'s scenarios unless BENCH_SCENARIOS names `vectors`.
bench-vectors: deps
	bash bench/retrieval/vectors.sh $(BUILD_DIR)

clean:
	rm -rf build
