#!/usr/bin/env bash
# One cluster benchmark row: a throwaway redis-server on a free port, N strapi-io gateway
# nodes on it (release build, the config run.sh uses, each with its own data directory), the
# bench spreading its clients over every node (contiguous blocks of client indices) with each
# node's pid and Redis's pid; everything is stopped at exit.
#
#   bench/cluster.sh <nodes> <scenario> [strapi-io-bench options...]
#
# The emits go through node 1 unless the options say --emit-target N.
# Environment:
#   PING_INTERVAL / PING_TIMEOUT  heartbeat of the nodes, ms (default 25000/20000)
#   EXTRA_TOKENS                  extra read-only API-token audiences (default 0)
#   OUT                           JSON report (default bench/results/cluster-<nodes>n-<scenario>.json)
#   NO_REDIS=1                    no Redis: the nodes run standalone (the single-node baseline;
#                                 with more than one node an emit reaches one node's clients only)
#   RUN_TIMEOUT                   seconds after which the bench is killed (default 1800; the
#                                 bench also stops itself at its own --deadline)
#   LOGS                          a directory to keep the nodes' and Redis's logs in
#   RECOVERY_MAX_DISCONNECTION    connection.recovery.maxDisconnectionDuration, ms (0 = off)
# Build first: cargo build --release -p strapi-io-server -p strapi-io-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  sed -n '2,20p' "$0" >&2
  exit 2
fi
nodes=$1
scenario=$2
shift 2
if ! [[ $nodes =~ ^[1-9][0-9]*$ ]] || ((nodes > 16)); then
  echo "nodes: a number from 1 to 16" >&2
  exit 2
fi
for bin in target/release/strapi-io target/release/strapi-io-bench; do
  [ -x "$bin" ] || { echo "$bin is missing: cargo build --release -p strapi-io-server -p strapi-io-bench" >&2; exit 2; }
done
ping_interval=${PING_INTERVAL:-25000}
ping_timeout=${PING_TIMEOUT:-20000}
out=${OUT:-bench/results/cluster-${nodes}n-$scenario.json}
no_redis=${NO_REDIS:-0}

work=$(mktemp -d)
node_pids=()
redis_pid=

# Stops one of our processes: TERM, up to 10 s, then KILL.
stop() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  for pid in "${node_pids[@]}"; do stop "$pid"; done
  [ -n "$redis_pid" ] && stop "$redis_pid"
  if [ -n "${LOGS:-}" ]; then
    mkdir -p "$LOGS"
    cp "$work"/*.log "$LOGS"/ 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

redis_url=
if [ "$no_redis" != 1 ]; then
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$work" --logfile "$work/redis.log" --daemonize no &
  redis_pid=$!
  for _ in $(seq 1 50); do
    [ "$(redis-cli -p "$redis_port" ping 2>/dev/null || true)" = PONG ] && break
    sleep 0.1
  done
  [ "$(redis-cli -p "$redis_port" ping 2>/dev/null || true)" = PONG ] ||
    { cat "$work/redis.log" >&2; echo "redis-server did not start" >&2; exit 1; }
  redis_url=redis://127.0.0.1:$redis_port
  echo "redis-server pid $redis_pid on $redis_url"
fi

config=$work/bench.toml
target/release/strapi-io-bench config --ping-interval "$ping_interval" --ping-timeout "$ping_timeout" \
  --extra-tokens "${EXTRA_TOKENS:-0}" \
  ${RECOVERY_MAX_DISCONNECTION:+--recovery-max-disconnection "$RECOVERY_MAX_DISCONNECTION"} --out "$config"

for i in $(seq 1 "$nodes"); do
  mkdir -p "$work/node$i"
  if [ -n "$redis_url" ]; then
    STRAPI_IO_REDIS_URL=$redis_url STRAPI_IO_PORT=0 STRAPI_IO_DATA_DIR=$work/node$i RUST_LOG=warn \
      target/release/strapi-io serve --config "$config" >"$work/node$i.log" 2>&1 &
  else
    STRAPI_IO_PORT=0 STRAPI_IO_DATA_DIR=$work/node$i RUST_LOG=warn \
      target/release/strapi-io serve --config "$config" >"$work/node$i.log" 2>&1 &
  fi
  node_pids+=($!)
done
urls=()
for i in $(seq 1 "$nodes"); do
  url=
  for _ in $(seq 1 100); do
    url=$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$work/node$i.log" | head -1 | sed 's/listening on //') || true
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { cat "$work/node$i.log" >&2; echo "node $i did not start" >&2; exit 1; }
  urls+=("$url")
done
# Every node linked to Redis (GET /health says cluster.ready) before the clients come.
if [ -n "$redis_url" ]; then
  for i in $(seq 1 "$nodes"); do
    ready=
    for _ in $(seq 1 100); do
      if curl -fsS --max-time 1 "${urls[$((i - 1))]}/health" 2>/dev/null | grep -q '"cluster":{[^}]*"ready":true'; then
        ready=1
        break
      fi
      sleep 0.1
    done
    [ -n "$ready" ] || { cat "$work/node$i.log" >&2; echo "node $i did not join Redis" >&2; exit 1; }
  done
fi
echo "nodes: ${urls[*]} (pids ${node_pids[*]})"

join() { local IFS=,; echo "$*"; }
redis_args=()
[ -n "$redis_pid" ] && redis_args=(--redis-pid "$redis_pid")
# The recovery scenario reads Redis's memory and keys itself.
[ -n "$redis_url" ] && [ "$scenario" = recovery ] && redis_args+=(--redis-url "$redis_url")
status=0
timeout --kill-after=10 "${RUN_TIMEOUT:-1800}" \
  target/release/strapi-io-bench "$scenario" --target "$(join "${urls[@]}")" \
  --server-pid "$(join "${node_pids[@]}")" "${redis_args[@]}" \
  --label "cluster-${nodes}n$([ -n "$redis_url" ] || echo ' (no Redis)') $scenario $*" \
  --json "$out" "$@" || status=$?

# What the servers said (RUST_LOG=warn: warnings and errors only), and whether they survived.
for i in $(seq 1 "$nodes"); do
  pid=${node_pids[$((i - 1))]}
  alive=alive
  kill -0 "$pid" 2>/dev/null || alive="EXITED"
  sed 's/\x1b\[[0-9;]*m//g' "$work/node$i.log" | grep -E '\b(WARN|ERROR)\b' >"$work/node$i.warn" || true
  echo "node $i (pid $pid): $alive, $(wc -l <"$work/node$i.warn") warning/error line(s) in its log"
  tail -5 "$work/node$i.warn" | sed 's/^/    /'
  rm -f "$work/node$i.warn"
done
if [ -n "$redis_pid" ]; then
  kill -0 "$redis_pid" 2>/dev/null && echo "redis-server: alive" || echo "redis-server: EXITED"
fi
exit "$status"
