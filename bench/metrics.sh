#!/usr/bin/env bash
# CloudWatch metrics benchmark (no root needed): GetMetricData p50/p99 over 24 h of
# 1-minute data for 100 services (pre-loaded with PutMetricData), one query and a
# 5-query graph with math, in interleaved rounds (medians of the rounds); and the
# metric store's growth at 1,000 requests/s across 20 services, from one simulated
# hour of agent reports every 10 s (POST /berth/agent/v1/metrics, signed by a joined
# agent), extrapolated to a day. Prints a markdown table (see bench/metrics.py).
#
#   bench/metrics.sh
#   ROUNDS=5 QUERIES=40 BUILD=0 bench/metrics.sh
#
# Settings (environment): SERVICES=100 ROUNDS=5 QUERIES=40 RATE=1000 RATE_SERVICES=20
#   BUILD=1 (0: use the release binary as built) BERTH_BIN (a binary to use instead)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
if [ -z "${BERTH_BIN:-}" ]; then
    if [ "${BUILD:-1}" = 1 ]; then
        cargo build --release -p berth >&2
    fi
    export BERTH_BIN="$CARGO_TARGET_DIR/release/berth"
fi
PY="${PYTHON:-python3}"
"$PY" -c "import boto3" 2>/dev/null || { echo "needs boto3 (pip install boto3)" >&2; exit 2; }
exec "$PY" "$repo/bench/metrics.py"
