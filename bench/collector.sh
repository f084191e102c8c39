#!/usr/bin/env bash
# Collector benchmarks (issue 3), side by side in one run:
#   1. requests/s of the example server (GET /fast) and its CPU time per request: no tracer,
#      `ahprof top` attached, `ahprof record` attached; ROUNDS rounds of SECS seconds, the
#      order rotating, medians reported (CPU time per request is steadier than req/s on a
#      shared machine);
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
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }

"$B/examples/ah-server" --port 0 --threads 2 >"$work/server.out" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/server.out" && break; sleep 0.05; done
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.out" | head -1)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

# One measured run: prints "req/s server_cpu_us_per_req tracer_cpu_us_per_req".
load() {
    local tracer=${1:-} s0 t0 out req rps s1 t1
    s0=$(cpu_ticks "$server_pid"); t0=0
    [ -n "$tracer" ] && t0=$(cpu_ticks "$tracer")
    out=$("$B/examples/ah-load" --port "$port" --connections "$CONNS" --duration "$SECS" \
        --mix fast=100)
    s1=$(cpu_ticks "$server_pid"); t1=0
    [ -n "$tracer" ] && t1=$(cpu_ticks "$tracer")
    req=$(echo "$out" | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
    rps=$(echo "$out" | sed -n 's/.*rps=\([0-9.]*\).*/\1/p')
    echo "$rps $(echo "($s1 - $s0) * 1000000 / $TICK / $req" | bc -l) $(echo "($t1 - $t0) * 1000000 / $TICK / $req" | bc -l)"
}

run_case() { # CASE: none | top | record; appends "req/s cpu tracer_cpu" to $work/CASE
    local tracer=""
    case $1 in
    top) "$AHPROF" top -C -p "$server_pid" 1 >/dev/null 2>&1 & tracer=$! ;;
    record) "$AHPROF" record -q -p "$server_pid" -o "$work/rec.data" >/dev/null 2>&1 & tracer=$! ;;
    top-pe) "$AHPROF" top -C --per-event -p "$server_pid" 1 >/dev/null 2>&1 & tracer=$! ;;
    esac
    [ -n "$tracer" ] && sleep 1
    load "$tracer" >>"$work/$1"
    if [ -n "$tracer" ]; then kill -INT "$tracer"; wait "$tracer" || true; fi
}

: >"$work/none"; : >"$work/top"; : >"$work/record"; : >"$work/top-pe"
orders=("none top record top-pe" "top record top-pe none" "record top-pe none top")
for round in $(seq "$ROUNDS"); do
    # The order rotates: the machine's speed drifts, and no case should always go first.
    for c in ${orders[$(( (round - 1) % 3 ))]}; do run_case "$c"; done
    echo "round $round: none $(tail -1 "$work/none" | cut -d' ' -f1)  top $(tail -1 "$work/top" | cut -d' ' -f1)  record $(tail -1 "$work/record" | cut -d' ' -f1)  top --per-event $(tail -1 "$work/top-pe" | cut -d' ' -f1) req/s" >&2
done
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
col() { cut -d' ' -f"$1" <"$work/$2" | median; }
none=$(col 1 none); top=$(col 1 top); rec=$(col 1 record); tpe=$(col 1 top-pe)
echo "== example server, GET /fast, $CONNS connections, $SECS s x $ROUNDS rounds (medians)"
printf '%-24s %10s %8s %18s %18s\n' "case" "req/s" "ratio" "server CPU us/req" "ahprof CPU us/req"
printf '%-24s %10.0f %8s %18.2f %18s\n' "no tracer" "$none" "1.000" "$(col 2 none)" "-"
printf '%-24s %10.0f %8.3f %18.2f %18.2f\n' "ahprof top attached" "$top" "$(echo "$top / $none" | bc -l)" "$(col 2 top)" "$(col 3 top)"
printf '%-24s %10.0f %8.3f %18.2f %18.2f\n' "ahprof record attached" "$rec" "$(echo "$rec / $none" | bc -l)" "$(col 2 record)" "$(col 3 record)"
printf '%-24s %10.0f %8.3f %18.2f %18.2f\n' "top --per-event" "$tpe" "$(echo "$tpe / $none" | bc -l)" "$(col 2 top-pe)" "$(col 3 top-pe)"
# For the summary table of `make bench` (bench/summary.sh).
for c in none top record top-pe; do
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
