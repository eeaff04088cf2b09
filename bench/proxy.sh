#!/usr/bin/env bash
# Proxy benchmark: one HTTP/1.1 upstream on loopback, reached directly, through one
# berth proxy, through nginx and through HAProxy (reverse proxies configured alike:
# the same number of worker threads/processes, keep-alive to the upstream, no access
# logs). For each: throughput and latency at saturation (wrk, plus h2load --h1 as a
# second opinion), latency at a fixed 1,000 requests/s (berth-bench-load, open loop),
# and the proxy's CPU time and memory. Prints a markdown table on stdout (progress on
# stderr), then the targets:
#   berth's throughput >= nginx's and HAProxy's; berth adds < 50 us to the p50 at
#   1,000 requests/s; berth's idle RSS < 10 MB.
# With the two-proxy targets (TARGETS below), each proxy also runs as a chain of two of
# its own instances, as between two tasks: the load generator (plain HTTP/1.1) -> proxy A
# -> proxy B -> the upstream, both hops keep-alive; A -> B in plaintext (NAME-chain) or
# over TLS 1.3 (NAME-tls), and a second table gives their memory with 1,000 idle
# keep-alive connections. Their targets:
#   berth-tls's throughput >= nginx-tls's and haproxy-tls's; TLS adds <= 20 us per hop to
#   berth's p50 at 1,000 requests/s (berth-tls's p50 minus berth-chain's, divided by the
#   chain's 2 proxies).
#
#   bench/proxy.sh                          # the single proxies, 10 s runs
#   DURATION=5 TARGETS="direct nginx" bench/proxy.sh
#   TARGETS="berth-chain berth-tls nginx-chain nginx-tls haproxy-chain haproxy-tls" bench/proxy.sh
#
# Settings (environment):
#   WORKERS=2            proxy worker threads (berth), worker processes (nginx), nbthread (HAProxy)
#   UPSTREAM_THREADS=2   the upstream server's threads (same for every run)
#   DURATION=10          seconds of each saturation run (after a 2 s warm-up)
#   WRK_THREADS=2 WRK_CONNECTIONS=64   wrk / h2load clients
#   RATE=1000 RATE_DURATION=10 RATE_CONNECTIONS=8   the fixed-rate run
#   H2LOAD=1             also measure throughput with h2load --h1 (0: skip)
#   TARGETS="direct berth nginx haproxy"   also: berth-tcp, haproxy-tcp (each proxy as a
#                        plain TCP relay, no HTTP parsing: the floor of what a proxy in its
#                        own process adds, two loopback hops and two wake-ups; berth-tcp is
#                        berth's appProtocol "none" path). Saturation figures of the TCP
#                        relays are not comparable (no request is parsed), latency ones are.
#                        And berth-chain, nginx-chain, haproxy-chain (two instances of the
#                        proxy, A in front of B, plaintext between them), berth-tls,
#                        nginx-tls, haproxy-tls (the same, A -> B over TLS 1.3). A and B each
#                        get WORKERS workers, as the single proxy does: the chain has twice
#                        the threads, on their own CPUs when pinned (PROXY_B_CPUS below).
#                        TLS, alike for every proxy: certificates made with openssl in the
#                        run's temporary folder, a CA (EC P-256) and a leaf for the name b
#                        (SAN DNS:b, EC P-256, serverAuth and clientAuth) that it signs; TLS
#                        1.3 only, suites TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 and
#                        TLS_CHACHA20_POLY1305_SHA256 (berth's snapshot names no suites:
#                        rustls's TLS 1.3 ones are these three); A verifies B's chain against
#                        the CA and the name b (sent as SNI) and reuses its connections to B
#                        (nginx: upstream keepalive and proxy_ssl_session_reuse; HAProxy:
#                        http-reuse always; berth: its pool). Needs python3, and openssl for
#                        the TLS targets.
#   IDLE_CONNS=1000      two-proxy targets: after the runs, hold this many idle keep-alive
#                        connections (bench/idle_conns.py; each sends one request, all at
#                        once, then idles) first directly to B (TLS for NAME-tls: what one
#                        TLS connection costs B, in KB per connection over B's RSS before),
#                        then to A (A then holds as many connections to B as serving the
#                        concurrent requests took, counted with ss), and read the RSS of B,
#                        and of A and B; 0 skips it
#   IDLE_POLL_NS         on a KVM guest with the cpuidle haltpoll driver: set
#                        /sys/module/haltpoll/parameters/guest_halt_poll_ns to this for the
#                        run (restored at exit; the kernel's default is 200000, some VMs set
#                        0). It changes how long an idle vCPU polls before it halts, and so
#                        what a cross-CPU wake-up costs, for every target alike. The value in
#                        force is printed in the header either way.
#   UPSTREAM_CPUS, PROXY_CPUS, LOAD_CPUS   taskset CPU lists; by default split evenly
#                        when there are at least 3 × WORKERS CPUs, unpinned otherwise
#   PROXY_B_CPUS         the CPUs of the two-proxy targets' B (A runs on PROXY_CPUS, as the
#                        single proxies do); by default, when TARGETS has a two-proxy target
#                        and there are at least 4 × WORKERS CPUs: upstream, proxy (A), B and
#                        load generators get WORKERS CPUs each in that order, the load
#                        generators the rest (for every target of the run alike); with 3 ×
#                        WORKERS to 4 × WORKERS - 1 CPUs, B shares PROXY_CPUS with A
#   ROUNDS=1             measure every target this many times, interleaved (direct, berth,
#                        nginx, haproxy, direct, berth, ...), and report each figure's
#                        median (the lower one for an even count): on a busy machine the
#                        targets then share its ups and downs
#   STRICT=1             exit non-zero when a target is missed
#   BUILD=0              use the binaries already in $CARGO_TARGET_DIR/release (no cargo build)
#   BERTH=berth-proxy    which berth proxy to run: berth-proxy (the small
#                        binary of the proxy alone) or "berth proxy" (the full berth binary)
#   BERTH_BASE=PATH      a second berth-proxy binary (one built from another commit, say),
#                        measured as the target berth-base (berth-base-tcp: as a TCP relay)
#                        beside berth, interleaved in the same rounds; berth-base is added
#                        after berth when TARGETS does not name it
#
# CPU is utime + stime from /proc/PID/stat over the run, summed over all of the proxy's
# processes; idle and peak RSS (VmRSS, VmHWM) are summed the same way, and so is "idle
# anon" (RssAnon: the private memory, without the binary's and libraries' file-backed
# pages, which VmRSS counts and other processes share): berth is one
# process, nginx is its master plus WORKERS worker processes, HAProxy one process
# (no master-worker mode) with WORKERS threads; a two-proxy target's figures are A's and
# B's summed.
#
# Exits non-zero if `berth proxy` is not available, or (berth-tls) has no TLS yet (after
# measuring the others), if a proxy fails to start, or (STRICT=1) if a target is missed.

