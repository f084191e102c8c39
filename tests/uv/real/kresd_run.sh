#!/bin/sh
# Knot Resolver (kresd) under a bounded DNS load with known numbers, in a private network
# namespace (nothing leaves the machine; kresd answers from local policy only: kresd.conf).
#
#   kresd_run.sh [--wait] DIR TCP_DIGS UDP_QUERIES TCP_CLIENTS
#
# UV_PRELOAD=PATH in the environment preloads PATH (libah-uv.so) into kresd, and into nothing
# else. With --wait, once kresd listens it prints "ready PID" and reads one line on stdin
# before the load (time to attach `ahprof record -p PID`). The load, in this order:
#   - TCP_DIGS queries with `dig +tcp`, each its own TCP connection;
#   - one query with plain dig over UDP;
#   - UDP_QUERIES distinct A queries with dnsperf over UDP (-n 1: each sent once);
#   - the same queries with dnsperf over TCP through TCP_CLIENTS connections.
# Then kresd gets SIGTERM. The output is the answers and counts (no timings), so that runs with
# and without the preload can be compared line by line; the exit status is kresd's.
set -eu

if [ "${KRESD_RUN_IN_NETNS:-}" != 1 ]; then
    KRESD_RUN_IN_NETNS=1 exec unshare --net "$0" "$@"
fi

wait_go=0
if [ "${1:-}" = --wait ]; then
    wait_go=1
    shift
fi
[ $# -eq 4 ] || { echo "usage: $0 [--wait] DIR TCP_DIGS UDP_QUERIES TCP_CLIENTS" >&2; exit 2; }
dir=$1 tcp_digs=$2 udp_queries=$3 tcp_clients=$4
here=$(cd "$(dirname "$0")" && pwd)
port=53

ip link set lo up
mkdir -p "$dir/run"
i=1
: > "$dir/queries.txt"
while [ "$i" -le "$udp_queries" ]; do
    echo "q$i.example A" >> "$dir/queries.txt"
    i=$((i + 1))
done

if [ -n "${UV_PRELOAD:-}" ]; then
    KRESD_PORT=$port LD_PRELOAD=$UV_PRELOAD kresd -n -c "$here/kresd.conf" "$dir/run" \
        > "$dir/kresd.log" 2>&1 &
else
    KRESD_PORT=$port kresd -n -c "$here/kresd.conf" "$dir/run" > "$dir/kresd.log" 2>&1 &
fi
kresd_pid=$!

# Ready when both sockets listen; no query is sent before the load.
tries=0
until [ "$(ss -Hln "sport = :$port" 2>/dev/null | wc -l)" -ge 2 ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ] || ! kill -0 "$kresd_pid" 2>/dev/null; then
        echo "kresd did not start:" >&2
        cat "$dir/kresd.log" >&2
        kill "$kresd_pid" 2>/dev/null || true
        exit 1
    fi
    sleep 0.05
done

if [ "$wait_go" = 1 ]; then
    echo "ready $kresd_pid"
    read -r _go || true
fi

i=1
while [ "$i" -le "$tcp_digs" ]; do
    echo "tcp $(dig +tcp +short +tries=1 +time=5 -p "$port" @127.0.0.1 "t$i.example" A)"
    i=$((i + 1))
done
echo "udp $(dig +short +tries=1 +time=5 -p "$port" @127.0.0.1 u.example A)"
echo "udp-aaaa $(dig +tries=1 +time=5 -p "$port" @127.0.0.1 u.example AAAA |
    sed -n 's/.*status: \([A-Z]*\),.*/\1/p')"

# dnsperf's counts, without its timings.
perf() {
    dnsperf "$@" -s 127.0.0.1 -p "$port" -d "$dir/queries.txt" -n 1 -t 5 > "$dir/dnsperf.out"
    sed -n -e 's/^ *\(Queries sent\): *\([0-9]*\).*/\1 \2/p' \
        -e 's/^ *\(Queries completed\): *\([0-9]*\).*/\1 \2/p' \
        -e 's/^ *\(Response codes\): *\(.*\)/\1 \2/p' \
        -e 's/^ *\(Reconnections\): *\([0-9]*\).*/\1 \2/p' "$dir/dnsperf.out"
}
echo "dnsperf udp: $(perf -m udp -c 1 | paste -sd, -)"
echo "dnsperf tcp: $(perf -m tcp -c "$tcp_clients" | paste -sd, -)"

kill -TERM "$kresd_pid"
status=0
wait "$kresd_pid" || status=$?
echo "kresd exit $status"
exit "$status"
