#!/usr/bin/env bash
# The load balancer hop (the berth proxy's ALB mode) beside nginx and HAProxy configured
# with the same path rules, a companion of bench/proxy.sh (same tools, same upstream).
#
# Two upstreams (berth-bench-upstream), "api" and "web". Each proxy has the same rules,
# evaluated in this order:
#   /admin/*  -> 403 (a fixed response)
#   /static/* -> web
#   /api/*    -> api
#   anything else -> web
# The load asks for /api/items, so every proxy evaluates its rules before the one that
# matches (berth: ALB rules by priority; nginx: prefix locations; HAProxy: path_beg ACLs
# in use_backend order). Keep-alive to the upstreams, no access logs, WORKERS threads or
# processes each.
#
# For each: requests/s and p50/p99 at saturation (wrk), p50/p99 at a fixed rate
# (berth-bench-load, open loop), and the proxy's CPU time per request. Then, for berth
# and HAProxy (nginx has no active health checks outside its commercial version), the
# time from a target turning unhealthy (its every answer 503 from then on) to the proxy
# sending it no more requests, with the same checks: every 5 s (ELB's shortest interval),
# 2 s timeout, unhealthy after 2 failures; bench/alb_unhealthy.py drives it.
# Prints markdown tables on stdout (progress on stderr).
#
#   bench/alb.sh
#   DURATION=5 ROUNDS=3 bench/alb.sh
#
# Settings (environment): WORKERS=2, UPSTREAM_THREADS=1, DURATION=10, WRK_THREADS=2,
# WRK_CONNECTIONS=64, RATE=1000, RATE_DURATION=10, RATE_CONNECTIONS=8, TARGETS="berth
# nginx haproxy", UNHEALTHY_RUNS=3 (0: skip the health check timing), BUILD=1 (0: use
# the binaries in $CARGO_TARGET_DIR/release).
# shellcheck disable=SC2317
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

WORKERS="${WORKERS:-2}"
UPSTREAM_THREADS="${UPSTREAM_THREADS:-1}"
DURATION="${DURATION:-10}"
WRK_THREADS="${WRK_THREADS:-2}"
WRK_CONNECTIONS="${WRK_CONNECTIONS:-64}"
RATE="${RATE:-1000}"
RATE_DURATION="${RATE_DURATION:-10}"
RATE_CONNECTIONS="${RATE_CONNECTIONS:-8}"
TARGETS="${TARGETS:-berth nginx haproxy}"
UNHEALTHY_RUNS="${UNHEALTHY_RUNS:-3}"
BUILD="${BUILD:-1}"
PATH_ASKED="/api/items"

log() { echo "[alb-bench] $*" >&2; }

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v python3 >/dev/null || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
        { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
fi
export PATH="$PATH:/usr/sbin:/sbin"

bin="$CARGO_TARGET_DIR/release"
load="$bin/berth-bench-load"
if [ "$BUILD" != 0 ]; then
    cargo build --release -p berth-bench >&2
    cargo build --release -p berth --bin berth-proxy >&2
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/berth-alb-bench.XXXXXX")"
chmod 755 "$tmp"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        if [[ " $* " != *" $p "* ]] && port_free "$p"; then
            echo "$p"
            return
        fi
    done
    return 1
}
tree() {
    local p="$1" c
    echo "$p"
    for c in $(pgrep -P "$p" 2>/dev/null || true); do tree "$c"; done
}
clk_tck="$(getconf CLK_TCK)"
cpu_ticks() {
    local total=0 p rest
    for p in $(tree "$1"); do
        rest="$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null)" || continue
        total=$((total + $(echo "$rest" | awk '{print $12 + $13}')))
    done
    echo "$total"
}
to_us() {
    awk -v v="$1" 'BEGIN { n = v + 0
        if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000;
        else if (v ~ /s$/) print n * 1000000; else print "?" }'
}