# Functions called by name (the EXIT trap's cleanup, start_$target, instance_$proxy) are
# not unreachable:
# shellcheck disable=SC2317
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

WORKERS="${WORKERS:-2}"
UPSTREAM_THREADS="${UPSTREAM_THREADS:-$WORKERS}"
DURATION="${DURATION:-10}"
WRK_THREADS="${WRK_THREADS:-2}"
WRK_CONNECTIONS="${WRK_CONNECTIONS:-64}"
RATE="${RATE:-1000}"
RATE_DURATION="${RATE_DURATION:-10}"
RATE_CONNECTIONS="${RATE_CONNECTIONS:-8}"
H2LOAD="${H2LOAD:-1}"
TARGETS="${TARGETS:-direct berth nginx haproxy}"
STRICT="${STRICT:-0}"
BUILD="${BUILD:-1}"
BERTH="${BERTH:-berth-proxy}"
BERTH_BASE="${BERTH_BASE:-}"
ROUNDS="${ROUNDS:-1}"
IDLE_CONNS="${IDLE_CONNS:-1000}"
if [ -n "$BERTH_BASE" ] && [[ " $TARGETS " != *" berth-base "* ]]; then
    with_base=""
    for t in $TARGETS; do
        with_base="$with_base $t"
        [ "$t" != berth ] || with_base="$with_base berth-base"
    done
    [[ "$with_base " == *" berth-base "* ]] || with_base="$with_base berth-base"
    TARGETS="${with_base# }"
fi

log() { echo "[proxy-bench] $*" >&2; }

# Two-proxy targets (A -> B), and those of them over TLS.
chains=0
tls=0
for t in $TARGETS; do
    case "$t" in
    *-chain) chains=1 ;;
    *-tls) chains=1 tls=1 ;;
    esac
done

# --- tools -------------------------------------------------------------------------
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v h2load >/dev/null || missing+=(nghttp2-client)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
[ "$chains" = 0 ] || command -v python3 >/dev/null || missing+=(python3)
[ "$tls" = 0 ] || command -v openssl >/dev/null || missing+=(openssl)
[ "$chains" = 0 ] || command -v ss >/dev/null || missing+=(iproute2)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
        { "${sudo[@]}" apt-get update >&2 &&
            "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
fi
export PATH="$PATH:/usr/sbin:/sbin"

# --- builds ------------------------------------------------------------------------
bin="$CARGO_TARGET_DIR/release"
load="$bin/berth-bench-load"
[ "$BUILD" = 0 ] || cargo build --release -p berth-bench >&2
berth_ok=1
berth_why=""
case "$BERTH" in
berth-proxy) berth_build=(-p berth --bin berth-proxy) berth_cmd=("$bin/berth-proxy") ;;
"berth proxy") berth_build=(-p berth --bin berth) berth_cmd=("$bin/berth" proxy) ;;
*)
    log "BERTH must be berth-proxy or \"berth proxy\""
    exit 2
    ;;
esac
if [ "$BUILD" = 0 ] && [ ! -x "${berth_cmd[0]}" ]; then
    berth_ok=0
    berth_why="no ${berth_cmd[0]} (BUILD=0)"
elif [ "$BUILD" != 0 ] && ! cargo build --release "${berth_build[@]}" >&2; then
    berth_ok=0
    berth_why="cargo build ${berth_build[*]} failed"
elif ! "${berth_cmd[@]}" --help >/dev/null 2>&1; then
    berth_ok=0
    berth_why="${berth_cmd[*]} has no proxy command yet"
fi
if [ "$berth_ok" = 0 ]; then
    log "berth proxy not available ($berth_why); measuring the others"
fi

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- idle polling (KVM guests) -----------------------------------------------------
haltpoll=/sys/module/haltpoll/parameters/guest_halt_poll_ns
idle_before=""
[ -r "$haltpoll" ] && idle_before="$(cat "$haltpoll")"
if [ -n "${IDLE_POLL_NS:-}" ] && [ -z "$idle_before" ]; then
    log "IDLE_POLL_NS is set but $haltpoll does not exist (no haltpoll cpuidle driver)"
    exit 2
fi
idle_desc() {
    local driver
    driver="$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo none)"
    if [ -r "$haltpoll" ]; then
        echo "cpuidle $driver, guest_halt_poll_ns $(cat "$haltpoll")$([ -n "${IDLE_POLL_NS:-}" ] && echo " (set for this run; was $idle_before)")"
    else
        echo "cpuidle $driver"
    fi
}

# --- CPU pinning -------------------------------------------------------------------
ncpu="$(nproc)"
if [ -z "${UPSTREAM_CPUS+x}${PROXY_CPUS+x}${LOAD_CPUS+x}${PROXY_B_CPUS+x}" ]; then
    if [ "$chains" = 1 ] && [ "$ncpu" -ge $((4 * WORKERS)) ]; then
        UPSTREAM_CPUS="0-$((WORKERS - 1))"
        PROXY_CPUS="$WORKERS-$((2 * WORKERS - 1))"
        PROXY_B_CPUS="$((2 * WORKERS))-$((3 * WORKERS - 1))"
        LOAD_CPUS="$((3 * WORKERS))-$((ncpu - 1))"
    elif [ "$ncpu" -ge $((3 * WORKERS)) ]; then
        UPSTREAM_CPUS="0-$((WORKERS - 1))"
        PROXY_CPUS="$WORKERS-$((2 * WORKERS - 1))"
        LOAD_CPUS="$((2 * WORKERS))-$((ncpu - 1))"
    fi
