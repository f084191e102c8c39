#!/usr/bin/env bash
# The kernel view's cost (docs/kernel-view.md) on the example server, side by side in one run:
# GET /fast requests/s and CPU time per request (server, and the tracers) with
#   none          no tracer
#   top           `ahprof top --no-kernel` attached (top without its kernel view)
#   top+kview     `ahprof top --hz HZ`: top with its kernel view (sampling at HZ, off-CPU and
#                 run-queue accounting), as it runs by default
#   top+kview-st  `ahprof top --no-kernel` and build/kview --stacks beside it (the stacks
#                 where callbacks block, which top does not take)
# ROUNDS rounds of SECS seconds, the order rotating; medians. The tracer CPU column is ahprof
# top's plus kview's own (user space: reading maps at the end; the BPF programs' time is
# charged to the threads they run on: the server's, or whichever was switched out).
# Usage: bench/kernel_view.sh BUILD_DIR   (env: ROUNDS=3 SECS=5 CONNS=4 HZ=99)
set -euo pipefail
B=${1:-build}
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}
CONNS=${CONNS:-4}
HZ=${HZ:-99}
AHPROF="$B/ahprof"
work=$(mktemp -d /tmp/ahprof-kbench.XXXXXX)
server_pid=""
cleanup() {
    server_stop
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

. "$(dirname "$0")/lib.sh"
server_start

start_kview() { # N, extra kview options; sets kv
    mkfifo "$work/kv.in.$1"
    "$B/kview" -p "$server_pid" --hz "$HZ" --no-stack-list "${@:2}" <"$work/kv.in.$1" \
        >"$work/kv.out.$1" 2>"$work/kv.err.$1" &
    kv=$!
    exec 9>"$work/kv.in.$1"
    for _ in $(seq 100); do grep -q attached "$work/kv.err.$1" && break; sleep 0.05; done
}

n=0
run_case() { # CASE; appends "req/s cpu tracer_cpu" to $work/CASE
    local top="" kv="" tracer=""
    n=$((n + 1))
    case $1 in
    top | top+kview-st) tracer_start "$AHPROF" top -C --no-kernel -p "$server_pid" 1 ;;
    top+kview) tracer_start "$AHPROF" top -C --hz "$HZ" -p "$server_pid" 1 ;;
    esac
    top=$tracer
    case $1 in
    top+kview-st) start_kview "$n" --stacks ;;
    esac
    load $top $kv >>"$work/$1"
    if [ -n "$kv" ]; then exec 9>&-; wait "$kv" || true; cp "$work/kv.out.$n" "$work/last-kview.json"; fi
    if [ -n "$top" ]; then kill -INT "$top"; wait "$top" || true; fi
}

cases=(none top top+kview top+kview-st)
for c in "${cases[@]}"; do : >"$work/$c"; done
for round in $(seq "$ROUNDS"); do
    # The order rotates: the machine's speed drifts, and no case should always go first.
    for i in 0 1 2 3; do run_case "${cases[$(( (i + round - 1) % 4 ))]}"; done
    echo "round $round: $(for c in "${cases[@]}"; do printf '%s %s  ' "$c" "$(tail -1 "$work/$c" | cut -d' ' -f1)"; done)req/s" >&2
done
none=$(col 1 none)
echo "== example server, GET /fast, $CONNS connections, $SECS s x $ROUNDS rounds (medians), kernel view at $HZ Hz"
printf '%-28s %10s %8s %18s %18s\n' "case" "req/s" "ratio" "server CPU us/req" "tracers CPU us/req"
printf '%-28s %10.0f %8s %18.2f %18s\n' "no tracer" "$none" "1.000" "$(col 2 none)" "-"
for c in top top+kview top+kview-st; do
    v=$(col 1 "$c")
    printf '%-28s %10.0f %8.3f %18.2f %18.2f\n' "$c" "$v" "$(echo "$v / $none" | bc -l)" "$(col 2 "$c")" "$(col 3 "$c")"
done
echo "== the kernel view of the last top+kview-st run (per type)"
python3 - "$work/last-kview.json" <<'PY' || true
import json, sys
k = json.load(open(sys.argv[1]))["kernel"]
print("samples %d, read errors %d, malformed %d, lost records %d" % (k["samples"], k["read_errors"], k["malformed"], k["lost_records"]))
for t in k["types"]:
    print("  %-22s cpu %5d samples  blocked %9.3f ms (%d)  preempted %8.3f ms  runq p50 %s ns p99 %s ns" % (
        t["name"], t["cpu_samples"], t["blocked_ns"] / 1e6, t["blocked_count"], t["preempted_ns"] / 1e6,
        t["runq_p50_ns"], t["runq_p99_ns"]))
PY


# The view's BPF programs' own time: kview --bpf-stats (the kernel's run-time statistics,
# machine-wide while it runs) over one more top+kview run, without and with --stacks. They run
# for every context switch and wakeup of the machine (other processes' leave after a compare)
# and every sample.
for variant in "" --stacks; do
    echo "== kernel-view BPF programs over one more top+kview${variant:+ $variant} run ($SECS s): ns per run, per request"
    tracer_start "$AHPROF" top -C --no-kernel -p "$server_pid" 1
    top=$tracer
    n=$((n + 1))
    start_kview "$n" $variant --bpf-stats
    out=$("$B/examples/ah-load" --port "$port" --connections "$CONNS" --duration "$SECS" --mix fast=100)
    exec 9>&-
    wait "$kv" || true
    kill -INT "$top"; wait "$top" || true
    req=$(echo "$out" | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
    python3 - "$work/kv.out.$n" "$req" <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))["bpf_runtime"]
req = int(sys.argv[2])
total = 0
for name, v in d.items():
    total += v["run_ns"]
    per = v["run_ns"] / v["runs"] if v["runs"] else 0
    print("  %-12s %9d runs  %7.0f ns/run  %8.3f us/request" % (name, v["runs"], per, v["run_ns"] / 1000 / req))
print("  %-12s %30s %8.3f us/request (%d requests; includes the time before and after the load)" % ("all", "", total / 1000 / req, req))
PY
done
