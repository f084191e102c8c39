#!/bin/bash
# server_rounds.sh ROUNDS - the example server's CPU per request, untraced and under `top`,
# `top --no-kernel` and `record` (all attached with -p), ROUNDS rotated rounds of SECS (4)
# seconds: bench/collector.sh's measure (bench/lib.sh) without its per-event case, for more
# rounds in the same time. Used for the by-hand figures of docs/BENCHMARKS.md (issue 13).
B=${B:-build}
work=$(mktemp -d)
CONNS=4 SECS=${SECS:-4} ROUNDS=${1:-7}
AHPROF=$B/ahprof
. "$(dirname "$0")/lib.sh"
server_start
cases=(none top top-nokernel record)
for c in "${cases[@]}"; do : >"$work/$c"; done
for r in $(seq "$ROUNDS"); do
    for i in $(seq 0 3); do
        c=${cases[$(((i + r - 1) % 4))]}
        tracer=""
        case $c in
        top) tracer_start "$AHPROF" top -C -p "$server_pid" 1 ;;
        top-nokernel) tracer_start "$AHPROF" top -C --no-kernel -p "$server_pid" 1 ;;
        record) tracer_start "$AHPROF" record -p "$server_pid" -o "$work/r.data" ;;
        esac
        load $tracer >>"$work/$c"
        if [ -n "$tracer" ]; then kill -INT "$tracer"; wait "$tracer"; fi
    done
done
server_stop
for c in "${cases[@]}"; do
    printf "%-13s req/s %8.0f  server us/req %6.3f  tracer us/req %6.3f\n" "$c" "$(col 1 "$c")" \
        "$(col 2 "$c")" "$(col 3 "$c")"
done
rm -rf "$work"
