#!/usr/bin/env bash
# Control-plane benchmark: latency of DescribeServices / CreateService / RegisterInstance /
# DiscoverInstances at an empty store and after loading 1,000 Service Connect services and
# 10,000 instances (each service desiredCount 1, no agent: its task waits for one), the
# rate of the load itself, then the idle server's CPU and memory with everything loaded.
# Prints markdown on stdout (progress on stderr).
#
#   bench/control-plane.sh                         # the default sizes
#   bench/control-plane.sh --services 10000 ...    # extra flags go to berth-bench-control-plane
#   IDLE_SECONDS=10 bench/control-plane.sh         # how long the idle server is watched
#   BUILD=0                                        # use the release binaries already built
#
# Targets: every p99 under 20 ms, loading at >= 500 CreateService/s, the idle server
# under 1 % of a core.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

IDLE_SECONDS="${IDLE_SECONDS:-10}"
if [ "${BUILD:-1}" != 0 ]; then
    cargo build --release -p berth -p berth-bench >&2
fi

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
    --listen 127.0.0.1:0 --data-dir "$tmp/data" --network "$repo/bench/network.json" \
    >"$tmp/server.out" 2>"$tmp/server.log" &
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

# The idle server, everything loaded: CPU time (utime + stime, clock ticks) over
# IDLE_SECONDS, after a moment to let the last passes finish.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
sleep 3
t0="$(cpu_ticks)"
sleep "$IDLE_SECONDS"
t1="$(cpu_ticks)"
hz="$(getconf CLK_TCK)"
rss_kb="$(awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status")"
db_mb="$(du -sm "$tmp/data" | cut -f1)"
idle_pct="$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s="$IDLE_SECONDS" 'BEGIN {printf "%.2f", (b - a) * 100 / hz / s}')"
verdict="$(awk -v p="$idle_pct" 'BEGIN {print (p < 1.0) ? "met" : "MISSED"}')"
echo
echo "Idle server, everything loaded (${IDLE_SECONDS} s): CPU ${idle_pct} % of one core (target < 1 %: ${verdict}), RSS $((rss_kb / 1024)) MB, data directory ${db_mb} MB."