fi
UPSTREAM_CPUS="${UPSTREAM_CPUS:-}"
PROXY_CPUS="${PROXY_CPUS:-}"
PROXY_B_CPUS="${PROXY_B_CPUS:-$PROXY_CPUS}"
LOAD_CPUS="${LOAD_CPUS:-}"
pin() {
    local cpus="$1"
    shift
    if [ -n "$cpus" ]; then taskset -c "$cpus" "$@"; else "$@"; fi
}
# For background processes (`spawn CPUS cmd... &`): the subshell becomes the command, so
# $! is its pid.
spawn() {
    local cpus="$1"
    shift
    if [ -n "$cpus" ]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- processes ---------------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/berth-proxy-bench.XXXXXX")"
chmod 755 "$tmp"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
    if [ -n "${IDLE_POLL_NS:-}" ] && [ -n "$idle_before" ]; then
        echo "$idle_before" >"$haltpoll" || true
    fi
}
trap cleanup EXIT
# Set only once cleanup will put it back.
if [ -n "${IDLE_POLL_NS:-}" ]; then
    echo "$IDLE_POLL_NS" >"$haltpoll" || { log "cannot write $haltpoll (root?)"; exit 2; }
    log "guest_halt_poll_ns $idle_before -> $IDLE_POLL_NS for this run"
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Below the ephemeral range (32768-60999 by default): a port that load generators' client
# sockets (or their TIME_WAIT remains) hold cannot be listened on.
free_port() { # [ports taken already, not listening yet]
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        if [[ " $* " != *" $p "* ]] && port_free "$p"; then
            echo "$p"
            return
        fi
    done
    echo "no free port" >&2
    return 1
}

# The process and its descendants (nginx: master and workers).
tree() {
    local p="$1" c
    echo "$p"
    for c in $(pgrep -P "$p" 2>/dev/null || true); do
        tree "$c"
    done
}
trees() { # "pid...": the trees of several processes (a two-proxy target's A and B)
    local p
    for p in $1; do
        tree "$p"
    done
}
clk_tck="$(getconf CLK_TCK)"
cpu_ticks() { # utime + stime of the trees of "pid..."
    local total=0 p rest
    for p in $(trees "$1"); do
        rest="$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null)" || continue
        # After "pid (comm) ": state is field 1, utime 12, stime 13.
        total=$((total + $(echo "$rest" | awk '{print $12 + $13}')))
    done
    echo "$total"
}
mem_kb() { # sum of a /proc/PID/status field (VmRSS, VmHWM) over the trees of "pid..." $2
    local total=0 p v
    for p in $(trees "$2"); do
        v="$(awk -v f="$1:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null)" || continue
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

wait_ready() { # port pid name
    for _ in $(seq 1 100); do
        if ! kill -0 "$2" 2>/dev/null; then
            log "$3 exited before answering"
            return 1
        fi
        if "$load" --target "127.0.0.1:$1" --check >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    log "$3 did not answer 200 on 127.0.0.1:$1 within 10 s"
    return 1
}

# --- the upstream ------------------------------------------------------------------
spawn "$UPSTREAM_CPUS" "$bin/berth-bench-upstream" --threads "$UPSTREAM_THREADS" \
    >"$tmp/upstream.out" 2>"$tmp/upstream.log" &
upstream_pid=$!
pids+=("$upstream_pid")
upstream=""
for _ in $(seq 1 100); do
    upstream="$(sed -n 's/^listening on //p' "$tmp/upstream.out" 2>/dev/null | head -n1)"
    [ -n "$upstream" ] && break
    sleep 0.1
done
[ -n "$upstream" ] || { log "the upstream did not start"; cat "$tmp/upstream.log" >&2; exit 1; }
log "upstream (berth-bench-upstream, $UPSTREAM_THREADS threads) at $upstream"

# --- TLS (the NAME-tls targets) ----------------------------------------------------
tls_suites="TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
if [ "$tls" = 1 ]; then
    mkdir -p "$tmp/tls"
    (
        cd "$tmp/tls"
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key
        openssl req -x509 -new -key ca.key -subj "/CN=berth bench CA" -days 2 -out ca.pem \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
        # The leaf's key as PKCS#8 (BEGIN PRIVATE KEY), which every proxy reads.
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out b.key
        openssl req -new -key b.key -subj "/CN=b" -out b.csr
        printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
            "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=DNS:b" \
            "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >b.ext
        openssl x509 -req -in b.csr -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
            -days 2 -extfile b.ext -out b.pem
        openssl verify -CAfile ca.pem -purpose sslserver b.pem
        cat b.pem b.key >b-combined.pem # HAProxy's crt: the chain and the key in one file
    ) >"$tmp/tls/openssl.log" 2>&1 || { log "making the certificates failed"; cat "$tmp/tls/openssl.log" >&2; exit 1; }
    log "TLS: CA and leaf for b (EC P-256) in $tmp/tls"
fi

# --- proxies -----------------------------------------------------------------------
# Each start_* sets proxy_pid and proxy_port; berth and haproxy take the mode, http or
# tcp (target NAME-tcp).
start_berth() { # [protocol [command...]]: berth_cmd unless another command is given
    local protocol="${1:-http}"
    shift || true
    local cmd=("$@")
    [ "${#cmd[@]}" -gt 0 ] || cmd=("${berth_cmd[@]}")
    proxy_port="$(free_port)"
    local admin
    admin="$(free_port "$proxy_port")"
    cat >"$tmp/berth.json" <<EOF
{
  "version": 1,
  "clusterName": "bench",
  "serviceName": "bench-client",
  "egress": [{"alias": "upstream:80", "listen": "127.0.0.1:$proxy_port", "upstream": "upstream"}],
  "upstreams": {"upstream": {"protocol": "$protocol", "endpoints": [{"address": "$upstream"}]}}
}
EOF
    berth_workers "${cmd[@]}"
    export BERTH_LOG="${BERTH_LOG:-warn}"
    spawn "$PROXY_CPUS" "${cmd[@]}" --config "$tmp/berth.json" \
        --admin "127.0.0.1:$admin" "${berth_extra[@]}" >"$tmp/berth.out" 2>"$tmp/berth.log" &
    proxy_pid=$!
    proxy_log="$tmp/berth.log"
}
berth_workers() { # command...: sets berth_extra, the flag that gives it WORKERS threads
    local help
    berth_extra=()
    help="$("$@" --help 2>&1 || true)"
    if grep -q -- '--workers' <<<"$help"; then
        berth_extra=(--workers "$WORKERS")
    elif grep -q -- '--threads' <<<"$help"; then
        berth_extra=(--threads "$WORKERS")
    else
        berth_threads_note="berth proxy has no --workers flag: it ran with its default worker threads (expected 2)"
    fi
}

