#!/usr/bin/env bash
# awslogs end to end, as root: a task's container writes timestamped lines at several
# rates; the agent ships them to berth's CloudWatch Logs; a poller reads them back with
# GetLogEvents. Per rate: lines delivered per second, and p50 / p99 / max from the line
# being written to it being readable (see bench/task_logs.py). Prints a markdown table.
#
#   sudo bench/task-logs.sh
#   RATES="100 1000" ROUNDS=3 SECONDS_PER=5 BUILD=0 bench/task-logs.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
if [ "$(id -u)" != 0 ]; then
    echo "bench/task-logs.sh needs root (task namespaces, veths, a bridge)" >&2
    exit 2
fi
if [ "${BUILD:-1}" = 1 ]; then
    cargo build --release -p berth >&2
fi
export BERTH_BIN="$CARGO_TARGET_DIR/release/berth"
exec python3 "$repo/bench/task_logs.py"
