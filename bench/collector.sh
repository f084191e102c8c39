#!/usr/bin/env bash
# Collector benchmarks (issue 3), side by side in one run:
#   1. requests/s of the example server (GET /fast) and its CPU time per request: no tracer,
#      `ahprof top` attached (as it runs by default: with its kernel view), `top --no-kernel`,
#      `ahprof record` attached, `top --per-event`; ROUNDS rounds of SECS seconds, the order
#      rotating, medians reported (CPU time per request is steadier than req/s on a shared
#      machine);
#   2. events/s that `ahprof record` ingests, and how many it lost, on a tight event loop;
#   3. `ahprof report` wall time and peak memory on a file of 10 M events.
# Usage: bench/collector.sh BUILD_DIR   (env: ROUNDS=3 SECS=5 CONNS=4 EVENTS=10000000)
set -euo pipefail
B=${1:-build}
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}
CONNS=${CONNS:-4}
EVENTS=${EVENTS:-10000000}
AHPROF="$B/ahprof"
work=$(mktemp -d /tmp/ahprof-bench.XXXXXX)
server_pid=""
cleanup() {
    server_stop
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

. "$(dirname "$0")/lib.sh"
server_start

run_case() { # CASE: none | top | top-nokernel | record | top-pe; appends "req/s cpu tracer_cpu" to $work/CASE
    local tracer=""
    case $1 in
    top) tracer_start "$AHPROF" top -C -p "$server_pid" 1 ;;
    top-nokernel) tracer_start "$AHPROF" top -C --no-kernel -p "$server_pid" 1 ;;
    record) tracer_start "$AHPROF" record -p "$server_pid" -o "$work/rec.data" ;;
    top-pe) tracer_start "$AHPROF" top -C --per-event -p "$server_pid" 1 ;;
    esac
    load $tracer >>"$work/$1"
    if [ -n "$tracer" ]; then kill -INT "$tracer"; wait "$tracer" || true; fi
}

cases=(none top top-nokernel record top-pe)
for c in "${cases[@]}"; do : >"$work/$c"; done
for round in $(seq "$ROUNDS"); do
    # The order rotates: the machine's speed drifts, and no case should always go first.
    for i in $(seq 0 $((${#cases[@]} - 1))); do
        run_case "${cases[$(( (i + round - 1) % ${#cases[@]} ))]}"
    done
    echo "round $round: $(for c in "${cases[@]}"; do printf '%s %s  ' "$c" "$(tail -1 "$work/$c" | cut -d' ' -f1)"; done)req/s" >&2
done
server_stop
none=$(col 1 none)
echo "== example server, GET /fast, $CONNS connections, $SECS s x $ROUNDS rounds (medians)"
printf '%-28s %10s %8s %18s %18s\n' "case" "req/s" "ratio" "server CPU us/req" "ahprof CPU us/req"
printf '%-28s %10.0f %8s %18.2f %18s\n' "no tracer" "$none" "1.000" "$(col 2 none)" "-"
for c in top top-nokernel record top-pe; do
    label=$c
    case $c in
    top) label="top (kernel view on)" ;;
    top-nokernel) label="top --no-kernel" ;;
    top-pe) label="top --per-event" ;;
    esac
    v=$(col 1 "$c")
    printf '%-28s %10.0f %8.3f %18.2f %18.2f\n' "$label" "$v" "$(echo "$v / $none" | bc -l)" "$(col 2 "$c")" "$(col 3 "$c")"
done
# For the summary table of `make bench` (bench/summary.sh).
for c in "${cases[@]}"; do
    echo "bench name=server case=$c rps=$(col 1 "$c") cpu_us_per_req=$(col 2 "$c")"
done

echo "== ahprof record ingest: workload flood (1 thread, init+before+after+destroy per lifecycle)"
lifecycles=$((EVENTS / 4))
start=$(date +%s.%N)
"$AHPROF" record -o "$work/flood.data" -- "$B/targets/workload" flood "$lifecycles" 2>"$work/rec.err" >/dev/null
end=$(date +%s.%N)
summary=$(grep "recorded" "$work/rec.err")
recorded=$(echo "$summary" | sed -n 's/.*recorded \([0-9]*\) events.*/\1/p')
lost=$(echo "$summary" | sed -n 's/.*(\([0-9]*\) lost).*/\1/p')
secs=$(echo "$end - $start" | bc -l)
# Only what was measured: the traced program's event rate (recorded + lost), the rate ahprof
# wrote, and the share lost. No verdict on which side limited the run.
produced=$((recorded + lost))
printf 'events %s recorded, %s lost (%.1f%%), wall %.2f s: %.0f events/s produced, %.0f events/s recorded\n' \
    "$recorded" "$lost" "$(echo "if ($produced > 0) $lost * 100 / $produced else 0" | bc -l)" "$secs" \
    "$(echo "$produced / $secs" | bc -l)" "$(echo "$recorded / $secs" | bc -l)"

echo "== ahprof report on that file ($(du -h "$work/flood.data" | cut -f1))"
/usr/bin/time -f '%e s wall, %M KiB max RSS' "$AHPROF" report "$work/flood.data" >/dev/null 2>"$work/time.err" || true
tail -1 "$work/time.err"