# --- upstreams ---------------------------------------------------------------------
start_upstream() { # name
    "$bin/berth-bench-upstream" --threads "$UPSTREAM_THREADS" >"$tmp/$1.out" 2>"$tmp/$1.log" &
    pids+=($!)
    local a=""
    for _ in $(seq 1 100); do
        a="$(sed -n 's/^listening on //p' "$tmp/$1.out" 2>/dev/null | head -n1)"
        [ -n "$a" ] && break
        sleep 0.1
    done
    [ -n "$a" ] || { log "upstream $1 did not start"; exit 1; }
    echo "$a"
}
api="$(start_upstream api)"
web="$(start_upstream web)"
log "upstreams: api $api, web $web"

# --- proxies -----------------------------------------------------------------------
start_berth() {
    proxy_port="$(free_port)"
    local admin
    admin="$(free_port "$proxy_port")"
    python3 - "$tmp/berth.json" "$proxy_port" "$api" "$web" <<'EOF'
import json, sys
path, port, api, web = sys.argv[1:]
arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
def group(name, addr):
    ip, p = addr.rsplit(":", 1)
    return {"name": name, "arn": f"{arn}:targetgroup/{name}/0123456789abcdef", "port": int(p),
            "healthCheck": {"intervalSeconds": 5, "timeoutSeconds": 2, "unhealthyThreshold": 2,
                            "healthyThreshold": 2},
            "targets": [{"id": addr, "ip": ip}]}
def fwd(g):
    return [{"type": "forward", "targetGroups": [{"targetGroup": g}]}]
def path(p):
    return [{"field": "path-pattern", "values": [p]}]
snap = {"version": 1, "loadBalancer": {
    "name": "bench", "arn": f"{arn}:loadbalancer/app/bench/0123456789abcdef",
    "listeners": [{"address": "127.0.0.1", "port": int(port), "defaultActions": fwd("web"),
                   "rules": [
                       {"priority": 10, "conditions": path("/admin/*"),
                        "actions": [{"type": "fixed-response", "statusCode": 403}]},
                       {"priority": 20, "conditions": path("/static/*"), "actions": fwd("web")},
                       {"priority": 30, "conditions": path("/api/*"), "actions": fwd("api")}]}],
    "targetGroups": {"api": group("api", api), "web": group("web", web)}}}
json.dump(snap, open(path, "w"))
EOF
    BERTH_LOG=warn "$bin/berth-proxy" --config "$tmp/berth.json" --admin "127.0.0.1:$admin" \
        --workers "$WORKERS" --health-report "$tmp/berth-health.ndjson" >"$tmp/berth.out" 2>"$tmp/berth.log" &
    proxy_pid=$!
    # Targets are initial until two checks pass.
    ready_path="$PATH_ASKED"
}

