#!/usr/bin/env bash
# Connection state recovery rows (issue 18): a fresh gateway (or a cluster of N on a throwaway
# Redis) and `strapi-io-bench recovery` against it.
#
#   bench/recovery.sh <nodes> [strapi-io-bench recovery options...]
#
# nodes = 1: one standalone gateway (bench/run.sh); nodes ≥ 2: bench/cluster.sh with Redis,
# the bench reading Redis through --redis-url (cluster.sh adds it for this scenario).
# Environment: OUT (JSON report), RECOVERY_MAX_DISCONNECTION (ms; 0 = recovery off).
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=$1
shift
if [ "$nodes" = 1 ]; then
  exec bench/run.sh strapi-io recovery "$@"
fi
exec bench/cluster.sh "$nodes" recovery "$@"
