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
#   bench/control-plane.sh --sigv4 [--rounds N --seconds S --connections C]
#                                                  # what checking signatures costs: the
#                                                  # same load on a server that checks and
#                                                  # one started --unchecked-signatures
#
# Targets: every p99 under 20 ms, loading at >= 500 CreateService/s, the idle server
# under 1 % of a core; checking signatures under 5 % of throughput.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

IDLE_SECONDS="${IDLE_SECONDS:-10}"
if [ "${BUILD:-1}" != 0 ]; then
    cargo build --release -p berth -p berth-bench >&2
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")"
servers=()
cleanup() {
    for pid in "${servers[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

# start_server NAME [flags...]: a release berth server on a free loopback port; sets $url.
start_server() {
    local name="$1"
    shift
    BERTH_LOG="${BERTH_LOG:-warn}" "$CARGO_TARGET_DIR/release/berth" server \
        --listen 127.0.0.1:0 --data-dir "$tmp/$name" --network "$repo/bench/network.json" "$@" \
        >"$tmp/$name.out" 2>"$tmp/$name.log" &
    local pid=$!
    servers+=("$pid")
    url=""
    for _ in $(seq 1 300); do
        url="$(grep -o 'listening on http://[^ ]*' "$tmp/$name.out" 2>/dev/null | head -n1 | sed 's/^listening on //' || true)"
        [ -n "$url" ] && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "berth server exited before listening:" >&2
            cat "$tmp/$name.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "berth server did not report its address within 30 s" >&2
    exit 1
}

if [ "${1:-}" = "--sigv4" ]; then
    shift
    start_server checked
    checked="$url"
    start_server unchecked --unchecked-signatures
    echo "berth servers (release): checked at $checked, unchecked at $url" >&2
    exec "$CARGO_TARGET_DIR/release/berth-bench-sigv4" --checked "$checked" --unchecked "$url" "$@"
fi

start_server data
server_pid="${servers[0]}"
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
