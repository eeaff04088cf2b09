#!/usr/bin/env bash
# CloudWatch Logs benchmark: ingestion (events/s) with batches of 1, 100 and 1,000 events
# from several concurrent streams, the latency from a PutLogEvents being sent to its event
# being visible in GetLogEvents (a poller following the forward token), and the logs
# database's bytes per event. Rounds are interleaved; the table shows medians. Prints
# markdown on stdout (progress on stderr).
#
#   bench/logs.sh                                  # 3 rounds, 3 s per measurement, 4 streams
#   bench/logs.sh --rounds 5 --seconds 5 --streams 8 --message-bytes 200
#   BUILD=0 bench/logs.sh                          # use the release binaries already built
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

if [ "${BUILD:-1}" != 0 ]; then
    cargo build --release -p berth >&2
    cargo build --release -p berth-logs --example logs-bench >&2
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-logs.XXXXXX")"
pid=""
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

BERTH_LOG="${BERTH_LOG:-warn}" "$CARGO_TARGET_DIR/release/berth" server \
    --listen 127.0.0.1:0 --data-dir "$tmp/data" >"$tmp/server.out" 2>"$tmp/server.log" &
pid=$!
url=""
for _ in $(seq 1 300); do
    url="$(grep -o 'listening on http://[^ ]*' "$tmp/server.out" 2>/dev/null | head -n1 | sed 's/^listening on //' || true)"
    [ -n "$url" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "berth server exited before listening:" >&2
        cat "$tmp/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
[ -n "$url" ] || { echo "berth server did not report its address within 30 s" >&2; exit 1; }
echo "berth server (release) at $url, data in $tmp/data" >&2

"$CARGO_TARGET_DIR/release/examples/logs-bench" --endpoint "$url" --db "$tmp/data/logs.db" "$@"
