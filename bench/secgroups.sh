#!/usr/bin/env bash
# Security group benchmark: what a task's packet filter (the agent's `inet berth_sg`
# nftables table) costs. Two task networks on a bridge of their own, made as the agent
# makes them (berth-bench-secgroups, with berth-tasknet): a server task (berth-bench-
# upstream on 127.0.0.1:8080, its berth proxy's ingress on TASK_IP:15000, the nat
# table's REDIRECT of TASK_IP:80 to it) and a client task (its berth proxy's egress
# listener on the VIP 127.255.0.2:15500, the nat table's DNAT of 127.255.0.2:80 to it,
# upstream the server task's TASK_IP:80). Both nat tables are the agent's, so both
# namespaces track connections with or without the filter.
#
# Each path is measured with no filter and with the worst case of SG_GROUPS x SG_RULES
# rules (the server's ingress, the client's egress; of which only the last one lets the
# benchmark's connections through; the other direction allows the bridge's subnet):
#   hop      the client's requests to 127.255.0.2:80, through both proxies: one proxied
#            hop between the two namespaces, keep-alive connections (as Service Connect
#            runs: the proxies pool their connections to each other)
#   connect  a new TCP connection per request from the client task straight to the
#            server task's port 80 (its proxy): every request's SYN walks both chains
# For each: throughput at saturation (wrk, WRK_CONNECTIONS connections; connect: with
# `Connection: close`) and latency at a fixed RATE requests/s (berth-bench-load, open
# loop). Rounds are interleaved (no filter, filter; then filter, no filter; ...) and
# each figure is the median of ROUNDS. Also: how long nft takes to load the whole
# filter, and to add one member to a group's set (the update a new task causes).
# Prints a markdown table on stdout, progress on stderr.
#
#   bench/secgroups.sh                      # 5 rounds, 5 s saturation, 10 s at 1,000/s
#   ROUNDS=3 SG_GROUPS=10 SG_RULES=100 bench/secgroups.sh
#
# Settings (environment): SG_GROUPS=50 SG_RULES=200 SG_MEMBERS=20 (addresses in each
# group's set), ROUNDS=5, DURATION=5 (s of each wrk run, after a 1 s warm-up), WRK_THREADS=2,
# WRK_CONNECTIONS=32, RATE=1000, RATE_DURATION=10, RATE_CONNECTIONS=8, WORKERS=1 (each
# proxy's worker threads; the upstream's threads too), OCTET=240 (the bridge's subnet
# is 10.213.OCTET.0/24), BUILD=0 (use the release binaries as they are).
#
# Needs root (network namespaces, a bridge, nftables), nft, iptables-restore and wrk
# (installed with apt-get when missing). Removes everything it made when it exits.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

SG_GROUPS="${SG_GROUPS:-50}"
SG_RULES="${SG_RULES:-200}"
SG_MEMBERS="${SG_MEMBERS:-20}"
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-5}"
WRK_THREADS="${WRK_THREADS:-2}"
WRK_CONNECTIONS="${WRK_CONNECTIONS:-32}"
RATE="${RATE:-1000}"
RATE_DURATION="${RATE_DURATION:-10}"
RATE_CONNECTIONS="${RATE_CONNECTIONS:-8}"
WORKERS="${WORKERS:-1}"
OCTET="${OCTET:-240}"
BUILD="${BUILD:-1}"

log() { echo "[secgroups-bench] $*" >&2; }

