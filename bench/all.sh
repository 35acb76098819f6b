#!/usr/bin/env bash
# Every scenario of BENCHMARKS.md, strapi-io and the Node reference side by side, each on a
# freshly started server. Results: bench/results/*.json (and the tables on stdout).
# Takes about 25 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p strapi-io-server -p strapi-io-bench
(cd bench/node-reference && npm ci --no-audit --no-fund --loglevel=error)
row() { # name server scenario args...
  local name=$1 server=$2 scenario=$3
  shift 3
  echo "=== $name: $server"
  OUT=bench/results/$name-$server.json bench/run.sh "$server" "$scenario" "$@"
}
for server in strapi-io node; do
  # (a) idle connections, heartbeat every 2 s: 30 heartbeats in the 60 s hold.
  for n in 1000 10000 19000; do
    PING_INTERVAL=2000 PING_TIMEOUT=5000 row "idle-$n" "$server" idle --clients "$n" --hold 60 --source-ips 4
  done
  # (b) fan-out: 10k clients in 4 audiences, one article event per 10 ms, then as fast as possible
  # (its memory read again after 30 s of rest: how far it comes back to the connected figure).
  row fanout-10k-100hz "$server" fanout --clients 10000 --events 1000 --rate 100 --source-ips 4
  row fanout-10k-max "$server" fanout --clients 10000 --events 1000 --rate 0 --concurrency 8 --source-ips 4 --settle 30
  # (c) entity subscriptions: 10k clients each on 10 of 1,000 entities.
  row entity-10k "$server" entity --clients 10000 --subs-per-client 10 --entities 1000 --events 2000 --rate 200 --source-ips 4
  # (d) handshake storm: 19k connects as fast as possible.
  row storm-19k "$server" storm --clients 19000 --concurrency 100 --source-ips 4
  # Emit cost against the number of audiences: 4 and 16.
  row audiences-4 "$server" fanout --clients 4000 --events 500 --rate 0 --concurrency 4 --source-ips 2
  EXTRA_TOKENS=12 row audiences-16 "$server" fanout --clients 4000 --events 500 --rate 0 --concurrency 4 --source-ips 2 \
    --mix public=1,reader=1,editor=1,dashboard=1,extra-1=1,extra-2=1,extra-3=1,extra-4=1,extra-5=1,extra-6=1,extra-7=1,extra-8=1,extra-9=1,extra-10=1,extra-11=1,extra-12=1
done
