#!/bin/sh
# record.sh BUILD_DIR [OTHER_BUILD_DIR] - what `ahprof record` keeps, loses and writes, with its
# default settings, launched, to a file (docs/BENCHMARKS.md, "Recording: loss and size"):
#   tight   bench_lifecycle_static --traced-batch, 9 x 200,000 lifecycles: 7.2 M events as
#           fast as the traced program raises them;
#   paced   bench/paced at 10 M events/s for 10 s (fewer when the machine cannot raise them);
#   server  the example server under the load of `make demo`, recorded 4 s with -p, plain
#           and with --compress;
#   lossy   `workload tree 100000` recorded with a 1 MiB ring buffer into a pipe nobody reads
#           for 3 s: how many resources the report lists alive (all but the 100,000 LEAKs were
#           destroyed) and how many it says are unknown (events lost).
# For each: events in the file, events lost, file bytes per event and ahprof's own CPU time
# per event (its task clock, the launched program excluded). With OTHER_BUILD_DIR, every case
# runs with both builds, taking turns: the figures side by side in one run. Prints lines
#   bench name=record case=tight build=build events=7200000 lost=0 bytes_per_event=3.52 cpu_ns_per_event=31.0
set -eu

builds="$1${2:+ $2}"
tmp=$(mktemp -d /tmp/ah-record.XXXXXX)
server_pid="" load_pid=""
cleanup() {
    for p in $load_pid $server_pid; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" -ne 0 ]; then
    echo "record bench skipped: needs root"
    exit 0
fi
echo "machine: $(nproc) CPUs, Linux $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"

# Events and lost from the report, the size of the file, ahprof's task clock (perf stat
# --no-inherit counts ahprof alone, not the program it launched).
line() { # CASE BUILD DATA CPU_MS
    json=$("$2/ahprof" report --json --top 1000000 "$3")
    size=$(stat -c %s "$3")
    echo "$json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
case, build, size, cpu = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
ev, lost = d["events"], d["lost_events"]
alive = sum(g["count"] for g in d["leaks"] if g["type"] != "LEAK")
unknown = d.get("unknown_total", "-")
extra = " false_alive=%d unknown=%s" % (alive, unknown) if case == "lossy" else ""
print("bench name=record case=%s build=%s events=%d lost=%d bytes_per_event=%.2f cpu_ns_per_event=%s%s"
      % (case, build, ev, lost, size / max(ev, 1), "%.1f" % (cpu * 1e6 / ev) if cpu > 0 and ev else "-", extra))
' "$1" "$2" "$size" "$4"
}

cpu_ms() { sed -n 's/^\([0-9.]*\),msec,task-clock.*/\1/p' "$tmp/stat"; }

for b in $builds; do
    perf stat --no-inherit -e task-clock -x, -o "$tmp/stat" "$b/ahprof" record -q -o "$tmp/t.data" -- \
        "$b/bench/bench_lifecycle_static" --traced-batch --reps 8 --iters 200000 lifecycle >/dev/null 2>&1
    line tight "$b" "$tmp/t.data" "$(cpu_ms)"
    rm -f "$tmp/t.data"
done
for b in $builds; do
    perf stat --no-inherit -e task-clock -x, -o "$tmp/stat" "$b/ahprof" record -q -o "$tmp/p.data" -- \
        "$b/bench/paced" 10000000 10 >"$tmp/paced.out" 2>/dev/null
    echo "paced ($b): $(cat "$tmp/paced.out")"
    line paced "$b" "$tmp/p.data" "$(cpu_ms)"
    rm -f "$tmp/p.data"
done

first=${builds%% *}
"$first/examples/ah-server" --port 0 --threads 2 --duration 60 >"$tmp/server.out" 2>&1 &
server_pid=$!
i=0
until grep -q "listening on" "$tmp/server.out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 200 ] || { echo "the example server did not start" >&2; exit 1; }
    sleep 0.05
done
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/server.out" | head -n 1)
"$first/examples/ah-load" --port "$port" --connections 4 --duration 50 \
    --mix fast=70,work=10,sleep=15,leak=5 >/dev/null 2>&1 &
load_pid=$!
sleep 1
for b in $builds; do
    for z in "" --compress; do
        [ -z "$z" ] || "$b/ahprof" record --help | grep -q -- --compress || continue
        perf stat --no-inherit -e task-clock -x, -o "$tmp/stat" "$b/ahprof" record -q $z \
            -p "$server_pid" --duration 4 -o "$tmp/s.data" >/dev/null 2>&1
        line "server${z:+-compress}" "$b" "$tmp/s.data" "$(cpu_ms)"
        rm -f "$tmp/s.data"
    done
done
kill "$load_pid" "$server_pid" 2>/dev/null || true
wait 2>/dev/null || true
load_pid="" server_pid=""

for b in $builds; do
    "$b/ahprof" record -q -b 1 -o - -- "$b/targets/workload" tree 100000 2>/dev/null |
        (sleep 3; cat >"$tmp/l.data")
    line lossy "$b" "$tmp/l.data" 0
    rm -f "$tmp/l.data"
done