start_nginx() {
    proxy_port="$(free_port)"
    mkdir -p "$tmp/nginx"
    cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes $WORKERS;
daemon off;
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
    upstream api { server $api; keepalive 256; }
    upstream web { server $web; keepalive 256; }
    server {
        listen 127.0.0.1:$proxy_port;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location ^~ /admin/ { return 403; }
        location ^~ /static/ { proxy_pass http://web; }
        location ^~ /api/ { proxy_pass http://api; }
        location / { proxy_pass http://web; }
    }
}
EOF
    nginx -e "$tmp/nginx/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" >"$tmp/nginx/out.log" 2>&1 &
    proxy_pid=$!
    ready_path="$PATH_ASKED"
}

haproxy_cfg() { # port api web check-options
    cat <<EOF
global
    nbthread $WORKERS
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    option http-keep-alive
    http-reuse always
frontend bench
    bind 127.0.0.1:$1
    acl admin path_beg /admin/
    acl static path_beg /static/
    acl api path_beg /api/
    http-request return status 403 if admin
    use_backend web if static
    use_backend api if api
    default_backend web
backend api
    option httpchk GET /
    server api $2 $4
backend web
    option httpchk GET /
    server web $3 $4
EOF
}

start_haproxy() {
    proxy_port="$(free_port)"
    haproxy_cfg "$proxy_port" "$api" "$web" "check inter 5s fall 2 rise 2" >"$tmp/haproxy.cfg"
    haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1 &
    proxy_pid=$!
    ready_path="$PATH_ASKED"
}

wait_ready() { # name
    for _ in $(seq 1 300); do
        kill -0 "$proxy_pid" 2>/dev/null || { log "$1 exited"; return 1; }
        if "$load" --target "127.0.0.1:$proxy_port" --path "$ready_path" --check >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    log "$1 did not answer 200 within 30 s"
    return 1
}

declare -A R
measure() { # name
    local name="$1" url="http://127.0.0.1:$proxy_port$PATH_ASKED" out c0 c1 requests
    wrk -t "$WRK_THREADS" -c "$WRK_CONNECTIONS" -d 2s "$url" >/dev/null
    log "$name: wrk -t $WRK_THREADS -c $WRK_CONNECTIONS -d ${DURATION}s $PATH_ASKED"
    c0="$(cpu_ticks "$proxy_pid")"
    out="$(wrk -t "$WRK_THREADS" -c "$WRK_CONNECTIONS" -d "${DURATION}s" --latency "$url")"
    c1="$(cpu_ticks "$proxy_pid")"
    R[$name.rps]="$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")"
    R[$name.p50]="$(to_us "$(awk '$1 == "50%" {print $2}' <<<"$out")")"
    R[$name.p99]="$(to_us "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
    R[$name.errors]="$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")"
    requests="$(awk '/requests in/ {print $1}' <<<"$out")"
    R[$name.cpu_req]="$(awk -v t=$((c1 - c0)) -v hz="$clk_tck" -v n="$requests" 'BEGIN {if (n > 0) printf "%.1f", t / hz / n * 1e6; else print "?"}')"
    log "$name: $RATE requests/s for ${RATE_DURATION}s"
    out="$("$load" --target "127.0.0.1:$proxy_port" --path "$PATH_ASKED" --rate "$RATE" \
        --duration "$RATE_DURATION" --connections "$RATE_CONNECTIONS")"
    R[$name.r50]="$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$out")"
    R[$name.r99]="$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$out")"
}

for t in $TARGETS; do
    "start_$t"
    pids+=("$proxy_pid")
    if wait_ready "$t"; then
        measure "$t"
    else
        R[$t.rps]="failed"
    fi
    kill "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
done

# --- unhealthy -> no traffic -------------------------------------------------------
unhealthy=""
if [ "$UNHEALTHY_RUNS" != 0 ]; then
    log "unhealthy target timing: $UNHEALTHY_RUNS runs each"
    unhealthy="$(python3 "$repo/bench/alb_unhealthy.py" --berth "$bin/berth-proxy" \
        --runs "$UNHEALTHY_RUNS" --workers "$WORKERS" --tmp "$tmp")"
fi

# --- report ------------------------------------------------------------------------
echo "## The load balancer hop: berth (ALB mode) beside nginx and HAProxy, same path rules"
echo
echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'));" \
    "load before: $(cut -d' ' -f1-3 /proc/loadavg). WORKERS=$WORKERS, upstreams with $UPSTREAM_THREADS thread(s) each."
echo "Saturation: wrk -t $WRK_THREADS -c $WRK_CONNECTIONS, ${DURATION}s on $PATH_ASKED (the third rule)." \
    "Fixed rate: $RATE req/s for ${RATE_DURATION}s, $RATE_CONNECTIONS connections."
echo
echo "| proxy | wrk req/s | wrk p50 µs | wrk p99 µs | p50 @ ${RATE}/s µs | p99 @ ${RATE}/s µs | CPU µs/req | errors |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for t in $TARGETS; do
    echo "| $t | ${R[$t.rps]:-?} | ${R[$t.p50]:-?} | ${R[$t.p99]:-?} | ${R[$t.r50]:-?} | ${R[$t.r99]:-?} | ${R[$t.cpu_req]:-?} | ${R[$t.errors]:-?} |"
done
if [ -n "$unhealthy" ]; then
    echo
    echo "$unhealthy"
fi
