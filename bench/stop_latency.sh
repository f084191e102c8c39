#!/usr/bin/env bash
# How long ahprof takes to answer or to stop, the figures the tests only bound against hangs
# (tests/collector/test_stuck*.c, test_record_limits.c). Medians of N runs, in ms:
#   stuck        `ahprof stuck --json -p PID` (default 200 ms window) on a deadlocked target
#                (tests/targets/stuckers deadlock), start to exit
#   record -d 1  `ahprof record -d 1` on a flooding target (workload stream 2): from the
#                "recording pid" line to exit, the part past 1 s is what stopping costs
#   record INT   `ahprof record` on the same target: from SIGINT to exit
#   top INT      `ahprof top --json 1` on the same target: from SIGINT to exit
# Usage: bench/stop_latency.sh BUILD_DIR [N]   (N=5)
set -euo pipefail
B=${1:-build}
N=${2:-5}
AHPROF="$B/ahprof"
work=$(mktemp -d /tmp/ahprof-stop.XXXXXX)
target=""
cleanup() {
    [ -n "$target" ] && kill "$target" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/lib.sh"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Start a target that prints "ready" on stdout once in place: sets target.
start_target() {
    mkfifo "$work/in"
    "$@" <"$work/in" >"$work/target.out" 2>/dev/null &
    target=$!
    exec 8>"$work/in"
    for _ in $(seq 200); do grep -qx ready "$work/target.out" && return; sleep 0.05; done
    echo "stop_latency: $1 did not get ready" >&2
    exit 1
}
stop_target() {
    exec 8>&- # the stream modes stop at EOF on stdin; stuckers is killed
    kill "$target" 2>/dev/null || true
    wait "$target" 2>/dev/null || true
    target=""
    rm -f "$work/in"
}

# Wait until one of FILES has a line matching RE (10 s at most): wait_for RE FILES...
wait_for() {
    local re=$1
    shift
    for _ in $(seq 200); do grep -qs "$re" "$@" && return; sleep 0.05; done
    return 1
}

stuck_ms() {
    local t0 t1
    t0=$(now_ms)
    "$AHPROF" stuck --json -p "$target" >/dev/null
    t1=$(now_ms)
    echo $((t1 - t0))
}

# record -d 1: from its "recording pid" line to its exit.
record_duration_ms() {
    local pid t0
    "$AHPROF" record -d 1 -o "$work/d.ahprof" -p "$target" 2>"$work/rec.err" >/dev/null &
    pid=$!
    wait_for "recording pid" "$work/rec.err" || { echo "record did not start" >&2; exit 1; }
    t0=$(now_ms)
    wait "$pid"
    echo $(($(now_ms) - t0))
}

# From SIGINT to the exit of `ahprof ARGS...`, started 0.8 s before (after LINE on stderr).
sigint_ms() {
    local line=$1 pid t0
    shift
    "$AHPROF" "$@" -p "$target" 2>"$work/t.err" >"$work/t.out" &
    pid=$!
    wait_for "$line" "$work/t.err" "$work/t.out" || { echo "$1 did not start" >&2; exit 1; }
    sleep 0.8
    t0=$(now_ms)
    kill -INT "$pid"
    wait "$pid" || true
    echo $(($(now_ms) - t0))
}

echo "stop latency: medians of $N runs, ms"
start_target "$B/targets/stuckers" deadlock
for _ in $(seq "$N"); do stuck_ms; done >"$work/stuck"
stop_target
printf '  %-14s %6s ms  (default 200 ms window; runs: %s)\n' "stuck" "$(median <"$work/stuck")" \
    "$(tr '\n' ' ' <"$work/stuck")"

start_target "$B/targets/workload" stream 2
for _ in $(seq "$N"); do record_duration_ms; done >"$work/dur"
for _ in $(seq "$N"); do sigint_ms "recording pid" record -o "$work/i.ahprof"; done >"$work/rint"
for _ in $(seq "$N"); do sigint_ms '"interval_ns"' top --json 1; done >"$work/tint"
stop_target
printf '  %-14s %6s ms  (1000 of them the duration; runs: %s)\n' "record -d 1" \
    "$(median <"$work/dur")" "$(tr '\n' ' ' <"$work/dur")"
printf '  %-14s %6s ms  (runs: %s)\n' "record SIGINT" "$(median <"$work/rint")" \
    "$(tr '\n' ' ' <"$work/rint")"
printf '  %-14s %6s ms  (runs: %s)\n' "top SIGINT" "$(median <"$work/tint")" \
    "$(tr '\n' ' ' <"$work/tint")"