nginx_conf() { # dir: the settings every nginx instance shares, up to the open http block
    cat <<EOF
worker_processes $WORKERS;
daemon off;
master_process on;
pid $1/nginx.pid;
error_log $1/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
EOF
}

start_nginx() {
    proxy_port="$(free_port)"
    mkdir -p "$tmp/nginx"
    {
        nginx_conf "$tmp/nginx"
        cat <<EOF
    upstream bench {
        server $upstream;
        keepalive 256;
        keepalive_requests 1000000;
        keepalive_timeout 75s;
    }
    server {
        listen 127.0.0.1:$proxy_port;
        location / {
            proxy_pass http://bench;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    } >"$tmp/nginx/nginx.conf"
    spawn "$PROXY_CPUS" nginx -e "$tmp/nginx/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" \
        >"$tmp/nginx/out.log" 2>&1 &
    proxy_pid=$!
    proxy_log="$tmp/nginx/error.log"
}

haproxy_conf() { # mode (and its options): global and defaults of every HAProxy instance
    cat <<EOF
global
    nbthread $WORKERS
    maxconn 4096
defaults
    mode $1
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
EOF
}

start_haproxy() { # [mode]
    local mode="${1:-http}" keepalive=""
    [ "$mode" = tcp ] || keepalive="
    option http-keep-alive
    http-reuse always"
    proxy_port="$(free_port)"
    {
        haproxy_conf "$mode$keepalive"
        cat <<EOF
frontend bench
    bind 127.0.0.1:$proxy_port
    default_backend bench
backend bench
    server upstream $upstream
EOF
    } >"$tmp/haproxy.cfg"
    spawn "$PROXY_CPUS" haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1 &
    proxy_pid=$!
    proxy_log="$tmp/haproxy.log"
}

# --- two-proxy targets (NAME-chain, NAME-tls) --------------------------------------
# instance_NAME role tls port next cpus: starts one instance of proxy NAME listening on
# 127.0.0.1:port; role a sends to next (B's address), over TLS 1.3 when tls is 1, and
# role b (TLS 1.3 in when tls is 1) to next (the upstream); sets inst_pid and inst_log.
berth_snapshot() { # file role tls listen next
    python3 - "$@" "$tmp/tls" <<'EOF'
import json
import sys

path, role, tls, listen, nxt, pki = sys.argv[1:]


def pem(name):
    with open(f"{pki}/{name}") as f:
        return f.read()


if role == "a":
    upstream = {"protocol": "http", "endpoints": [{"address": nxt}]}
    if tls == "1":
        # The name verified is the alias's host, b.
        upstream["tls"] = {"trust": pem("ca.pem")}
    snapshot = {
        "version": 1,
        "clusterName": "bench",
        "serviceName": "a",
        "egress": [{"alias": "b:80", "listen": listen, "upstream": "b"}],
        "upstreams": {"b": upstream},
    }
else:
    ingress = {"discoveryName": "b", "listen": listen, "app": nxt, "protocol": "http"}
    if tls == "1":
        ingress["tls"] = {"certificateChain": pem("b.pem"), "privateKey": pem("b.key")}
    snapshot = {"version": 1, "clusterName": "bench", "serviceName": "b", "ingress": [ingress]}
with open(path, "w") as f:
    json.dump(snapshot, f, indent=2)
EOF
}

instance_berth() { # role tls port next cpus
    local admin
    admin="$(free_port "$3")"
    berth_snapshot "$tmp/berth-$1.json" "$1" "$2" "127.0.0.1:$3" "$4"
    berth_workers "${berth_cmd[@]}"
    export BERTH_LOG="${BERTH_LOG:-warn}"
    spawn "$5" "${berth_cmd[@]}" --config "$tmp/berth-$1.json" \
        --admin "127.0.0.1:$admin" "${berth_extra[@]}" >"$tmp/berth-$1.out" 2>"$tmp/berth-$1.log" &
    inst_pid=$!
    inst_log="$tmp/berth-$1.log"
}

instance_nginx() { # role tls port next cpus
    local dir="$tmp/nginx-$1" scheme=http listen_ssl="" server_ssl="" location_ssl=""
    mkdir -p "$dir"
    if [ "$1" = a ] && [ "$2" = 1 ]; then
        scheme=https
        location_ssl="
            proxy_ssl_protocols TLSv1.3;
            proxy_ssl_conf_command Ciphersuites $tls_suites;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $tmp/tls/ca.pem;
            proxy_ssl_name b;
            proxy_ssl_server_name on;
            proxy_ssl_session_reuse on;"
    elif [ "$2" = 1 ]; then
        listen_ssl=" ssl"
        server_ssl="
        ssl_certificate $tmp/tls/b.pem;
        ssl_certificate_key $tmp/tls/b.key;
        ssl_protocols TLSv1.3;
        ssl_conf_command Ciphersuites $tls_suites;
        ssl_session_cache shared:bench:10m;"
    fi
    {
        nginx_conf "$dir"
        cat <<EOF
    upstream next {
        server $4;
        keepalive 256;
        keepalive_requests 1000000;
        keepalive_timeout 75s;
    }
    server {
        listen 127.0.0.1:$3$listen_ssl;$server_ssl
        location / {
            proxy_pass $scheme://next;
            proxy_http_version 1.1;
            proxy_set_header Connection "";$location_ssl
        }
    }
}
EOF
    } >"$dir/nginx.conf"
    spawn "$5" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" >"$dir/out.log" 2>&1 &
    inst_pid=$!
    inst_log="$dir/error.log"
}

instance_haproxy() { # role tls port next cpus
    local ssl=""
    if [ "$1" = a ] && [ "$2" = 1 ]; then
        ssl=" ssl verify required ca-file $tmp/tls/ca.pem sni str(b) verifyhost b ssl-min-ver TLSv1.3 ciphersuites $tls_suites"
    elif [ "$2" = 1 ]; then
        ssl=" ssl crt $tmp/tls/b-combined.pem ssl-min-ver TLSv1.3 ciphersuites $tls_suites"
    fi
    {
        haproxy_conf "http
    option http-keep-alive
    http-reuse always"
        if [ "$1" = a ]; then
            cat <<EOF
frontend a
    bind 127.0.0.1:$3
    default_backend b
backend b
    server b $4$ssl
EOF
        else
            cat <<EOF
frontend b
    bind 127.0.0.1:$3$ssl
    default_backend app
backend app
    server app $4
EOF
        fi
    } >"$tmp/haproxy-$1.cfg"
    spawn "$5" haproxy -db -f "$tmp/haproxy-$1.cfg" >"$tmp/haproxy-$1.log" 2>&1 &
    inst_pid=$!
    inst_log="$tmp/haproxy-$1.log"
}

wait_tls_ready() { # port pid name: a TLS 1.3 request verified against the CA and the name b
    for _ in $(seq 1 100); do
        if ! kill -0 "$2" 2>/dev/null; then
            log "$3 exited before answering"
            return 1
        fi
        if tls_check="$(python3 "$repo/bench/idle_conns.py" --check --target "127.0.0.1:$1" \
            --ca "$tmp/tls/ca.pem" --server-name b 2>/dev/null)"; then
            return 0
        fi
        sleep 0.1
    done
    log "$3 did not answer 200 over TLS 1.3 on 127.0.0.1:$1 within 10 s"
    return 1
}

# B, once it answers, then A; sets proxy_pid and proxy_port (A's), proxy_b_pid and
# proxy_b_port, proxy_log (B's until A is started). Returns 1 if B did not answer.
start_chain() { # proxy tls
    proxy_b_port="$(free_port)"
    "instance_$1" b "$2" "$proxy_b_port" "$upstream" "$PROXY_B_CPUS"
    proxy_b_pid="$inst_pid"
    pids+=("$proxy_b_pid")
    proxy_log="$inst_log"
    if [ "$2" = 1 ]; then
        wait_tls_ready "$proxy_b_port" "$proxy_b_pid" "$1 B" || return 1
        log "$1 B: ${tls_check#ready connections=1 ok=1 }"
    else
        wait_ready "$proxy_b_port" "$proxy_b_pid" "$1 B" || return 1
    fi
    proxy_port="$(free_port)"
    "instance_$1" a "$2" "$proxy_port" "127.0.0.1:$proxy_b_port" "$PROXY_CPUS"
    proxy_pid="$inst_pid"
    proxy_log="$inst_log"
}

# --- measurements ------------------------------------------------------------------
to_us() { # wrk durations: 131.00us, 1.23ms, 2.00s, 1.00m
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000;
        else if (v ~ /m$/) print n * 60000000; else if (v ~ /s$/) print n * 1000000; else print "?"
    }'
}
fmt_us() { awk -v v="$1" 'BEGIN { if (v == "" || v == "?") print "?"; else printf "%.0f", v }'; }

declare -A R
failed=0
measure() { # name port pid ("" for direct)
    local name="$1" port="$2" pid="$3" url="http://127.0.0.1:$2/"
    log "$name: warm-up"
    pin "$LOAD_CPUS" wrk -t "$WRK_THREADS" -c "$WRK_CONNECTIONS" -d 2s "$url" >/dev/null
    if [ -n "$pid" ]; then
        sleep 1
        R[$name.idle]="$(mem_kb VmRSS "$pid")"
        R[$name.idle_anon]="$(mem_kb RssAnon "$pid")"
    fi

    log "$name: wrk -t $WRK_THREADS -c $WRK_CONNECTIONS -d ${DURATION}s"
    local c0 c1 out
    [ -z "$pid" ] || c0="$(cpu_ticks "$pid")"
    out="$(pin "$LOAD_CPUS" wrk -t "$WRK_THREADS" -c "$WRK_CONNECTIONS" -d "${DURATION}s" --latency "$url")"
    [ -z "$pid" ] || c1="$(cpu_ticks "$pid")"
    echo "$out" >"$tmp/wrk-$name.txt"
    R[$name.rps]="$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")"
    R[$name.p50]="$(to_us "$(awk '$1 == "50%" {print $2}' <<<"$out")")"
    R[$name.p99]="$(to_us "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
    R[$name.errors]="$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")"
    local requests
    requests="$(awk '/requests in/ {print $1}' <<<"$out")"
    if [ -n "$pid" ]; then
        R[$name.cpu]="$(awk -v t=$((c1 - c0)) -v hz="$clk_tck" 'BEGIN {printf "%.2f", t / hz}')"
        R[$name.cpu_req]="$(awk -v t=$((c1 - c0)) -v hz="$clk_tck" -v n="$requests" 'BEGIN {if (n > 0) printf "%.1f", t / hz / n * 1e6; else print "?"}')"
    fi

    if [ "$H2LOAD" = 1 ]; then
        log "$name: h2load --h1 -t $WRK_THREADS -c $WRK_CONNECTIONS -D $DURATION"
        out="$(pin "$LOAD_CPUS" h2load --h1 -t "$WRK_THREADS" -c "$WRK_CONNECTIONS" -D "$DURATION" "$url" 2>&1 || true)"
        echo "$out" >"$tmp/h2load-$name.txt"
        R[$name.h2]="$(awk '/^finished in/ {gsub(/,/, ""); printf "%.0f", $4}' <<<"$out")"
    fi

    log "$name: $RATE requests/s for ${RATE_DURATION}s (berth-bench-load, $RATE_CONNECTIONS connections)"
    [ -z "$pid" ] || c0="$(cpu_ticks "$pid")"
    out="$(pin "$LOAD_CPUS" "$load" --target "127.0.0.1:$port" --rate "$RATE" --duration "$RATE_DURATION" \
        --connections "$RATE_CONNECTIONS")"
    [ -z "$pid" ] || c1="$(cpu_ticks "$pid")"
    echo "$out" >"$tmp/rate-$name.txt"
    R[$name.r50]="$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$out")"
    R[$name.r99]="$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$out")"
    local rerr
    rerr="$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$out")"
    R[$name.errors]=$((R[$name.errors] + ${rerr:-0}))
    if [ -n "$pid" ]; then
        R[$name.cpu_rate]="$(awk -v t=$((c1 - c0)) -v hz="$clk_tck" -v d="$RATE_DURATION" 'BEGIN {printf "%.1f", t / hz / (d + 1) * 100}')"
        R[$name.peak]="$(mem_kb VmHWM "$pid")"
    fi
    R[$name.done]=1
}

