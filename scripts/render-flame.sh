#!/bin/sh
# Render the README's flame graph picture: record the example server under load with
# `ahprof record --stacks`, draw its async flame graph as SVG, and screenshot that SVG with
# headless Chromium.
#
#   scripts/render-flame.sh [OUT.png] [WEIGHT]     (default docs/flame.png, time; needs root,
#                                                   `make`, and chromium: tests/flame/install-test-deps.sh)
# Also leaves OUT.png's SVG and the recording in build/flame-demo/.
set -eu

OUT=${1:-docs/flame.png}
WEIGHT=${2:-time}
B=build
WORK=$B/flame-demo
SECONDS_LOAD=3
mkdir -p "$WORK"
rm -f "$WORK/server.data" "$WORK/server.log"

# The flame command of build/ahprof, or the same code built for the tests until it is wired.
if "$B/ahprof" flame --help >/dev/null 2>&1; then
    FLAME="$B/ahprof flame"
else
    FLAME="$B/tests/flame/ahprof-flame"
fi

# The server stops by itself a little after the load; record ends when it exits.
"$B/ahprof" record --stacks -q -o "$WORK/server.data" -- \
    "$B/examples/ah-server" --port 0 --duration $((SECONDS_LOAD + 2)) >"$WORK/server.log" 2>&1 &
REC=$!
port=""
for _ in $(seq 100); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/server.log")
    [ -n "$port" ] && break
    sleep 0.05
done
if [ -z "$port" ]; then
    echo "render-flame: the server did not start:" >&2
    cat "$WORK/server.log" >&2
    kill "$REC" 2>/dev/null || true
    exit 1
fi
"$B/examples/ah-load" --port "$port" --connections 8 --duration "$SECONDS_LOAD" \
    --mix fast=70,work=10,sleep=10,leak=10 --work-ms 1 --sleep-ms 2
wait "$REC"

$FLAME "$WORK/server.data" --format svg --weight "$WEIGHT" \
    --title "ah-server under ah-load: async flame graph ($WEIGHT)" -o "$WORK/server.svg"

# The picture is as tall as the graph.
height=$(sed -n 's/.*<svg [^>]*height="\([0-9]*\)".*/\1/p' "$WORK/server.svg" | head -n 1)
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile" \
    --window-size="1200,${height:-600}" --screenshot="$OUT" "file://$(pwd)/$WORK/server.svg" \
    >/dev/null 2>&1
echo "render-flame: $OUT ($WORK/server.svg, recording $WORK/server.data)"
