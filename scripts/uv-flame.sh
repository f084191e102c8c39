#!/bin/sh
# The flame graph of a real, unmodified libuv program: the python3-uvloop app of the tests
# (tests/uv/real/uvloop_app.py: a TCP echo server and its clients, getaddrinfo, timers,
# run_in_executor) launched by `ahprof record --uv` (libah-uv.so preloaded); `ahprof flame`
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
rm -f "$WORK/uvloop.data" "$WORK/app.out"

# shellcheck disable=SC2086
"$B/ahprof" record --uv -q -o "$WORK/uvloop.data" -- /usr/bin/python3 "$APP" $LOAD >"$WORK/app.out"
tail -1 "$WORK/app.out"

"$B/ahprof" flame "$WORK/uvloop.data" --format svg --weight "$WEIGHT" \
    --title "python3-uvloop echo server, unmodified, ahprof record --uv: async flame graph ($WEIGHT)" \
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
