#!/usr/bin/env bash
# User-space instructions per proxied request, counted by callgrind: repeatable even on a
# busy machine, where bench/proxy.sh's wall-clock figures are not. One HTTP/1.1 upstream
# (berth-bench-upstream), one proxy with one worker under `valgrind --tool=callgrind`,
# counting only while `wrk -t1 -c$CONNECTIONS` runs for $DURATION s (after a warm-up).
# Prints one line per target: requests, instructions, instructions per request. The
# kernel's share (system calls, loopback TCP) is not counted: compare like with like.
#
#   bench/proxy-callgrind.sh                 # berth and nginx
#   TARGETS=berth KEEP=1 bench/proxy-callgrind.sh   # keep the callgrind files (printed)
#
# Settings: TARGETS="berth nginx", DURATION=10, CONNECTIONS=8, BUILD=1 (0: use the
# binaries in $CARGO_TARGET_DIR/release as they are), KEEP=0. berth runs as berth-proxy
# (crates/berth/src/bin/berth-proxy.rs), the same proxy as `berth proxy`.
# Needs valgrind and wrk (Debian packages valgrind, wrk), and nginx for that target.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
TARGETS="${TARGETS:-berth nginx}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-8}"
BUILD="${BUILD:-1}"
KEEP="${KEEP:-0}"
export PATH="$PATH:/usr/sbin:/sbin"

log() { echo "[proxy-callgrind] $*" >&2; }
for tool in valgrind callgrind_control callgrind_annotate wrk; do
    command -v "$tool" >/dev/null || { log "missing $tool (apt-get install valgrind wrk)"; exit 1; }
done

bin="$CARGO_TARGET_DIR/release"
if [ "$BUILD" != 0 ]; then
    cargo build --release -p berth-bench >&2 && cargo build --release -p berth --bin berth-proxy >&2
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/berth-proxy-callgrind.XXXXXX")"
chmod 755 "$tmp"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    [ "$KEEP" = 1 ] || rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    return 1
}

"$bin/berth-bench-upstream" --threads 1 >"$tmp/upstream.out" 2>"$tmp/upstream.log" &
pids+=($!)
upstream=""
for _ in $(seq 1 100); do
    upstream="$(sed -n 's/^listening on //p' "$tmp/upstream.out" 2>/dev/null | head -n1)"
    [ -n "$upstream" ] && break
    sleep 0.1
done
[ -n "$upstream" ] || { log "the upstream did not start"; exit 1; }

# count NAME PORT -- COMMAND...: runs COMMAND under callgrind, measures, prints the line.
count() {
    local name="$1" port="$2"
    shift 3
    local out="$tmp/callgrind.$name.out"
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" "$@" \
        >"$tmp/$name.log" 2>&1 &
    local vp=$!
    pids+=("$vp")
    local up=0
    for _ in $(seq 1 300); do
        if "$bin/berth-bench-load" --target "127.0.0.1:$port" --check >/dev/null 2>&1; then
            up=1
            break
        fi
        sleep 0.2
    done
    [ "$up" = 1 ] || { log "$name did not answer on 127.0.0.1:$port"; cat "$tmp/$name.log" >&2; return 1; }
    wrk -t1 -c"$CONNECTIONS" -d3s "http://127.0.0.1:$port/" >/dev/null
    callgrind_control -i on "$vp" >/dev/null 2>&1
    local w
    w="$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$port/")"
    callgrind_control -i off "$vp" >/dev/null 2>&1
    kill "$vp" 2>/dev/null || true
    wait "$vp" 2>/dev/null || true
    local n ir
    n="$(awk '/requests in/ {print $1}' <<<"$w")"
    ir="$(callgrind_annotate "$out"* 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(/,/, "", $1); print $1}')"
    if [ -z "$n" ] || [ -z "$ir" ] || [ "$n" = 0 ]; then
        log "$name: no count (requests=${n:-?}, instructions=${ir:-?})"
        return 1
    fi
    echo "$name: requests=$n instructions=$ir per_request=$((ir / n))"
    [ "$KEEP" != 1 ] || log "$name: callgrind file $out"
}

for t in $TARGETS; do
    port="$(free_port)"
    case "$t" in
    berth)
        admin="$(free_port)"
        cat >"$tmp/berth.json" <<EOF
{"version": 1, "clusterName": "bench", "serviceName": "bench-client",
 "egress": [{"alias": "upstream:80", "listen": "127.0.0.1:$port", "upstream": "upstream"}],
 "upstreams": {"upstream": {"protocol": "http", "endpoints": [{"address": "$upstream"}]}}}
EOF
        BERTH_LOG=warn count berth "$port" -- "$bin/berth-proxy" --config "$tmp/berth.json" \
            --admin "127.0.0.1:$admin" --workers 1
        ;;
    nginx)
        mkdir -p "$tmp/nginx"
        cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    keepalive_requests 1000000;
    upstream bench { server $upstream; keepalive 256; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$port;
        location / { proxy_pass http://bench; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
EOF
        count nginx "$port" -- nginx -e "$tmp/nginx/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf"
        ;;
    *)
        log "unknown target $t"
        exit 2
        ;;
    esac
done