# Two-proxy targets: IDLE_CONNS idle keep-alive connections (bench/idle_conns.py), first
# straight to B (over TLS for NAME-tls), then to A; RSS read a second after they are all
# idle. Uses proxy_pid, proxy_port, proxy_b_pid, proxy_b_port.
idle_hold() { # port tls: returns once the connections are idle (idle_pid holds them)
    local args=(--target "127.0.0.1:$1" --connections "$IDLE_CONNS" --hold 300)
    [ "$2" = 0 ] || args+=(--ca "$tmp/tls/ca.pem" --server-name b)
    spawn "$LOAD_CPUS" python3 "$repo/bench/idle_conns.py" "${args[@]}" >"$tmp/idle.out" 2>"$tmp/idle.log" &
    idle_pid=$!
    pids+=("$idle_pid")
    for _ in $(seq 1 1200); do
        if grep -q '^ready' "$tmp/idle.out"; then
            sleep 1
            return 0
        fi
        kill -0 "$idle_pid" 2>/dev/null || break
        sleep 0.1
    done
    log "$IDLE_CONNS idle connections to 127.0.0.1:$1 failed: $(cat "$tmp/idle.log")"
    stop "$idle_pid"
    return 1
}
measure_idle() { # name tls
    local name="$1" before after
    log "$name: $IDLE_CONNS idle $([ "$2" = 0 ] || echo "TLS ")connections to B"
    before="$(mem_kb VmRSS "$proxy_b_pid")"
    if idle_hold "$proxy_b_port" "$2"; then
        after="$(mem_kb VmRSS "$proxy_b_pid")"
        stop "$idle_pid"
        R[$name.b_before]="$before"
        R[$name.conn_b]="$after"
        R[$name.conn_b_per]="$(awk -v a="$after" -v b="$before" -v n="$IDLE_CONNS" 'BEGIN {printf "%.1f", (a - b) / n}')"
    else
        R[$name.idle_failed]=1
    fi
    log "$name: $IDLE_CONNS idle connections to A"
    if idle_hold "$proxy_port" 0; then
        R[$name.conn_a]="$(mem_kb VmRSS "$proxy_pid $proxy_b_pid")"
        R[$name.pool]="$(ss -Htn state established "( dport = :$proxy_b_port )" | wc -l)"
        stop "$idle_pid"
    else
        R[$name.idle_failed]=1
    fi
}

