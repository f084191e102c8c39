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
# the median of the pairs' ratios and their spread (min-max), the server threads' switch-outs
# per request (voluntary: it blocked; a tracer pays a hand-over at each), the requests per
# second, traced and untraced, and ahprof's own CPU per request of the traced server (what
# moved out of the server when top started aggregating in ahprof). The load is a closed loop (CONNS requests in flight): with few
# connections the server waits for the load part of the time, and a tracer that delays it
# changes how often it blocks, which costs CPU of its own (a wakeup across CPUs is an
# interrupt, and a VM exit); with more connections than it can serve it never blocks. With BPF_STATS=1 it also prints the kernel's own run time of each of the
# tracer's BPF programs per request of the traced server (kernel.bpf_stats_enabled; that adds
# two clock reads to every program run, so the ratios of such a run are not the ones to
# quote). Also prints "bench name=server_paired ..." lines for bench/summary.sh.
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

# Voluntary and involuntary switch-outs of a process's threads so far.
switches() { awk '/^voluntary_ctxt/ {v += $2} /^nonvoluntary_ctxt/ {n += $2} END {print v + 0, n + 0}' /proc/"$1"/task/*/status 2>/dev/null; }

# The run time and count of every BPF program loaded since LOADED_AFTER (epoch seconds): the
# tracer's, as "id name run_time_ns run_cnt" lines.
bpf_snapshot() {
    bpftool -j prog show | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p.get("loaded_at", 0) >= int(sys.argv[1]):
        print(p["id"], p.get("name", "?"), p.get("run_time_ns", 0), p.get("run_cnt", 0))' "$1"
}

# load_on TWIN [TRACER]: one measured load on TWIN: "rps server_us/req tracer_us/req requests
# voluntary/req involuntary/req"; with BPF_STATS, the BPF ns per request of each program go
# to $work/bpf (name ns_per_req lines).
load_on() {
    eval "server_pid=\$pid_$1 port=\$port_$1"
    local line s0 s1
    [ "${BPF_STATS:-0}" = 1 ] && [ -n "${2:-}" ] && bpf_snapshot "$loaded_after" >"$work/b0"
    s0=$(switches "$server_pid")
    line=$(LOAD_PREFIX=$pin_load load ${2:-})
    s1=$(switches "$server_pid")
    local req
    req=$(echo "$line" | awk '{print $4}')
    echo "$line $(echo "$s0 $s1" | awk -v r="$req" '{printf "%.4f %.4f", ($3 - $1) / r, ($4 - $2) / r}')"
    if [ "${BPF_STATS:-0}" = 1 ] && [ -n "${2:-}" ]; then
        bpf_snapshot "$loaded_after" >"$work/b1"
        awk -v r="$req" 'NR == FNR {t[$1] = $3; next} ($1 in t) && $3 > t[$1] {ns[$2] += $3 - t[$1]}
            END {for (n in ns) printf "%s %.2f\n", n, ns[n] / r}' "$work/b0" "$work/b1" >>"$work/bpf"
    fi
}

med() { sort -n | awk '{a[NR] = $1} END {if (NR) printf "%.3f", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

[ "${BPF_STATS:-0}" = 1 ] && sysctl -q kernel.bpf_stats_enabled=1
echo "== example server, GET /fast, $CONNS connections: traced twin against untraced twin, $ROUNDS x 2 pairs of ${SECS} s rounds (medians)${PIN:+, pinned}"
printf "%-13s %9s %9s %7s %15s %17s %17s %12s\n" tracer "traced" untraced ratio "pairs min-max" "blocks/req t / u" "req/s t / u" "ahprof us/req"
for c in $CASES; do
    : >"$work/pairs"
    : >"$work/bpf"
    for traced in a b; do
        untraced=$([ $traced = a ] && echo b || echo a)
        eval "tpid=\$pid_$traced"
        loaded_after=$(date +%s)
        case $c in
        top) tracer_start $pin_load "$AHPROF" top -C -p "$tpid" 1 ;;
        top-nokernel) tracer_start $pin_load "$AHPROF" top -C --no-kernel -p "$tpid" 1 ;;
        record) tracer_start $pin_load "$AHPROF" record -p "$tpid" -o "$work/r.data" ;;
        *) echo "unknown case $c" >&2; exit 2 ;;
        esac
        for r in $(seq "$ROUNDS"); do
            # Alternate which side of a pair goes first.
            if [ $((r % 2)) = 1 ]; then
                t=$(load_on $traced "$tracer"); u=$(load_on $untraced)
            else
                u=$(load_on $untraced); t=$(load_on $traced "$tracer")
            fi
            echo "$t | $u" >>"$work/pairs"
        done
        kill -INT "$tracer"; wait "$tracer"
        rm -f "$work/r.data"
    done
    tmed=$(cut -d'|' -f1 "$work/pairs" | awk '{print $2}' | med)
    umed=$(cut -d'|' -f2 "$work/pairs" | awk '{print $2}' | med)
    tblk=$(cut -d'|' -f1 "$work/pairs" | awk '{print $5}' | med)
    ublk=$(cut -d'|' -f2 "$work/pairs" | awk '{print $5}' | med)
    trps=$(cut -d'|' -f1 "$work/pairs" | awk '{print $1}' | med)
    urps=$(cut -d'|' -f2 "$work/pairs" | awk '{print $1}' | med)
    # ahprof's own CPU per request of the traced server (coarse: clock ticks over a round).
    ahus=$(cut -d'|' -f1 "$work/pairs" | awk '{print $3}' | med)
    awk -F'|' '{split($1, t, " "); split($2, u, " "); printf "%.4f\n", t[2] / u[2]}' "$work/pairs" | sort -n >"$work/ratios"
    rmed=$(med <"$work/ratios")
    printf "%-13s %9.3f %9.3f %7.3f %7.3f-%-7.3f %8.3f / %-7.3f %8.0f / %-7.0f %12.3f\n" "$c" "$tmed" "$umed" "$rmed" \
        "$(head -1 "$work/ratios")" "$(tail -1 "$work/ratios")" "$tblk" "$ublk" "$trps" "$urps" "$ahus"
    bpf=""
    if [ -s "$work/bpf" ]; then
        # Per program, the median over the traced rounds (programs of one name summed per round).
        bpf=$(awk '{print $1}' "$work/bpf" | sort -u | while read -r name; do
            printf "%s=%s " "$name" "$(awk -v n="$name" '$1 == n {print $2}' "$work/bpf" | med)"
        done)
        echo "              BPF ns per request (traced rounds, median): $bpf"
    fi
    echo "bench name=server_paired case=$c traced_us=$tmed untraced_us=$umed ratio=$rmed min=$(head -1 "$work/ratios") max=$(tail -1 "$work/ratios") blocks_traced=$tblk blocks_untraced=$ublk rps_traced=$trps rps_untraced=$urps ahprof_us=$ahus conns=$CONNS pairs=$((2 * ROUNDS))${bpf:+ bpf=$(echo "$bpf" | tr ' =' ',:' | sed 's/,$//')}"
    if [ -n "${KEEP:-}" ]; then cp "$work/pairs" "$KEEP.$c"; fi
done
