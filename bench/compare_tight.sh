#!/bin/bash
# compare_tight.sh OLD_AHPROF NEW_AHPROF [ROUNDS [top|record]] - two ahprof builds side by side
# on the tight lifecycle loop (build/bench/bench_lifecycle_static, 11 repetitions of 1 M
# lifecycles, --traced-batch): the tracer attaches with -p, the builds take turns round by
# round; prints the median ns per event of each and, for record, each run's "recorded N
# events (L lost)". Used for the by-hand figures of docs/BENCHMARKS.md (issue 13).
set -u
bin=${B:-build}/bench/bench_lifecycle_static
old=$1 new=$2 rounds=${3:-4} mode=${4:-top}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }
for r in $(seq "$rounds"); do
    for v in old new; do
        a=${!v}
        rm -f "$tmp/out"
        "$bin" --raw --reps 11 --iters 1000000 --traced-batch lifecycle >"$tmp/out" &
        b=$!
        until grep -q '^ready' "$tmp/out" 2>/dev/null; do sleep 0.01; done
        if [ "$mode" = top ]; then
            "$a" top -C 1 -p $b >"$tmp/tr.$v" 2>&1 &
        else
            "$a" record -o /dev/null -p $b >"$tmp/tr.$v" 2>&1 &
        fi
        t=$!
        while alive $b; do
            alive $t || { echo "tracer $v died:"; tail -3 "$tmp/tr.$v"; kill $b; break; }
            sleep 0.2
        done
        wait $b
        kill -INT $t
        wait $t
        [ "$mode" = record ] && echo "$v: $(grep -o 'recorded.*lost)' "$tmp/tr.$v")"
        sed -n 's/^rep .* ns=\([0-9.]*\).*/\1/p' "$tmp/out" >>"$tmp/$v"
    done
done
for v in old new; do
    sort -n "$tmp/$v" | awk -v v=$v '{a[NR]=$1} END{print v, "median lifecycle ns", a[int((NR+1)/2)], "per event", a[int((NR+1)/2)]/4, "n", NR}'
done
