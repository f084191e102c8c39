#!/bin/sh
# run-lifecycle.sh BUILD_DIR - the cost of libah's event path, every case in one run:
# untraced (libah.a and libah.so), one in-process hook, and traced by bpftrace counting the
# four lifecycle probes (attached by pid), next to a bare probe as the reference. Prints a
# table, then one "bench ..." line per case for scripts:
#   bench name=lifecycle linkage=static traced=0 median_ns=9.51 min_ns=9.43 max_ns=9.87 reps=50
# See docs/BENCHMARKS.md.
set -eu

dir=${1:-build/bench}
static=$dir/bench_lifecycle_static
shared=$dir/bench_lifecycle_shared
rounds=5 reps=10 iters=1000000           # untraced: 5 x 10 repetitions per case
traced_reps=11 traced_iters=100000       # traced: each event enters the kernel
tmp=$(mktemp -d /tmp/ah-bench.XXXXXX)
bench_pid=
bpf_pid=
cleanup() {
    for p in $bpf_pid $bench_pid; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

field() { sed -n "s/^$1[[:space:]]*: //p" /proc/cpuinfo | head -n 1; }
echo "machine: $(nproc) CPUs, $(field 'model name') (family $(field 'cpu family') model $(field model), $(field 'cpu MHz') MHz), Linux $(uname -r)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shows up in the figures)"
echo "libah:   $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src include 2>/dev/null || echo ' (modified)')"

# The speed of these machines drifts over seconds (other tenants, clock boost), so the two
# linkages take turns in short rounds and every figure is a median over all the rounds.
r=0
while [ $r -lt $rounds ]; do
    "$static" --raw --reps $reps --iters $iters loop call4 probe execution_id lifecycle hook >>"$tmp/reps"
    "$shared" --raw --reps $reps --iters $iters execution_id lifecycle hook >>"$tmp/reps"
    r=$((r + 1))
done

# Traced: bpftrace must have raised the semaphores before the benchmark times anything, so
# the benchmark waits for them itself (--traced).
if ! command -v bpftrace >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
    echo "traced case skipped: needs root and bpftrace"
else
    "$static" --raw --reps $traced_reps --iters $traced_iters --traced probe lifecycle >"$tmp/traced" &
    bench_pid=$!
    i=0
    until grep -q '^ready' "$tmp/traced" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 500 ] || { echo "bench did not start" >&2; exit 1; }
        sleep 0.01
    done
    bpftrace -p "$bench_pid" -e "
        usdt:$static:ah:init { @init = count(); }
        usdt:$static:ah:before { @before = count(); }
        usdt:$static:ah:after { @after = count(); }
        usdt:$static:ah:destroy { @destroy = count(); }
        usdt:$static:ahbench:hit { @hit = count(); }" >"$tmp/bpftrace" 2>"$tmp/bpftrace.err" &
    bpf_pid=$!
    wait "$bench_pid"
    bench_pid=
    # bpftrace leaves when its target exits and prints the counts then.
    wait "$bpf_pid" || true
    bpf_pid=
    grep '^rep' "$tmp/traced" >>"$tmp/reps"
    # Every timed (and warm-up) event must have been seen, or the figure is not a traced one.
    want=$(((traced_reps + 1) * traced_iters))
    for p in init before after destroy hit; do
        got=$(sed -n "s/^@$p: //p" "$tmp/bpftrace")
        if [ "$got" != "$want" ]; then
            echo "bpftrace counted ${got:-nothing} $p events, want $want" >&2
            cat "$tmp/bpftrace.err" >&2
            exit 1
        fi
    done
    echo "traced:  bpftrace counted $want events of each probe, as expected"
fi

# "rep name=N linkage=L traced=T ns=X" -> per case: median, min, max, count (in run order).
awk '
    { split($2, n, "="); split($3, l, "="); split($4, t, "="); split($5, f, "=")
      key = n[2] " " l[2] " " t[2]
      if (!(key in count)) order[++cases] = key
      v[key, ++count[key]] = f[2] + 0 }
    END {
        printf "%-14s %-7s %-7s %10s %10s %10s\n", "case", "linkage", "traced", "median ns", "min", "max"
        for (c = 1; c <= cases; c++) {
            key = order[c]; m = count[key]
            for (i = 1; i <= m; i++) s[i] = v[key, i]
            for (i = 2; i <= m; i++) { y = s[i]; for (j = i - 1; j >= 1 && s[j] > y; j--) s[j + 1] = s[j]; s[j + 1] = y }
            med = m % 2 ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
            split(key, k, " ")
            line[c] = sprintf("bench name=%s linkage=%s traced=%s median_ns=%.2f min_ns=%.2f max_ns=%.2f reps=%d", k[1], k[2], k[3], med, s[1], s[m], m)
            printf "%-14s %-7s %-7s %10.2f %10.2f %10.2f\n", k[1], k[2], k[3] ? "traced" : "-", med, s[1], s[m]
        }
        for (c = 1; c <= cases; c++) print line[c]
    }' "$tmp/reps"
