#!/bin/sh
# The flame graph of a real, unmodified libuv program: the python3-uvloop app of the tests
# (tests/uv/real/uvloop_app.py: a TCP echo server and its clients, getaddrinfo, timers,
# run_in_executor) preloaded with libah-uv.so and recorded by `ahprof record`; `ahprof flame`
# draws its async flame graph as SVG, headless Chromium renders it to PNG.
#
#   scripts/uv-flame.sh [OUT.svg] [WEIGHT]   (default docs/img/uv-flame.svg, time; OUT.png
#                                            beside it; needs root, `make`, python3-uvloop,
#                                            chromium)
# Also leaves the recording in build/uv-flame/.
set -eu

OUT=${1:-docs/img/uv-flame.svg}
WEIGHT=${2:-time}
B=build
WORK=$B/uv-flame
APP=tests/uv/real/uvloop_app.py
# clients, round trips per client, lookups, timers, executor jobs
LOAD="40 200 20 100 20"
mkdir -p "$WORK" "$(dirname "$OUT")"
rm -f "$WORK/uvloop.data" "$WORK/app.out" "$WORK/record.err" "$WORK/go"

if "$B/ahprof" record --help 2>&1 | grep -q -- '--uv'; then
    # shellcheck disable=SC2086
    "$B/ahprof" record --uv -q -o "$WORK/uvloop.data" -- /usr/bin/python3 "$APP" $LOAD \
        >"$WORK/app.out"
else
    # No `record --uv` yet: start the app preloaded, waiting on a fifo, and attach to it.
    mkfifo "$WORK/go"
    # shellcheck disable=SC2086
    LD_PRELOAD="$B/libah-uv.so" /usr/bin/python3 "$APP" --wait $LOAD <"$WORK/go" \
        >"$WORK/app.out" &
    app=$!
    exec 3>"$WORK/go"
    for _ in $(seq 200); do grep -q '^ready' "$WORK/app.out" && break; sleep 0.05; done
    "$B/ahprof" record -p "$app" -o "$WORK/uvloop.data" 2>"$WORK/record.err" &
    rec=$!
    for _ in $(seq 300); do grep -q 'recording pid' "$WORK/record.err" && break; sleep 0.1; done
    echo go >&3
    exec 3>&-
    wait "$app"
    wait "$rec"
fi
tail -1 "$WORK/app.out"

"$B/ahprof" flame "$WORK/uvloop.data" --format svg --weight "$WEIGHT" \
    --title "python3-uvloop echo server, unmodified, LD_PRELOAD=libah-uv.so: async flame graph ($WEIGHT)" \
    -o "$OUT"

# The picture is as tall as the graph.
height=$(sed -n 's/.*<svg [^>]*height="\([0-9]*\)".*/\1/p' "$OUT" | head -n 1)
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile" \
    --window-size="1200,${height:-600}" --screenshot="${OUT%.svg}.png" "file://$(pwd)/$OUT" \
    >/dev/null 2>&1
echo "uv-flame: $OUT and ${OUT%.svg}.png (recording $WORK/uvloop.data)"
