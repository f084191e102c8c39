#!/bin/sh
# fork.sh BUILD_DIR - what libah's fork handler costs a fork() (bench/bench_fork.c): fork +
# child exit + waitpid in a process without the handler and in one with it, untraced, then
# with `ahprof top` attached to the second, whose children then restore the probe sites the
# kernel patched. Prints the bench lines of both runs. See docs/BENCHMARKS.md.
set -eu
b=${1:-build}
bench=$b/bench/bench_fork
tmp=$(mktemp -d /tmp/ah-bench-fork.XXXXXX)
top_pid=
cleanup() {
    [ -z "$top_pid" ] || kill "$top_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"$bench" --reps 21 --forks 200
if [ "$(id -u)" -ne 0 ]; then
    echo "traced case skipped: needs root"
    exit 0
fi
"$bench" --reps 21 --forks 200 --wait-traced >"$tmp/out" &
bench_pid=$!
i=0
until grep -q '^ready' "$tmp/out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 500 ] || { echo "bench_fork did not start" >&2; exit 1; }
    sleep 0.01
done
worker=$(sed -n 's/^ready //p' "$tmp/out")
"$b/ahprof" top -p "$worker" 1 >/dev/null 2>&1 &
top_pid=$!
wait "$bench_pid"
grep '^bench' "$tmp/out"
