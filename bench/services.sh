#!/usr/bin/env bash
# Service Connect control-loop benchmark, as root: endpoint propagation to 50 client
# proxies, failed requests during a rolling deploy at 1,000 requests/s, task
# replacement time, proxy memory (see bench/services.py). Prints a markdown table.
#
#   sudo bench/services.sh
#   CLIENTS=20 CHANGES=10 BUILD=0 bench/services.sh
#
# Settings (environment): CLIENTS=50 CHANGES=20 RATE=1000 REPLACEMENTS=5
#   BRIDGE=berthb0 SUBNET=10.219.0.0/16 BUILD=1 (0: use the release binaries as built)
#   STRICT=1 (exit non-zero when a target is missed) KEEP=1 (keep the logs)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
if [ "$(id -u)" != 0 ]; then
    echo "bench/services.sh needs root (task namespaces, veths, a bridge)" >&2
    exit 2
fi
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "needs Debian's nginx (apt-get install nginx)" >&2; exit 2; }
if [ "${BUILD:-1}" = 1 ]; then
    cargo build --release -p berth -p berth-bench >&2
fi
export BERTH_BIN="$CARGO_TARGET_DIR/release/berth" LOAD_BIN="$CARGO_TARGET_DIR/release/berth-bench-load"
exec python3 "$repo/bench/services.py"
