#!/bin/sh
# batch.sh BUILD_DIR - what tracing costs per event, every way, side by side in one run
# (docs/BENCHMARKS.md): libah untraced, traced by ahprof on the batch probe (top, record),
# by ahprof on the per-event probes (top --per-event, record --per-event), and by bpftrace
# counting the per-event probes. The load is bench_lifecycle's "lifecycle" case (init,
# before, after, destroy: 4 events); every figure is ns per event = lifecycle ns / 4, the
# median over all repetitions of all rounds, the cases taking turns round by round. Then
# `ahprof record` on a load paced at 5 M events/s for 10 s: events lost, to a file and to
# /dev/null. The "-trap" cases: the same with libah's probes built to trap (int3) when traced
# (bench_lifecycle_trap, AH_PROBE_TRAP in src/lib/probes.h), as on a kernel without the
# nop5 optimisation; uprobe-hit-trap is one such hit, measured the same way.
# Prints a table and "bench ..." lines:
#   bench name=traced case=top-batch median_ns_per_event=28.1 reps=33
set -eu

dir=${1:-build}
bin=$dir/bench/bench_lifecycle_static
nop5_bin=$bin
trap_bin=$dir/bench/bench_lifecycle_trap
ahprof=$dir/ahprof
rounds=${ROUNDS:-3} reps=${REPS:-11} iters=${ITERS:-1000000}
tmp=$(mktemp -d /tmp/ah-batch.XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" -ne 0 ]; then
    echo "batch bench skipped: needs root"
    exit 0
fi
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), Linux $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"

