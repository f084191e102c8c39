#!/bin/bash
# server_paired.sh [ROUNDS] - the example server's CPU per request under a tracer, measured
# against an untraced twin in the same seconds.
#
# Two identical servers run side by side. A tracer stays attached to one of them while the
# load (bench/lib.sh's: GET /fast, CONNS connections) alternates between the two every SECS
# seconds, ROUNDS times each way; then the tracer moves to the other server and it starts
# again, so that neither server's own luck (its memory layout, its sockets) counts as the
# tracer's. Attaching once instead of once per round keeps the rounds short, and the traced
# and untraced rounds of a pair are seconds apart: a shared machine whose speed drifts by
# 10-20% between minutes (bench/server_rounds.sh's sets) drifts much less within a pair.
#
# Prints, per tracer: the median CPU us/request of the traced and of the untraced rounds,
# the median of the pairs' ratios, their spread (min-max of the pairs), and, with
# BPF_STATS=1, the kernel's own run time of every BPF program per request of the traced
# server (kernel.bpf_stats_enabled; it adds two clock reads to every program run, so the
# ratios of a BPF_STATS run are not the ones to quote).
#
# Env: B (build dir), SECS (2), CONNS (4), CASES ("top top-nokernel record"), PIN=1 to run
# both servers on CPU 1 and the load and the tracer on CPU 0.
B=${B:-build}
ROUNDS=${1:-6}
SECS=${SECS:-2}
CONNS=${CONNS:-4}
CASES=${CASES:-top top-nokernel record}
AHPROF=$B/ahprof
work=$(mktemp -d)
. "$(dirname "$0")/lib.sh"

pin_server="" pin_load=""
if [ "${PIN:-0}" = 1 ]; then pin_server="taskset -c 1" pin_load="taskset -c 0"; fi

start_twin() { # sets pid_$1 and port_$1
    SERVER_PREFIX=$pin_server server_start
    eval "pid_$1=$server_pid port_$1=$port"
}
start_twin a
start_twin b
cleanup() {
    kill "$pid_a" "$pid_b" 2>/dev/null
    wait 2>/dev/null
    [ "${BPF_STATS:-0}" = 1 ] && sysctl -q kernel.bpf_stats_enabled=0
    rm -rf "$work"
}
trap cleanup EXIT

bpf_ns_total() { # the run time of every loaded BPF program so far, ns
    bpftool -j prog show | python3 -c 'import json,sys; print(sum(p.get("run_time_ns",0) for p in json.load(sys.stdin)))'
}

# load_on TWIN [TRACER]: one measured load on TWIN: "rps server_us/req tracer_us/req [bpf_ns/req]"
load_on() {
    eval "server_pid=\$pid_$1 port=\$port_$1"
    local b0 line
    [ "${BPF_STATS:-0}" = 1 ] && b0=$(bpf_ns_total)
    line=$(LOAD_PREFIX=$pin_load load ${2:-})
    if [ "${BPF_STATS:-0}" = 1 ]; then
        local req b1
        b1=$(bpf_ns_total)
        req=$(echo "$line" | awk '{print $4}')
        line="$line $(echo "($b1 - $b0) / $req" | bc -l)"
    fi
    echo "$line"
}

[ "${BPF_STATS:-0}" = 1 ] && sysctl -q kernel.bpf_stats_enabled=1
printf "%-13s %9s %9s %8s %15s %9s\n" tracer traced untraced ratio "pairs min-max" "bpf ns/req"
for c in $CASES; do
    : >"$work/pairs"
    for traced in a b; do
        untraced=$([ $traced = a ] && echo b || echo a)
        eval "tpid=\$pid_$traced"
        case $c in
        top) tracer_start $pin_load "$AHPROF" top -C -p "$tpid" 1 ;;
        top-nokernel) tracer_start $pin_load "$AHPROF" top -C --no-kernel -p "$tpid" 1 ;;
        record) tracer_start $pin_load "$AHPROF" record -p "$tpid" -o "$work/r.data" ;;
        *) echo "unknown case $c" >&2; exit 2 ;;
        esac
        for r in $(seq "$ROUNDS"); do
            # ABBA order within each pair's neighbours: neither side always goes first.
            if [ $((r % 2)) = 1 ]; then
                t=$(load_on $traced "$tracer"); u=$(load_on $untraced)
            else
                u=$(load_on $untraced); t=$(load_on $traced "$tracer")
            fi
            echo "$t | $u" >>"$work/pairs"
        done
        kill -INT "$tracer"; wait "$tracer"
    done
    tmed=$(cut -d'|' -f1 "$work/pairs" | awk '{print $2}' | median)
    umed=$(cut -d'|' -f2 "$work/pairs" | awk '{print $2}' | median)
    ratios=$(awk -F'|' '{split($1,t," "); split($2,u," "); printf "%.4f\n", t[2]/u[2]}' "$work/pairs")
    rmed=$(echo "$ratios" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
    rmin=$(echo "$ratios" | sort -n | head -1) rmax=$(echo "$ratios" | sort -n | tail -1)
    bpf=$(cut -d'|' -f1 "$work/pairs" | awk '{print ($5 == "" ? "-" : $5)}' | { [ "${BPF_STATS:-0}" = 1 ] && median || head -1; })
    printf "%-13s %9.3f %9.3f %8s %7s-%-7s %9s\n" "$c" "$tmed" "$umed" "$rmed" "$rmin" "$rmax" "$bpf"
    if [ -n "${KEEP:-}" ]; then cp "$work/pairs" "$KEEP.$c"; fi
done