stop() { # pid
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

berth_threads_note=""
berth_no_tls=""
# Every round's figures, per target and key, for the medians.
declare -A M
keys="rps p50 p99 errors h2 r50 r99 cpu cpu_req cpu_rate idle idle_anon peak b_before conn_b conn_b_per conn_a pool"
collect() { # target
    local k
    for k in $keys; do
        if [ -n "${R[$1.$k]:-}" ]; then M[$1.$k]="${M[$1.$k]:-} ${R[$1.$k]}"; fi
    done
}
median() { # values...
    printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'
}
for round in $(seq 1 "$ROUNDS"); do
    [ "$ROUNDS" = 1 ] || log "round $round of $ROUNDS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    for t in $TARGETS; do
        case "$t" in
        direct)
            measure direct "${upstream##*:}" ""
            ;;
        berth | nginx | haproxy | berth-tcp | haproxy-tcp | berth-base | berth-base-tcp)
            if [ "${t%-tcp}" = berth ] && [ "$berth_ok" = 0 ]; then
                R[$t.skip]="berth proxy not available"
                continue
            fi
            if [ "${t%-tcp}" = berth-base ] && [ ! -x "$BERTH_BASE" ]; then
                R[$t.skip]="BERTH_BASE is not an executable (${BERTH_BASE:-unset})"
                continue
            fi
            mode=http
            [ "$t" = "${t%-tcp}" ] || mode=tcp
            started=0
            for _ in 1 2 3; do
                case "${t%-tcp}" in
                berth-base) start_berth "$mode" "$BERTH_BASE" ;;
                *) "start_${t%-tcp}" "$mode" ;;
                esac
                pids+=("$proxy_pid")
                if wait_ready "$proxy_port" "$proxy_pid" "$t"; then
                    started=1
                    break
                fi
                stop "$proxy_pid"
            done
            if [ "$started" = 0 ]; then
                cat "$proxy_log" >&2 || true
                R[$t.skip]="failed to start"
                failed=1
                stop "$proxy_pid"
                continue
            fi
            log "$t: pid $proxy_pid ($(tree "$proxy_pid" | wc -l) processes) on 127.0.0.1:$proxy_port"
            measure "$t" "$proxy_port" "$proxy_pid"
            stop "$proxy_pid"
            ;;
        berth-chain | nginx-chain | haproxy-chain | berth-tls | nginx-tls | haproxy-tls)
            peer="${t%-*}"
            with_tls=0
            [ "${t##*-}" = chain ] || with_tls=1
            if [ "$peer" = berth ] && [ "$berth_ok" = 0 ]; then
                R[$t.skip]="berth proxy not available"
                continue
            fi
            if [ "$t" = berth-tls ] && [ -n "$berth_no_tls" ]; then
                R[$t.skip]="berth proxy has no TLS yet"
                continue
            fi
            started=0
            for _ in 1 2 3; do
                proxy_pid=""
                proxy_b_pid=""
                rm -f "$tmp"/berth-[ab].log
                if start_chain "$peer" "$with_tls"; then
                    pids+=("$proxy_pid")
                    if wait_ready "$proxy_port" "$proxy_pid" "$t A"; then
                        started=1
                        break
                    fi
                fi
                # A berth that does not know the snapshot's TLS fields refuses it.
                if [ "$t" = berth-tls ] && grep -qh "unknown field" "$tmp"/berth-[ab].log 2>/dev/null; then
                    berth_no_tls="$(grep -h -m1 "unknown field" "$tmp"/berth-[ab].log | head -n1 |
                        sed 's/^[[:space:]]*[0-9]*:[[:space:]]*//')"
                    break
                fi
                stop "$proxy_pid"
                stop "$proxy_b_pid"
            done
            if [ -n "$berth_no_tls" ] && [ "$t" = berth-tls ]; then
                log "berth proxy has no TLS yet: $berth_no_tls"
                R[$t.skip]="berth proxy has no TLS yet"
                stop "$proxy_pid"
                stop "$proxy_b_pid"
                continue
            fi
            if [ "$started" = 0 ]; then
                cat "$proxy_log" >&2 || true
                R[$t.skip]="failed to start"
                failed=1
                stop "$proxy_pid"
                stop "$proxy_b_pid"
                continue
            fi
            log "$t: A pid $proxy_pid on 127.0.0.1:$proxy_port -> B pid $proxy_b_pid on 127.0.0.1:$proxy_b_port ($(trees "$proxy_pid $proxy_b_pid" | wc -l) processes)"
            measure "$t" "$proxy_port" "$proxy_pid $proxy_b_pid"
            [ "$IDLE_CONNS" = 0 ] || measure_idle "$t" "$with_tls"
            stop "$proxy_pid"
            stop "$proxy_b_pid"
            ;;
        *)
            log "unknown target $t"
            exit 2
            ;;
        esac
        [ -z "${R[$t.done]:-}" ] || collect "$t"
    done
