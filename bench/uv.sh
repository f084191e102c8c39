#!/bin/sh
# uv.sh BUILD_DIR - what libah-uv adds to libuv calls (bench/bench_uv.c): the same libuv
# program plain, preloaded with libah-uv.so untraced, and preloaded under `ahprof top -p` and
# `ahprof record -p`. Prints the bench lines of each run. See docs/BENCHMARKS.md.
set -eu
b=${1:-build}
bench=$b/bench/bench_uv
uv=$(cd "$b" && pwd)/libah-uv.so
args="--reps 21 --ops 100000"
tmp=$(mktemp -d /tmp/ah-bench-uv.XXXXXX)
tracer_pid=
cleanup() {
    [ -z "$tracer_pid" ] || kill "$tracer_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

echo "== plain"
"$bench" $args
echo "== preloaded, untraced"
LD_PRELOAD=$uv "$bench" $args
if [ "$(id -u)" -ne 0 ]; then
    echo "traced cases skipped: needs root"
    exit 0
fi

# traced MODE: start the bench waiting, attach ahprof MODE to it, let it run.
traced() {
    mode=$1
    rm -f "$tmp/in" "$tmp/out" "$tmp/tracer"
    mkfifo "$tmp/in"
    LD_PRELOAD=$uv "$bench" $args --wait <"$tmp/in" >"$tmp/out" &
    bench_pid=$!
    exec 3>"$tmp/in"
    i=0
    until grep -q '^ready' "$tmp/out" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 500 ] || { echo "bench_uv did not start" >&2; exit 1; }
        sleep 0.01
    done
    if [ "$mode" = top ]; then
        "$b/ahprof" top --json -p "$bench_pid" 1 >"$tmp/tracer" 2>&1 &
        tracer_pid=$!
        until [ -s "$tmp/tracer" ]; do sleep 0.05; done
    else
        "$b/ahprof" record -p "$bench_pid" -o "$tmp/data" 2>"$tmp/tracer" &
        tracer_pid=$!
        until grep -q 'recording pid' "$tmp/tracer" 2>/dev/null; do sleep 0.05; done
    fi
    echo x >&3
    exec 3>&-
    wait "$bench_pid"
    wait "$tracer_pid" || true
    tracer_pid=
    echo "== preloaded, under ahprof $mode -p"
    grep '^bench' "$tmp/out"
    [ "$mode" = top ] || tail -1 "$tmp/tracer"
}
traced top
traced record