alive() { # PID: running, not a zombie waiting to be reaped
    [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# One traced run: start the benchmark, attach TRACER, keep the per-repetition figures.
traced_run() { # CASE WAITFLAG TRACER...
    name=$1 flag=$2
    shift 2
    # The previous run's "ready" must not pass for this one's (the shell truncates the file
    # only once the child runs).
    rm -f "$tmp/out"
    "$bin" --raw --reps "$reps" --iters "$iters" "$flag" lifecycle >"$tmp/out" &
    bench=$!
    pids="$bench"
    i=0
    until grep -q '^ready' "$tmp/out" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 500 ] || { echo "bench did not start" >&2; exit 1; }
        sleep 0.01
    done
    "$@" -p "$bench" >"$tmp/tracer.out" 2>&1 &
    tracer=$!
    pids="$bench $tracer"
    # A tracer that fails to attach would leave the benchmark waiting for its semaphores.
    while alive "$bench"; do
        if ! alive "$tracer"; then
            echo "$name: the tracer exited before the benchmark ended, case not measured:" >&2
            cat "$tmp/tracer.out" >&2
            kill "$bench" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    wait "$bench" || true
    kill -INT "$tracer" 2>/dev/null || true
    wait "$tracer" 2>/dev/null || true
    pids=""
    sed -n 's/^rep .* ns=\([0-9.]*\).*/\1/p' "$tmp/out" >>"$tmp/$name"
    # record says how many events it wrote and lost: on this tight loop it may not keep up.
    sed -n 's/.*recorded \([0-9]*\) events.*(\([0-9]*\) lost).*/\1 \2/p' "$tmp/tracer.out" >>"$tmp/$name.loss"
    # top (--json) streams its batches too: its last interval says what it saw and lost.
    grep '"lost_events"' "$tmp/tracer.out" | tail -n 1 |
        sed -n 's/.*"events": \([0-9]*\),.*"lost_events": \([0-9]*\),.*/\1 \2/p' |
        awk '{ print $1 - $2, $2 }' >>"$tmp/$name.loss"
}

bpftrace_run() { # SUFFIX CASES...: the figures go to bpftrace$SUFFIX and uprobe-hit$SUFFIX
    suffix=$1
    shift
    rm -f "$tmp/out"
    "$bin" --raw --reps "$reps" --iters "$((iters / 10))" --traced "$@" >"$tmp/out" &
    bench=$!
    pids="$bench"
    until grep -q '^ready' "$tmp/out" 2>/dev/null; do sleep 0.01; done
    bpftrace -p "$bench" -e "
        usdt:$bin:ah:init { @i = count(); } usdt:$bin:ah:before { @b = count(); }
        usdt:$bin:ah:after { @a = count(); } usdt:$bin:ah:destroy { @d = count(); }
        usdt:$bin:ahbench:hit { @h = count(); }" >/dev/null 2>&1 &
    pids="$bench $!"
    wait "$bench"
    wait 2>/dev/null || true
    pids=""
    grep '^rep name=lifecycle' "$tmp/out" | sed -n 's/.* ns=\([0-9.]*\).*/\1/p' >>"$tmp/bpftrace$suffix"
    # The bare probe (5-byte nop) counted by bpftrace: what one traced probe hit costs on this
    # machine today, the figure that moves 7x between machines. Four per lifecycle, so that the
    # table's "/ 4" gives one hit.
    grep '^rep name=probe' "$tmp/out" | sed -n 's/.* ns=\([0-9.]*\).*/\1/p' |
        awk '{ printf "%.3f\n", $1 * 4 }' >>"$tmp/uprobe-hit$suffix"
}

r=0
while [ $r -lt "$rounds" ]; do
    "$bin" --raw --reps "$reps" --iters "$iters" lifecycle |
        sed -n 's/^rep .* ns=\([0-9.]*\).*/\1/p' >>"$tmp/untraced"
    traced_run top-batch --traced-batch "$ahprof" top -j 1
    traced_run record-batch --traced-batch "$ahprof" record -o /dev/null
    traced_run top-per-event --traced-events "$ahprof" top -C --per-event 1
    traced_run record-per-event --traced-events "$ahprof" record --per-event -o /dev/null
    command -v bpftrace >/dev/null 2>&1 && bpftrace_run "" probe lifecycle
    if [ -x "$trap_bin" ]; then
        bin=$trap_bin
        traced_run top-batch-trap --traced-batch "$ahprof" top -j 1
        traced_run record-batch-trap --traced-batch "$ahprof" record -o /dev/null
        command -v bpftrace >/dev/null 2>&1 && bpftrace_run -trap probe
        bin=$nop5_bin
    fi
    r=$((r + 1))
done

printf '%-34s %14s %8s\n' "case (lifecycle / 4)" "ns per event" "reps"
for c in untraced top-batch record-batch top-per-event record-per-event bpftrace uprobe-hit \
    top-batch-trap record-batch-trap uprobe-hit-trap; do
    [ -s "$tmp/$c" ] || continue
    n=$(wc -l <"$tmp/$c")
    med=$(sort -n "$tmp/$c" | awk '{a[NR]=$1} END {m = NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.2f", m / 4}')
    printf '%-34s %14s %8s\n' "$c" "$med" "$n"
    echo "bench name=traced case=$c median_ns_per_event=$med reps=$n" >>"$tmp/lines"
done
for c in top-batch record-batch record-per-event top-batch-trap record-batch-trap; do
    [ -s "$tmp/$c.loss" ] || continue
    w=$(awk '{ s += $1 } END { print s }' "$tmp/$c.loss")
    l=$(awk '{ s += $2 } END { print s }' "$tmp/$c.loss")
    echo "$c on the tight loop: $w events written, $l lost"
    echo "bench name=traced-loss case=$c written=$w lost=$l" >>"$tmp/lines"
done
cat "$tmp/lines"

# Sustained load: 5 M events/s for 10 s on one thread. The figure that matters for a real
# program is the cost per event at a rate the collector keeps up with (no loss): the tight
# loop above outruns `record`'s writer, so its ring buffer overflows and the producer pays for
# cache lines the consumer is reading. Untraced, top, and record to /dev/null and to a file.
paced=$dir/bench/paced
for mode in untraced top record-devnull record-file; do
    case $mode in
    untraced) "$paced" 5000000 10 >"$tmp/paced.out" 2>"$tmp/paced.err" ;;
    # top prints a launched program's stdout on its stderr, apart from its own table.
    top) "$ahprof" top -C 1 -- "$paced" 5000000 10 >/dev/null 2>"$tmp/paced.err" || true
        grep '^events ' "$tmp/paced.err" >"$tmp/paced.out" || true ;;
    record-devnull) "$ahprof" record -o /dev/null -- "$paced" 5000000 10 >"$tmp/paced.out" 2>"$tmp/paced.err" || true ;;
    record-file) "$ahprof" record -o "$tmp/paced.data" -- "$paced" 5000000 10 >"$tmp/paced.out" 2>"$tmp/paced.err" || true ;;
    esac
    rate=$(sed -n 's/.*rate \([0-9]*\).*/\1/p' "$tmp/paced.out")
    work=$(sed -n 's/.*work_ns_per_event \([0-9.]*\).*/\1/p' "$tmp/paced.out")
    lost=$(sed -n 's/.*(\([0-9]*\) lost).*/\1/p' "$tmp/paced.err")
    events=$(sed -n 's/.*recorded \([0-9]*\) events.*/\1/p' "$tmp/paced.err")
    echo "paced 5M events/s x 10 s, $mode: achieved $rate events/s, ${work} ns per event raising them, recorded ${events:--}, lost ${lost:--}"
    echo "bench name=paced case=$mode rate=$rate work_ns_per_event=$work recorded=${events:--} lost=${lost:--}"
    rm -f "$tmp/paced.data"
done
