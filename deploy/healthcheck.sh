#!/bin/bash
# Docker HEALTHCHECK of the ai-agent-service image: exits 0 when GET /health answers 200.
#
# Plain bash (/dev/tcp) instead of curl: the runtime image would otherwise carry curl and libcurl's
# dependencies (~10 MB) for this one request, and the binary has no health subcommand. /health does
# not touch the database, so a slow disk does not get a healthy process restarted; readiness
# (database reachable, schema current) is /ready, for the load balancer and for people.
#
# tests/deploy/check.sh runs this very script against a live binary, so it stays correct.
set -u
port="${PORT:-4002}"
host="${HOST:-0.0.0.0}"
case "$host" in
  0.0.0.0 | "" ) host=127.0.0.1 ;;
  :: | "[::]" ) host=::1 ;;
esac
timeout="${HEALTHCHECK_TIMEOUT_SECONDS:-3}"

{ exec 3<>"/dev/tcp/${host}/${port}"; } 2>/dev/null || { echo "unhealthy: nothing answers on ${host}:${port}" >&2; exit 1; }
printf 'GET /health HTTP/1.1\r\nHost: localhost\r\nUser-Agent: healthcheck\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t "$timeout" status <&3 || exit 1
exec 3<&-
case "$status" in
  "HTTP/1."?" 200 "*) exit 0 ;;
  *) echo "unhealthy: ${status%$'\r'}" >&2; exit 1 ;;
esac
