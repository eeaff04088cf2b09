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
#
#   bench/proxy.sh                          # everything, 10 s runs
#   DURATION=5 TARGETS="direct nginx" bench/proxy.sh
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
#   IDLE_POLL_NS         on a KVM guest with the cpuidle haltpoll driver: set
#                        /sys/module/haltpoll/parameters/guest_halt_poll_ns to this for the
#                        run (restored at exit; the kernel's default is 200000, some VMs set
#                        0). It changes how long an idle vCPU polls before it halts, and so
#                        what a cross-CPU wake-up costs, for every target alike. The value in
#                        force is printed in the header either way.
#   UPSTREAM_CPUS, PROXY_CPUS, LOAD_CPUS   taskset CPU lists; by default split evenly
#                        when there are at least 3 × WORKERS CPUs, unpinned otherwise
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
# (no master-worker mode) with WORKERS threads.
#
# Exits non-zero if `berth proxy` is not available (after measuring the others), if a
# proxy fails to start, or (STRICT=1) if a target is missed.

# Functions called by name (the EXIT trap's cleanup, start_$target) are
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

# --- tools -------------------------------------------------------------------------
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v h2load >/dev/null || missing+=(nghttp2-client)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
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
if [ -z "${UPSTREAM_CPUS+x}${PROXY_CPUS+x}${LOAD_CPUS+x}" ] && [ "$ncpu" -ge $((3 * WORKERS)) ]; then
    UPSTREAM_CPUS="0-$((WORKERS - 1))"
    PROXY_CPUS="$WORKERS-$((2 * WORKERS - 1))"
    LOAD_CPUS="$((2 * WORKERS))-$((ncpu - 1))"
fi
UPSTREAM_CPUS="${UPSTREAM_CPUS:-}"
PROXY_CPUS="${PROXY_CPUS:-}"
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
trees() { # "pid...": the trees of several processes
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

stop() { # pid
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

berth_threads_note=""
# Every round's figures, per target and key, for the medians.
declare -A M
keys="rps p50 p99 errors h2 r50 r99 cpu cpu_req cpu_rate idle idle_anon peak"
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
    echo "Pinned: upstream CPUs $UPSTREAM_CPUS, proxy CPUs $PROXY_CPUS, load generators CPUs $LOAD_CPUS."
else
    echo "Not pinned (fewer than $((3 * WORKERS)) CPUs): load generator, proxy and upstream share the CPUs."
fi
echo "Idle: $(idle_desc)."
echo "Saturation: wrk -t $WRK_THREADS -c $WRK_CONNECTIONS, ${DURATION}s$([ "$H2LOAD" = 1 ] && echo " (and h2load --h1, same clients)"). Fixed rate: $RATE req/s for ${RATE_DURATION}s, open loop, $RATE_CONNECTIONS connections."
[ "$ROUNDS" = 1 ] || echo "Medians of $ROUNDS interleaved rounds; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "CPU: utime+stime of all the proxy's processes. RSS: summed over all its processes (nginx: master + $WORKERS workers; HAProxy: one process, $WORKERS threads; berth: one process); idle anon is RssAnon, without file-backed pages."
[ -z "$berth_threads_note" ] || echo "Note: $berth_threads_note."
echo
echo "| target | wrk req/s | wrk p50 | wrk p99 | h2load req/s | p50 @ ${RATE}/s | p99 @ ${RATE}/s | added p50 @ ${RATE}/s | CPU (wrk run) | CPU µs/req | CPU @ ${RATE}/s | idle RSS | idle anon | peak RSS | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for t in $TARGETS; do
    if [ -n "${R[$t.skip]:-}" ]; then
        echo "| $t | ${R[$t.skip]} | | | | | | | | | | | | | |"
        continue
    fi
    [ -n "${R[$t.done]:-}" ] || continue
    added="-"
    if [ "$t" != direct ] && [ -n "${R[direct.r50]:-}" ] && [ -n "${R[$t.r50]:-}" ]; then
        added="$((${R[$t.r50]} - ${R[direct.r50]})) µs"
    fi
    cpu="-"
    [ -z "${R[$t.cpu]:-}" ] || cpu="${R[$t.cpu]} s"
    cpurate="-"
    [ -z "${R[$t.cpu_rate]:-}" ] || cpurate="${R[$t.cpu_rate]}%"
    echo "| $t | $(cell "$t.rps") | $(us "$t.p50") | $(us "$t.p99") | $(cell "$t.h2") | $(us "$t.r50") | $(us "$t.r99") | $added | $cpu | $(cell "$t.cpu_req") | $cpurate | $(mb "${R[$t.idle]:-}") | $(mb "${R[$t.idle_anon]:-}") | $(mb "${R[$t.peak]:-}") | $(cell "$t.errors") |"
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
        echo "- $t: wrk req/s${M[$t.rps]}; p50 @ ${RATE}/s (µs)${M[$t.r50]:-}$per_round"
    done
fi
echo

# --- targets -----------------------------------------------------------------------
missed=0
check() { # ok description
    if [ "$1" = 1 ]; then echo "- PASS: $2"; else
        echo "- MISS: $2"
        missed=1
    fi
}
if [ -n "${R[berth.done]:-}" ]; then
    echo "Targets:"
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
    for t in $TARGETS; do
        if [ -n "${R[$t.done]:-}" ] && [ "${R[$t.errors]}" != 0 ]; then
            echo "- WARNING: $t had ${R[$t.errors]} errors (non-2xx, socket errors)"
        fi
    done
fi
status=0
if [ "$berth_ok" = 0 ] && grep -qw berth <<<"$TARGETS"; then
    echo "berth proxy not available ($berth_why)"
    status=1
fi
[ "$failed" = 0 ] || status=1
[ "$STRICT" != 1 ] || [ "$missed" = 0 ] || status=1
exit "$status"
