#!/usr/bin/env bash
# Installs what building, running and testing ai-agent-service needs on Debian 12 (bookworm).
# Idempotent: packages already present are skipped, so a second run is quick and offline.
set -euo pipefail
cd "$(dirname "$0")/.."

# Boost 1.81 comes as separate packages; libboost-all-dev is 1.74 and conflicts, so never install it.
# prometheus-cpp-dev: its core library builds /metrics; `prometheus` brings promtool for the rule tests
# (under systemd the package also enables a local Prometheus server: `systemctl disable --now prometheus`).
# libpq-dev is the PostgreSQL client the production store links; postgresql-15 is only the server
# binaries the tests start by themselves (scripts/with-postgres.sh): Debian's package also creates a
# `main` cluster, but services do not auto-start here and nothing uses it.
# libhiredis-dev is the Redis client production mode links (limits, response cache, events shared by
# replicas); redis-server is only the server the tests start by themselves (scripts/with-redis.sh;
# under systemd the package also starts one on :6379: `systemctl disable --now redis-server`).
# libmsgpuck-dev (one header) writes and reads the msgpack of Socket.IO's Redis adapter
# (libmsgpack-cxx-dev would pull Boost 1.74 in, which conflicts with 1.81).
# sqlite3 (the CLI): the crash suite runs PRAGMA integrity_check on the database a SIGKILL left.
# caddy: the deploy tests validate deploy/Caddyfile and run it in front of three local replicas
# (under systemd the package also starts a caddy on :80: `systemctl disable --now caddy`).
# valgrind: bench/gateway/cost.sh counts a call's instructions and allocations under it (benchmarks only).
# Knowledge bases (docs/dependencies.md): libmd4c-dev parses Markdown, libxml2-dev HTML and DOCX's XML,
# libzip-dev opens DOCX, libhnswlib-dev is the (header-only) vector index; poppler-utils is pdftotext,
# which the service runs as a separate process to read PDFs (GPL, so never linked).
# libstemmer-dev: Snowball's English stemmer (BSD) for knowledge bases' lexical search (BM25).
# chromium: the chat UI's browser tests (tests/ui) drive Debian's headless Chromium with playwright-core.
# clang-14 + libclang-rt-14-dev (libFuzzer, ASan/UBSan runtimes): `make fuzz` (tests/fuzz); gcovr:
# `make coverage` (docs/testing.md). Test tools only.
packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev sqlite3 libjwt-dev
  libpq-dev postgresql-15
  libhiredis-dev redis-server libmsgpuck-dev
  libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  prometheus-cpp-dev prometheus
  libmd4c-dev libxml2-dev libzip-dev libhnswlib-dev poppler-utils
  wrk curl procps valgrind
  caddy
  chromium
  clang-14 libclang-rt-14-dev gcovr
  libstemmer-dev
)
# Node 20 with its npm runs the black-box suites; the image may ship it from another source, so
# only install Debian's when no node is present.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Node packages, each pinned by its committed lockfile, installed again only when the lockfile
# changed (a stamp in node_modules): the black-box suites' test clients, examples/todo-app (the
# stand-in monolith, with socket.io-client for its tests), what the official Socket.IO
# protocol suites need (tests/socketio-protocol), and the chat UI (web/: the component's libraries
# and esbuild, which the build runs, and playwright-core + axe-core for tests/ui).
for dir in tests/blackbox examples/todo-app tests/socketio-protocol web; do
  [ -f "$dir/package-lock.json" ] || continue
  stamp="$dir/node_modules/.installed-lock"
  if ! cmp -s "$dir/package-lock.json" "$stamp" 2>/dev/null; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$stamp"
  fi
done
