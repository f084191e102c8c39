#!/usr/bin/env bash
# The main job on the bundled example: start the example server, put it under load, show
# `ahprof top` for a few seconds, record a few seconds with creation stacks, print the
# report and draw the async flame graph.
#   scripts/demo.sh [BUILD_DIR]
set -euo pipefail
B=${1:-build}
AHPROF="$B/ahprof"
SERVER="$B/examples/ah-server"
LOAD="$B/examples/ah-load"
DATA=$(mktemp /tmp/ahprof-demo.XXXXXX.data)
work=$(mktemp -d /tmp/ahprof-demo.XXXXXX)
server_pid=""
load_pid=""
cleanup() {
    [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null || true
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$SERVER" --port 0 --threads 2 --duration 30 >"$work/server.out" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    grep -q "listening on" "$work/server.out" 2>/dev/null && break
    sleep 0.05
done
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.out" | head -1)
if [ -z "$port" ]; then
    echo "demo: the example server did not start:" >&2
    cat "$work/server.out" >&2
    exit 1
fi
echo "== example server pid $server_pid on 127.0.0.1:$port, under load for ~12 s"
"$LOAD" --port "$port" --connections 4 --duration 12 \
    --mix fast=70,work=10,sleep=15,leak=5 >"$work/load.out" 2>&1 &
load_pid=$!
sleep 1

echo "== ahprof top -C -p $server_pid 1 4"
"$AHPROF" top -C -p "$server_pid" 1 4

echo "== ahprof record --stacks -p $server_pid --duration 4 -o $DATA"
"$AHPROF" record --stacks -p "$server_pid" --duration 4 -o "$DATA"

echo "== ahprof report $DATA"
"$AHPROF" report "$DATA"

echo "== ahprof flame $DATA -f svg -o $B/demo-flame.svg (open it in a browser)"
"$AHPROF" flame "$DATA" -f svg -o "$B/demo-flame.svg"
echo "== ahprof flame $DATA -f folded (the busiest async stacks, ns of callback time)"
"$AHPROF" flame "$DATA" -f folded | awk '{ print $NF "\t" $0 }' | sort -n -r | cut -f2- | head -5

wait "$load_pid" || true
load_pid=""
echo "== load: $(cat "$work/load.out")"
echo "demo done; the recording stays in $DATA"
