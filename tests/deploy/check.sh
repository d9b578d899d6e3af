#!/usr/bin/env bash
# ctest `deploy`: checks deploy/ without Docker, which cannot run in the test environment (no
# daemon, no privileges). What can be proven natively is:
#   1. Caddy (Debian's caddy, as in scripts/install-deps.sh) accepts deploy/Caddyfile, and its adapted
#      JSON routes each path where docs/operations.md says (check.mjs);
#   2. the Dockerfile, docker-compose.yml and .env.example have what the deployment needs (check.mjs),
#      including a runtime stage that installs the package of every shared library the built binary
#      links (found here with readelf + dpkg, so a new dependency cannot be forgotten there);
#   3. the real binary starts on .env.example's values (only the database, secret and port replaced),
#      and the image's health check script (deploy/healthcheck.sh) says healthy while it runs and
#      unhealthy once it stopped.
# The native topology test (three replicas behind this Caddyfile, balancing and unbuffered SSE) is
# tests/blackbox/caddy.test.mjs.
#
# Environment: AAS_BIN (the built service; ctest sets it), CADDY, NODE (default: from PATH).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
caddy="${CADDY:-caddy}"
node="${NODE:-node}"
bin="${AAS_BIN:-$root/build/ai-agent-service}"
[ -x "$bin" ] || { echo "deploy: the service binary is missing at $bin (build it or set AAS_BIN)"; exit 1; }

tmp="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "== caddy validate / adapt deploy/Caddyfile ($("$caddy" version))"
# Caddy reads {$VAR} placeholders from the environment: run with none of them set, so the defaults
# (the compose stack's names) are what is checked.
env -u CADDY_ADDRESS -u CADDY_ADMIN -u AI_UPSTREAMS -u BACKEND_UPSTREAMS \
  "$caddy" validate --config "$root/deploy/Caddyfile" --adapter caddyfile >"$tmp/validate.log" 2>&1 \
  || { cat "$tmp/validate.log"; echo "FAIL  caddy validate"; exit 1; }
echo "ok    caddy validate"
env -u CADDY_ADDRESS -u CADDY_ADMIN -u AI_UPSTREAMS -u BACKEND_UPSTREAMS \
  "$caddy" adapt --config "$root/deploy/Caddyfile" --adapter caddyfile >"$tmp/caddy.json" 2>"$tmp/adapt.log" \
  || { cat "$tmp/adapt.log"; echo "FAIL  caddy adapt"; exit 1; }
if grep -q '"level":"warn"' "$tmp/adapt.log"; then
  cat "$tmp/adapt.log"; echo "FAIL  caddy adapt warns (run: caddy fmt --overwrite deploy/Caddyfile)"; exit 1
fi
echo "ok    caddy adapt (no warnings)"

echo "== packages of the binary's shared libraries"
needed_pkgs=""
for lib in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
  # awk reads to the end (no early exit): ldconfig killed by SIGPIPE would fail the pipeline
  # under pipefail, and set -e would end the script without a word.
  file="$(ldconfig -p | awk -v l="$lib" '!found && $1 == l && /x86-64|x86_64|aarch64|AArch64/ { print $NF; found = 1 }')"
  [ -n "$file" ] || { echo "FAIL  $lib (needed by the binary) is not in the linker cache"; exit 1; }
  pkg="$(dpkg -S "$(readlink -f "$file")" 2>/dev/null | awk -F: 'NR == 1 { print $1 }')" \
    || pkg="$(dpkg -S "$file" 2>/dev/null | awk -F: 'NR == 1 { print $1 }')" || true
  [ -n "$pkg" ] || { echo "FAIL  no Debian package owns $file ($lib)"; exit 1; }
  echo "      $lib -> $pkg"
  needed_pkgs+=" $pkg"
done

echo "== structure (check.mjs)"
AAS_NEEDED_PACKAGES="$needed_pkgs" "$node" "$root/tests/deploy/check.mjs" "$tmp/caddy.json"

echo "== the binary on .env.example, and deploy/healthcheck.sh"
# .env.example's assignments as the environment (nothing else from this shell), with the values
# that need the compose network (PostgreSQL, the secret to fill in) replaced by local ones.
env_args=()
while IFS= read -r line; do
  [[ "$line" =~ ^[A-Z][A-Z0-9_]*= ]] && env_args+=("$line")
done <"$root/deploy/.env.example"
env_args+=("PATH=$PATH" "DATABASE_URL=sqlite:$tmp/ai.db" "JWT_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  "PORT=0" "HOST=127.0.0.1" "THREADS=1")
env -i "${env_args[@]}" "$bin" serve >"$tmp/out.log" 2>"$tmp/err.log" &
pid=$!
port=""
for _ in $(seq 1 100); do
  port="$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/err.log" | head -1 || true)"
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/err.log"; echo "FAIL  the service did not start on .env.example's values"; exit 1; }
echo "ok    the service starts on .env.example's values (port $port)"

PORT="$port" HOST=0.0.0.0 bash "$root/deploy/healthcheck.sh" \
  || { echo "FAIL  deploy/healthcheck.sh says unhealthy while the service runs"; exit 1; }
echo "ok    deploy/healthcheck.sh: healthy while the service runs"

kill -TERM "$pid"
wait "$pid" || { echo "FAIL  the service did not exit 0 on SIGTERM"; exit 1; }
pid=""
# The access log (stdout) is complete once the process has exited.
grep -q '"route":"/health","status":200' "$tmp/out.log" \
  || { cat "$tmp/out.log"; echo "FAIL  the health check's request is not GET /health -> 200 in the access log"; exit 1; }
echo "ok    the health check's request was GET /health -> 200 (access log)"
if PORT="$port" HOST=0.0.0.0 bash "$root/deploy/healthcheck.sh" 2>/dev/null; then
  echo "FAIL  deploy/healthcheck.sh says healthy with nothing listening"; exit 1
fi
echo "ok    deploy/healthcheck.sh: unhealthy once the service stopped"
echo "deploy: all checks passed"
