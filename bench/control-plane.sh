#!/usr/bin/env bash
# Control-plane benchmark: latency of DescribeServices / CreateService / RegisterInstance /
# DiscoverInstances at an empty store and after loading 1,000 Service Connect services and
# 10,000 instances. Prints a markdown table on stdout (progress on stderr).
#
#   bench/control-plane.sh                      # the default sizes
#   bench/control-plane.sh --services 200 ...   # extra flags go to berth-bench-control-plane
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

cargo build --release -p berth -p berth-bench >&2

tmp="$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

BERTH_LOG="${BERTH_LOG:-warn}" "$CARGO_TARGET_DIR/release/berth" server \
    --listen 127.0.0.1:0 --data-dir "$tmp/data" >"$tmp/server.out" 2>"$tmp/server.log" &
server_pid=$!

url=""
for _ in $(seq 1 300); do
    url="$(grep -o 'listening on http://[^ ]*' "$tmp/server.out" 2>/dev/null | head -n1 | sed 's/^listening on //' || true)"
    [ -n "$url" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "berth server exited before listening:" >&2
        cat "$tmp/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
if [ -z "$url" ]; then
    echo "berth server did not report its address within 30 s" >&2
    exit 1
fi
echo "berth server (release) at $url, data in $tmp/data" >&2

"$CARGO_TARGET_DIR/release/berth-bench-control-plane" --endpoint "$url" "$@"