[ "$(id -u)" -eq 0 ] || { log "needs root (network namespaces, nftables)"; exit 2; }
export PATH="$PATH:/usr/sbin:/sbin"
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nft >/dev/null || missing+=(nftables)
command -v iptables-restore >/dev/null || missing+=(iptables)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
        { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
fi

bin="$CARGO_TARGET_DIR/release"
if [ "$BUILD" != 0 ]; then
    cargo build --release -p berth-bench >&2
    cargo build --release -p berth --bin berth-proxy >&2
fi
driver="$bin/berth-bench-secgroups"
load="$bin/berth-bench-load"

# --- the task networks -------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/berth-secgroups-bench.XXXXXX")"
bridge="sgb$(printf %04x $((RANDOM % 65536)))"
net=(--bridge "$bridge" --subnet "10.213.$OCTET.0/24" --state "$tmp/state")
pids=()
client_ns=""
server_ns=""
# Every process in the two namespaces (the proxies, the upstream, a load generator
# still running when the script is stopped), then the networks.
cleanup() {
    local p ns left
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for ns in $client_ns $server_ns; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    done
    for _ in $(seq 1 50); do
        left="$(for ns in $client_ns $server_ns; do ip netns pids "$ns" 2>/dev/null; done)"
        [ -n "$left" ] || break
        sleep 0.1
    done
    # shellcheck disable=SC2086 # pids are words
    [ -z "${left:-}" ] || kill -9 $left 2>/dev/null || true
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    "$driver" down "${net[@]}" >&2 || log "removing the task networks failed"
    rm -rf "$tmp"
}
trap cleanup EXIT
eval "$("$driver" up "${net[@]}" | tr '\n' ' ')"
log "bridge $bridge: client $client_ip ($client_ns), server $server_ip ($server_ns)"
in_ns() { # ns command...
    local ns="$1"
    shift
    ip netns exec "$ns" "$@"
}
# For background processes (`spawn_in NS cmd... &`): the subshell becomes the command
# (ip netns exec execs it), so $! is its pid.
spawn_in() { # ns command...
    local ns="$1"
    shift
    exec ip netns exec "$ns" "$@"
}
# The client opens a connection per request in the connect path: room for them.
in_ns "$client_ns" sysctl -q -w net.ipv4.ip_local_port_range="10000 65000" net.ipv4.tcp_tw_reuse=1

# --- processes in the tasks ---------------------------------------------------------
spawn_in "$server_ns" "$bin/berth-bench-upstream" --listen 127.0.0.1:8080 --threads "$WORKERS" \
    >"$tmp/upstream.out" 2>"$tmp/upstream.log" &
pids+=($!)
cat >"$tmp/server.json" <<EOF
{"version": 1, "clusterName": "bench", "serviceName": "server",
 "ingress": [{"discoveryName": "server", "listen": "$server_ip:15000", "app": "127.0.0.1:8080", "protocol": "http"}]}
EOF
cat >"$tmp/client.json" <<EOF
{"version": 1, "clusterName": "bench", "serviceName": "client",
 "egress": [{"alias": "server:80", "listen": "127.255.0.2:15500", "upstream": "server"}],
 "upstreams": {"server": {"protocol": "http", "endpoints": [{"address": "$server_ip:80"}]}}}
EOF
export BERTH_LOG=warn
for side in server client; do
    ns_var="${side}_ns"
    spawn_in "${!ns_var}" "$bin/berth-proxy" --config "$tmp/$side.json" --admin 127.0.0.1:9901 \
        --workers "$WORKERS" >"$tmp/$side-proxy.out" 2>"$tmp/$side-proxy.log" &
    pids+=($!)
done
# The tasks' nat tables, as the agent writes them.
nat() { # ns rule
    printf '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n%s\nCOMMIT\n' "$2" |
        in_ns "$1" iptables-restore -w 5
}
nat "$server_ns" "-A PREROUTING -d $server_ip/32 -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 15000"
nat "$client_ns" "-A OUTPUT -d 127.255.0.2/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 127.255.0.2:15500"
ready=0
for _ in $(seq 1 100); do
    if in_ns "$client_ns" "$load" --target 127.255.0.2:80 --check >/dev/null 2>&1; then
        ready=1
        break
    fi
    sleep 0.1
done
[ "$ready" = 1 ] || { log "the proxies did not answer"; cat "$tmp"/*.log >&2; exit 1; }

# --- the filters --------------------------------------------------------------------
for side in server client; do
    "$driver" script --role "$side" --client-ip "$client_ip" --server-ip "$server_ip" \
        --groups "$SG_GROUPS" --rules "$SG_RULES" --members "$SG_MEMBERS" >"$tmp/$side.nft"
done
server_rules="$(grep -c '^add rule inet berth_sg ingress' "$tmp/server.nft")"
client_rules="$(grep -c '^add rule inet berth_sg egress' "$tmp/client.nft")"
sets="$(grep -c '^add set' "$tmp/server.nft")"
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
declare -A M
filter_on() {
    local t0
    t0="$(date +%s%N)"
    in_ns "$server_ns" nft -f "$tmp/server.nft"
    M[apply_ms]="${M[apply_ms]:-} $(ms_since "$t0")"
    in_ns "$client_ns" nft -f "$tmp/client.nft"
    t0="$(date +%s%N)"
    echo "add element inet berth_sg g_sg-peer { 10.213.$OCTET.250 }" | in_ns "$server_ns" nft -f -
    M[member_ms]="${M[member_ms]:-} $(ms_since "$t0")"
    echo "delete element inet berth_sg g_sg-peer { 10.213.$OCTET.250 }" | in_ns "$server_ns" nft -f -
}
filter_off() {
    local ns
    for ns in "$server_ns" "$client_ns"; do
        printf 'add table inet berth_sg\ndelete table inet berth_sg\n' | in_ns "$ns" nft -f -
    done
}
# The filter does filter: the server's proxy port itself (15000) is not allowed.
filter_on
if timeout 3 ip netns exec "$client_ns" "$load" --target "$server_ip:15000" --check >/dev/null 2>&1; then
    log "the filter lets $server_ip:15000 through: it does not work"
    exit 1
fi
in_ns "$client_ns" "$load" --target "$server_ip:80" --check >/dev/null
filter_off
in_ns "$client_ns" "$load" --target "$server_ip:15000" --check >/dev/null

# --- measurements -------------------------------------------------------------------
to_us() { # wrk durations: 131.00us, 1.23ms, 2.00s
    awk -v v="$1" 'BEGIN { n = v + 0
        if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print "?" }'
}
measure() { # key target new-connection(0/1)
    local key="$1" target="$2" new="$3" wrk_extra=() load_extra=() out
    if [ "$new" = 1 ]; then
        wrk_extra=(-H "Connection: close")
        load_extra=(--new-connection)
    fi
    in_ns "$client_ns" wrk -t "$WRK_THREADS" -c "$WRK_CONNECTIONS" -d 1s "${wrk_extra[@]}" \
        "http://$target/" >/dev/null
    log "$key: wrk -c $WRK_CONNECTIONS -d ${DURATION}s"
    out="$(in_ns "$client_ns" wrk -t "$WRK_THREADS" -c "$WRK_CONNECTIONS" -d "${DURATION}s" \
        --latency "${wrk_extra[@]}" "http://$target/")"
    M[$key.rps]="${M[$key.rps]:-} $(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")"
    M[$key.p50]="${M[$key.p50]:-} $(to_us "$(awk '$1 == "50%" {print $2}' <<<"$out")")"
    local werr
    werr="$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")"
    log "$key: $RATE requests/s for ${RATE_DURATION}s"
    out="$(in_ns "$client_ns" "$load" --target "$target" --rate "$RATE" --duration "$RATE_DURATION" \
        --connections "$RATE_CONNECTIONS" "${load_extra[@]}")"
    M[$key.r50]="${M[$key.r50]:-} $(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$out")"
    M[$key.r99]="${M[$key.r99]:-} $(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$out")"
    M[$key.errors]=$((${M[$key.errors]:-0} + werr + $(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$out")))
}
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
    order="none filter"
    [ $((round % 2)) = 1 ] || order="filter none"
    log "round $round of $ROUNDS ($order; load average $(cut -d' ' -f1-3 /proc/loadavg))"
    for f in $order; do
        if [ "$f" = filter ]; then filter_on; else filter_off; fi
        measure "hop.$f" 127.255.0.2:80 0
        measure "connect.$f" "$server_ip:80" 1
    done
done
filter_off

# --- report -------------------------------------------------------------------------
median() { # values...
    printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'
}
med() { # key: the median of its rounds
    # shellcheck disable=SC2086 # the values are words
    median ${M[$1]:-}
}
us() { awk -v v="$1" 'BEGIN { if (v == "") print "-"; else printf "%.0f µs", v }'; }
echo
echo "Security group benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(nft --version)."
echo "Filter: $SG_GROUPS groups x $SG_RULES rules, the matching rule last: $server_rules rules in the server's ingress chain, $client_rules in the client's egress chain (3 fixed ones first in each), $sets sets of $SG_MEMBERS addresses (the peer's group: 1)."
echo "Proxies: berth-proxy, $WORKERS worker(s) each; upstream berth-bench-upstream, $WORKERS thread(s); all in the two task namespaces, not pinned. Load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Saturation: wrk -t $WRK_THREADS -c $WRK_CONNECTIONS, ${DURATION}s. Fixed rate: $RATE req/s for ${RATE_DURATION}s, open loop, $RATE_CONNECTIONS connections. Medians of $ROUNDS interleaved rounds."
echo
echo "| path | filter | wrk req/s | wrk p50 | p50 @ ${RATE}/s | p99 @ ${RATE}/s | added p50 @ ${RATE}/s | errors |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for path in hop connect; do
    for f in none filter; do
        k="$path.$f"
        added="-"
        if [ "$f" = filter ]; then
            added="$(($(med "$k.r50") - $(med "$path.none.r50"))) µs"
        fi
        label="$path"
        [ "$path" = hop ] && label="hop (keep-alive, both proxies)"
        [ "$path" = connect ] && label="connect (new connection per request)"
        fl="none"
        [ "$f" = filter ] && fl="$((server_rules + client_rules)) rules"
        echo "| $label | $fl | $(med "$k.rps") | $(us "$(med "$k.p50")") | $(us "$(med "$k.r50")") | $(us "$(med "$k.r99")") | $added | ${M[$k.errors]:-0} |"
    done
done
echo
echo "nft: loading the server's whole filter (one transaction) $(med apply_ms) ms; adding one member to a group's set $(med member_ms) ms (medians)."
echo "Each round (wrk req/s; p50 @ ${RATE}/s in µs):"
for path in hop connect; do
    for f in none filter; do
        echo "- $path $f: req/s${M[$path.$f.rps]}; p50${M[$path.$f.r50]}"
    done
done