done
for t in $TARGETS; do
    [ -n "${R[$t.done]:-}" ] || continue
    for k in $keys; do
        # shellcheck disable=SC2086 # the values are words
        [ -z "${M[$t.$k]:-}" ] || R[$t.$k]="$(median ${M[$t.$k]})"
    done
    # Errors: all of them, not a median.
    R[$t.errors]="$(awk -v v="${M[$t.errors]:-0}" 'BEGIN { n = split(v, a, " "); s = 0; for (i = 1; i <= n; i++) s += a[i]; print s }')"
done

# --- report ------------------------------------------------------------------------
mb() { awk -v k="$1" 'BEGIN { if (k == "") print "-"; else printf "%.1f MB", k / 1024 }'; }
cell() { local v="${R[$1]:-}"; echo "${v:--}"; }
us() { local v="${R[$1]:-}"; if [ -n "$v" ]; then echo "$(fmt_us "$v") µs"; else echo "-"; fi; }

echo
echo "Proxy benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $ncpu CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo))."
echo "Upstream: berth-bench-upstream ($UPSTREAM_THREADS threads) at $upstream; proxies: $WORKERS workers each; berth: ${berth_cmd[*]##*/}$([ -z "$BERTH_BASE" ] || echo "; berth-base: $BERTH_BASE"). Load average before the run: $load_before."
if [ -n "$PROXY_CPUS" ]; then
    echo "Pinned: upstream CPUs $UPSTREAM_CPUS, proxy CPUs $PROXY_CPUS$([ "$chains" = 0 ] || echo " (two-proxy targets: A there, B on CPUs $PROXY_B_CPUS)"), load generators CPUs $LOAD_CPUS."
else
    echo "Not pinned (fewer than $((3 * WORKERS)) CPUs): load generator, proxy and upstream share the CPUs."
fi
echo "Idle: $(idle_desc)."
echo "Saturation: wrk -t $WRK_THREADS -c $WRK_CONNECTIONS, ${DURATION}s$([ "$H2LOAD" = 1 ] && echo " (and h2load --h1, same clients)"). Fixed rate: $RATE req/s for ${RATE_DURATION}s, open loop, $RATE_CONNECTIONS connections."
[ "$ROUNDS" = 1 ] || echo "Medians of $ROUNDS interleaved rounds; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "CPU: utime+stime of all the proxy's processes. RSS: summed over all its processes (nginx: master + $WORKERS workers; HAProxy: one process, $WORKERS threads; berth: one process); idle anon is RssAnon, without file-backed pages."
[ "$chains" = 0 ] || echo "Two-proxy targets: load generator -> A -> B -> upstream, $WORKERS workers each for A and B; CPU and RSS are A's and B's summed. NAME-tls: A -> B over TLS 1.3 ($tls_suites), B's leaf for b (EC P-256) verified against the run's CA; TLS p50/hop is NAME-tls's p50 @ ${RATE}/s minus NAME-chain's, divided by 2."
[ -z "$berth_threads_note" ] || echo "Note: $berth_threads_note."
echo
# What TLS adds to the p50 at the fixed rate per proxy of the chain: NAME-tls's p50 minus
# NAME-chain's, halved (of the medians, or of one round's figures given as arguments).
tls_hop() { # tls-target [tls-p50 chain-p50]
    local a="${2:-${R[$1.r50]:-}}" b="${3:-${R[${1%-tls}-chain.r50]:-}}"
    [ -n "$a" ] && [ -n "$b" ] || return 0
    awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", (a - b) / 2 }'
}
tls_col=""
[ "$tls" = 0 ] || tls_col=" TLS p50/hop @ ${RATE}/s |"
echo "| target | wrk req/s | wrk p50 | wrk p99 | h2load req/s | p50 @ ${RATE}/s | p99 @ ${RATE}/s | added p50 @ ${RATE}/s |$tls_col CPU (wrk run) | CPU µs/req | CPU @ ${RATE}/s | idle RSS | idle anon | peak RSS | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|$([ "$tls" = 0 ] || echo "---:|")---:|---:|---:|---:|---:|---:|---:|"
for t in $TARGETS; do
    if [ -n "${R[$t.skip]:-}" ]; then
        echo "| $t | ${R[$t.skip]} | | | | | | |$([ "$tls" = 0 ] || echo " |") | | | | | | |"
        continue
    fi
    [ -n "${R[$t.done]:-}" ] || continue
    added="-"
    if [ "$t" != direct ] && [ -n "${R[direct.r50]:-}" ] && [ -n "${R[$t.r50]:-}" ]; then
        added="$((${R[$t.r50]} - ${R[direct.r50]})) µs"
    fi
    tls_cell=""
    if [ "$tls" = 1 ]; then
        tls_cell="$(tls_hop "$t")"
        if [ "$t" != "${t%-tls}" ] && [ -n "$tls_cell" ]; then tls_cell=" $tls_cell µs |"; else tls_cell=" - |"; fi
    fi
    cpu="-"
    [ -z "${R[$t.cpu]:-}" ] || cpu="${R[$t.cpu]} s"
    cpurate="-"
    [ -z "${R[$t.cpu_rate]:-}" ] || cpurate="${R[$t.cpu_rate]}%"
    echo "| $t | $(cell "$t.rps") | $(us "$t.p50") | $(us "$t.p99") | $(cell "$t.h2") | $(us "$t.r50") | $(us "$t.r99") | $added |$tls_cell $cpu | $(cell "$t.cpu_req") | $cpurate | $(mb "${R[$t.idle]:-}") | $(mb "${R[$t.idle_anon]:-}") | $(mb "${R[$t.peak]:-}") | $(cell "$t.errors") |"
