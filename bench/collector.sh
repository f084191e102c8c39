#!/usr/bin/env bash
# Collector benchmarks (issue 3), side by side in one run:
#   1. requests/s of the example server: no tracer, `ahprof top` attached, `ahprof record`;
#      ROUNDS interleaved rounds of SECS seconds each, medians reported;
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

load() { # prints requests/s
    "$B/examples/ah-load" --port "$port" --connections "$CONNS" --duration "$SECS" \
        --mix fast=90,sleep=10 | sed -n 's/.*rps=\([0-9.]*\).*/\1/p'
}

: >"$work/none"; : >"$work/top"; : >"$work/record"
for round in $(seq "$ROUNDS"); do
    load >>"$work/none"
    "$AHPROF" top -C -p "$server_pid" 1 >/dev/null 2>&1 &
    tracer=$!; sleep 1
    load >>"$work/top"
    kill -INT "$tracer"; wait "$tracer" || true
    "$AHPROF" record -q -p "$server_pid" -o "$work/rec.data" >/dev/null 2>&1 &
    tracer=$!; sleep 1
    load >>"$work/record"
    kill -INT "$tracer"; wait "$tracer" || true
    echo "round $round: none $(tail -1 "$work/none")  top $(tail -1 "$work/top")  record $(tail -1 "$work/record") req/s" >&2
done
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
none=$(median <"$work/none"); top=$(median <"$work/top"); rec=$(median <"$work/record")
echo "== example server, $CONNS connections, $SECS s x $ROUNDS rounds (median req/s)"
printf '%-28s %12s %8s\n' "case" "req/s" "ratio"
printf '%-28s %12.0f %8s\n' "no tracer" "$none" "1.000"
printf '%-28s %12.0f %8.3f\n' "ahprof top attached" "$top" "$(echo "$top / $none" | bc -l)"
printf '%-28s %12.0f %8.3f\n' "ahprof record attached" "$rec" "$(echo "$rec / $none" | bc -l)"

echo "== ahprof record ingest: workload flood (1 thread, init+before+after+destroy per lifecycle)"
lifecycles=$((EVENTS / 4))
start=$(date +%s.%N)
"$AHPROF" record -o "$work/flood.data" -- "$B/targets/workload" flood "$lifecycles" 2>"$work/rec.err" >/dev/null
end=$(date +%s.%N)
summary=$(grep "recorded" "$work/rec.err")
recorded=$(echo "$summary" | sed -n 's/.*recorded \([0-9]*\) events.*/\1/p')
lost=$(echo "$summary" | sed -n 's/.*(\([0-9]*\) lost).*/\1/p')
secs=$(echo "$end - $start" | bc -l)
printf 'events %s  lost %s  wall %.2f s  => %.0f events/s recorded (the traced program is the bottleneck)\n' \
    "$recorded" "$lost" "$secs" "$(echo "$recorded / $secs" | bc -l)"

echo "== ahprof report on that file ($(du -h "$work/flood.data" | cut -f1))"
/usr/bin/time -f '%e s wall, %M KiB max RSS' "$AHPROF" report "$work/flood.data" >/dev/null 2>"$work/time.err" || true
tail -1 "$work/time.err"
