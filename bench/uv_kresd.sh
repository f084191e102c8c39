#!/usr/bin/env bash
# libuv: Knot Resolver (kresd, unmodified, Debian's) under dnsperf on loopback, four cases side
# by side: plain; libah-uv.so preloaded, untraced; preloaded with `ahprof top -p` attached;
# preloaded with `ahprof record -p` attached. kresd answers from local policy only
# (tests/uv/real/kresd.conf), in a private network namespace. Per case: queries/s (dnsperf),
# kresd's CPU time per query (utime+stime from /proc/PID/stat: the BPF programs run in its
# context and are counted there) and ahprof's own CPU time per query. ROUNDS rounds, the order
# rotating, medians printed.
# Usage: bench/uv_kresd.sh BUILD_DIR
#   env: ROUNDS=5 QUERIES=20000 PASSES=10 CLIENTS=4 MODE=udp|tcp RATE= (dnsperf -Q: queries/s
#   cap; unset: as fast as dnsperf can) CASES="plain preload top record" (a subset, in that
#   order; plain first, the ratios are to it)
set -euo pipefail
B=$(cd "${1:-build}" && pwd)
if [ "${UV_KRESD_IN_NETNS:-}" != 1 ]; then
    UV_KRESD_IN_NETNS=1 exec unshare --net "$0" "$B"
fi
ROUNDS=${ROUNDS:-5}
QUERIES=${QUERIES:-20000}
PASSES=${PASSES:-10}
CLIENTS=${CLIENTS:-4}
MODE=${MODE:-udp}
RATE=${RATE:-}
here=$(cd "$(dirname "$0")/.." && pwd)
CONF="$here/tests/uv/real/kresd.conf"
AHPROF="$B/ahprof"
PRELOAD="$B/libah-uv.so"
[ -x "$AHPROF" ] && [ -f "$PRELOAD" ] || { echo "build $AHPROF and $PRELOAD first (make)" >&2; exit 1; }
command -v kresd >/dev/null && command -v dnsperf >/dev/null ||
    { echo "needs kresd and dnsperf (apt-get install knot-resolver dnsperf)" >&2; exit 1; }
work=$(mktemp -d /tmp/ahprof-bench-kresd.XXXXXX)
kresd_pid="" tracer=""
cleanup() {
    [ -n "$tracer" ] && kill "$tracer" 2>/dev/null || true
    [ -n "$kresd_pid" ] && kill "$kresd_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

ip link set lo up
port=53
for i in $(seq "$QUERIES"); do echo "q$i.example A"; done >"$work/queries.txt"
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

start_kresd() { # [PRELOAD]
    rm -rf "$work/run"; mkdir -p "$work/run"
    if [ -n "${1:-}" ]; then
        KRESD_PORT=$port LD_PRELOAD=$1 kresd -n -c "$CONF" "$work/run" >"$work/kresd.log" 2>&1 &
    else
        KRESD_PORT=$port kresd -n -c "$CONF" "$work/run" >"$work/kresd.log" 2>&1 &
    fi
    kresd_pid=$!
    for _ in $(seq 100); do
        [ "$(ss -Hln "sport = :$port" 2>/dev/null | wc -l)" -ge 2 ] && return 0
        sleep 0.05
    done
    echo "kresd did not start" >&2; cat "$work/kresd.log" >&2; exit 1
}

attach() { # top|record: attach ahprof to kresd and wait until it says so
    : >"$work/tracer.err"; : >"$work/top.out"
    if [ "$1" = top ]; then
        "$AHPROF" top -j -p "$kresd_pid" 1 >"$work/top.out" 2>"$work/tracer.err" &
    else
        "$AHPROF" record -p "$kresd_pid" -o "$work/rec.data" >/dev/null 2>"$work/tracer.err" &
    fi
    tracer=$!
    for _ in $(seq 300); do
        # record says "recording pid" once attached; top prints its first interval.
        grep -q "recording pid" "$work/tracer.err" 2>/dev/null && return 0
        [ -s "$work/top.out" ] && return 0
        sleep 0.1
    done
    echo "ahprof $1 did not attach" >&2; cat "$work/tracer.err" >&2; exit 1
}

run_case() { # plain|preload|top|record: appends "qps kresd_us_per_query ahprof_us_per_query"
    local c=$1 k0 k1 t0=0 t1=0 out done qps
    if [ "$c" = plain ]; then start_kresd; else start_kresd "$PRELOAD"; fi
    case $c in top | record) attach "$c" ;; esac
    k0=$(cpu_ticks "$kresd_pid")
    [ -n "$tracer" ] && t0=$(cpu_ticks "$tracer")
    out=$(dnsperf -m "$MODE" -c "$CLIENTS" -s 127.0.0.1 -p "$port" -d "$work/queries.txt" \
        -n "$PASSES" -t 5 ${RATE:+-Q "$RATE"} 2>&1)
    k1=$(cpu_ticks "$kresd_pid")
    [ -n "$tracer" ] && t1=$(cpu_ticks "$tracer")
    done=$(echo "$out" | sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p')
    qps=$(echo "$out" | sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p')
    kill -TERM "$kresd_pid"; wait "$kresd_pid" || true; kresd_pid=""
    if [ -n "$tracer" ]; then wait "$tracer" || true; tracer=""; fi
    [ "$done" -gt 0 ] || { echo "dnsperf completed no query: $out" >&2; exit 1; }
    [ "$done" -eq $((QUERIES * PASSES)) ] ||
        echo "note: $c completed $done of $((QUERIES * PASSES)) queries" >&2
    echo "$qps $(echo "($k1 - $k0) * 1000000 / $TICK / $done" | bc -l) $(echo "($t1 - $t0) * 1000000 / $TICK / $done" | bc -l)" >>"$work/$c"
}

read -r -a cases <<<"${CASES:-plain preload top record}"
ncases=${#cases[@]}
for c in "${cases[@]}"; do : >"$work/$c"; done
for round in $(seq "$ROUNDS"); do
    # The order rotates: the machine's speed drifts, and no case should always go first.
    line="round $round:"
    for ((i = 0; i < ncases; i++)); do
        c=${cases[$(((i + round - 1) % ncases))]}
        run_case "$c"
        line="$line  $c $(tail -1 "$work/$c" | awk '{printf "%.0f q/s %.2f us/q", $1, $2}')"
    done
    echo "$line" >&2
done

col() { cut -d' ' -f"$1" <"$work/$2" | median; }
plain=$(col 1 plain)
echo "== kresd $(kresd --version | awk '{print $NF}'), dnsperf -m $MODE -c $CLIENTS, $QUERIES distinct A queries x $PASSES passes${RATE:+ at $RATE/s}, $ROUNDS rounds (medians), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg) at the end"
printf '%-34s %10s %8s %18s %18s\n' "case" "queries/s" "ratio" "kresd CPU us/query" "ahprof CPU us/q"
for c in "${cases[@]}"; do
    case $c in
    plain) name="plain" ;;
    preload) name="libah-uv preloaded, untraced" ;;
    top) name="preloaded, ahprof top -p" ;;
    record) name="preloaded, ahprof record -p" ;;
    esac
    q=$(col 1 "$c")
    tr=$(col 3 "$c")
    case $c in plain | preload) tr="-" ;; *) tr=$(printf '%.3f' "$tr") ;; esac
    printf '%-34s %10.0f %8.3f %18.3f %18s\n' "$name" "$q" "$(echo "$q / $plain" | bc -l)" \
        "$(col 2 "$c")" "$tr"
done