done
if [ "$ROUNDS" != 1 ]; then
    echo "Each round (wrk req/s | added p50 @ ${RATE}/s is the median's difference):"
    for t in $TARGETS; do
        [ -n "${M[$t.rps]:-}" ] || continue
        # Added p50 within each round: this target's p50 minus direct's of the same round.
        per_round=""
        if [ "$t" != direct ] && [ -n "${M[direct.r50]:-}" ] && [ -n "${M[$t.r50]:-}" ]; then
            per_round="; added p50 per round (µs) $(awk -v a="${M[$t.r50]}" -v b="${M[direct.r50]}" 'BEGIN {
                n = split(a, x, " "); if (split(b, y, " ") != n) { print "(rounds do not pair)"; exit }
                s = ""; for (i = 1; i <= n; i++) s = s (i == 1 ? "" : " ") x[i] - y[i]
                print s }')"
        fi
        # TLS's p50 per hop within each round: this NAME-tls's minus NAME-chain's of the same round.
        chain="${t%-tls}-chain"
        if [ "$t" != "${t%-tls}" ] && [ -n "${M[$chain.r50]:-}" ] && [ -n "${M[$t.r50]:-}" ]; then
            per_round="$per_round; TLS p50/hop per round (µs) $(awk -v a="${M[$t.r50]}" -v b="${M[$chain.r50]}" 'BEGIN {
                n = split(a, x, " "); if (split(b, y, " ") != n) { print "(rounds do not pair)"; exit }
                s = ""; for (i = 1; i <= n; i++) s = s (i == 1 ? "" : " ") (x[i] - y[i]) / 2
                print s }')"
        fi
        echo "- $t: wrk req/s${M[$t.rps]}; p50 @ ${RATE}/s (µs)${M[$t.r50]:-}$per_round"
    done
fi
echo
if [ "$chains" = 1 ] && [ "$IDLE_CONNS" != 0 ]; then
    echo "$IDLE_CONNS idle keep-alive connections (each sent one request, all at once, then idled; RSS a second later): first straight to B (over TLS 1.3 for NAME-tls), then to A, which then holds its connections to B (A -> B conns)."
    echo
    echo "| target | idle RSS (A+B) | B's RSS before | B's RSS, $IDLE_CONNS conns to B | per conn to B | A+B RSS, $IDLE_CONNS conns to A | A -> B conns |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for t in $TARGETS; do
        case "$t" in *-chain | *-tls) ;; *) continue ;; esac
        if [ -n "${R[$t.skip]:-}" ]; then
            echo "| $t | ${R[$t.skip]} | | | | | |"
            continue
        fi
        [ -n "${R[$t.done]:-}" ] || continue
        per="-"
        [ -z "${R[$t.conn_b_per]:-}" ] || per="${R[$t.conn_b_per]} KB"
        echo "| $t | $(mb "${R[$t.idle]:-}") | $(mb "${R[$t.b_before]:-}") | $(mb "${R[$t.conn_b]:-}") | $per | $(mb "${R[$t.conn_a]:-}") | $(cell "$t.pool") |"
    done
    echo
fi

# --- targets -----------------------------------------------------------------------
missed=0
check() { # ok description
    if [ "$1" = 1 ]; then echo "- PASS: $2"; else
        echo "- MISS: $2"
        missed=1
    fi
}
if [ -n "${R[berth.done]:-}${R[berth-tls.done]:-}" ]; then
    echo "Targets:"
fi
if [ -n "${R[berth.done]:-}" ]; then
    for other in nginx haproxy; do
        if [ -n "${R[$other.done]:-}" ]; then
            check "$([ "${R[berth.rps]}" -ge "${R[$other.rps]}" ] && echo 1 || echo 0)" \
                "berth throughput ${R[berth.rps]} req/s >= $other ${R[$other.rps]} req/s"
        fi
    done
    if [ -n "${R[direct.done]:-}" ]; then
        added=$((${R[berth.r50]} - ${R[direct.r50]}))
        check "$([ "$added" -lt 50 ] && echo 1 || echo 0)" "berth adds $added µs to the p50 at $RATE req/s (< 50 µs)"
    fi
    check "$([ "${R[berth.idle]}" -lt 10240 ] && echo 1 || echo 0)" "berth idle RSS $(mb "${R[berth.idle]}") (< 10 MB)"
fi
if [ -n "${R[berth-tls.done]:-}" ]; then
    for other in nginx-tls haproxy-tls; do
        if [ -n "${R[$other.done]:-}" ]; then
            check "$([ "${R[berth-tls.rps]}" -ge "${R[$other.rps]}" ] && echo 1 || echo 0)" \
                "berth-tls throughput ${R[berth-tls.rps]} req/s >= $other ${R[$other.rps]} req/s"
        fi
    done
    if [ -n "${R[berth-chain.done]:-}" ]; then
        hop="$(tls_hop berth-tls)"
        check "$(awk -v h="$hop" 'BEGIN { print (h <= 20) ? 1 : 0 }')" \
            "TLS adds $hop µs per hop to berth's p50 at $RATE req/s (berth-tls ${R[berth-tls.r50]} µs, berth-chain ${R[berth-chain.r50]} µs, 2 proxies; <= 20 µs)"
    fi
fi
for t in $TARGETS; do
    if [ -n "${R[$t.done]:-}" ] && [ "${R[$t.errors]}" != 0 ]; then
        echo "- WARNING: $t had ${R[$t.errors]} errors (non-2xx, socket errors)"
    fi
    if [ -n "${R[$t.idle_failed]:-}" ]; then
        echo "- WARNING: $t: holding $IDLE_CONNS idle connections failed (in some round)"
    fi
done
status=0
if [ "$berth_ok" = 0 ] && grep -qw berth <<<"$TARGETS"; then
    echo "berth proxy not available ($berth_why)"
    status=1
fi
if [ -n "$berth_no_tls" ]; then
    echo "berth proxy has no TLS yet ($berth_no_tls)"
    status=1
fi
[ "$failed" = 0 ] || status=1
[ "$STRICT" != 1 ] || [ "$missed" = 0 ] || status=1
exit "$status"
