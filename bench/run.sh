#!/usr/bin/env bash
# One benchmark row: start a fresh server (strapi-io release build, or the Node reference),
# run strapi-io-bench against it with its pid, stop it.
#
#   bench/run.sh strapi-io|node <scenario> [strapi-io-bench options...]
#
# Environment: PING_INTERVAL / PING_TIMEOUT (ms, default 25000/20000), EXTRA_TOKENS (extra
# read-only API-token audiences), OUT (JSON report path; default bench/results/<server>-<scenario>.json),
# STRAPI_IO_BIN (another strapi-io binary, e.g. an older build for an A/B run),
# RECOVERY_MAX_DISCONNECTION (connection.recovery.maxDisconnectionDuration, ms; 0 = recovery off).
# Build first: cargo build --release -p strapi-io-server -p strapi-io-bench;
# (cd bench/node-reference && npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."
server=$1
scenario=$2
shift 2
ping_interval=${PING_INTERVAL:-25000}
ping_timeout=${PING_TIMEOUT:-20000}
out=${OUT:-bench/results/$server-$scenario.json}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
config=$work/bench.toml
target/release/strapi-io-bench config --ping-interval "$ping_interval" --ping-timeout "$ping_timeout" \
  --extra-tokens "${EXTRA_TOKENS:-0}" \
  ${RECOVERY_MAX_DISCONNECTION:+--recovery-max-disconnection "$RECOVERY_MAX_DISCONNECTION"} --out "$config"
log=$work/server.log
case "$server" in
  strapi-io)
    STRAPI_IO_PORT=0 STRAPI_IO_DATA_DIR=$work/data RUST_LOG=warn \
      "${STRAPI_IO_BIN:-target/release/strapi-io}" serve --config "$config" >"$log" 2>&1 &
    ;;
  node)
    node bench/node-reference/server.js --port 0 --config "$config" \
      --ping-interval "$ping_interval" --ping-timeout "$ping_timeout" >"$log" 2>&1 &
    ;;
  *) echo "server must be strapi-io or node" >&2; exit 2 ;;
esac
pid=$!
for _ in $(seq 1 100); do
  url=$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$log" | head -1 | sed 's/listening on //') || true
  [ -n "${url:-}" ] && break
  sleep 0.1
done
[ -n "${url:-}" ] || { cat "$log"; echo "server did not start" >&2; exit 1; }
target/release/strapi-io-bench "$scenario" --target "$url" --server-pid "$pid" \
  --label "$server $scenario $*" --json "$out" "$@"
