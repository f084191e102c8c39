#!/bin/sh
# Install what only the flame tests use, when it is missing (idempotent):
#   Debian: through scripts/install-deps.sh --test;
#   npm, pinned, into BUILD/flame-node (git-ignored): speedscope (its own importer reads our
#   speedscope, folded and Chrome JSON files) and playwright-core (drives Debian's chromium
#   to click, hover and search in the SVG; it never downloads a browser of its own).
#
#   tests/flame/install-test-deps.sh [BUILD_DIR]     (default: build)
set -eu

BUILD=${1:-build}
SPEEDSCOPE=speedscope@1.25.0
PLAYWRIGHT=playwright-core@1.64.1

# The Debian packages (chromium, graphviz, xmllint, node) come from scripts/install-deps.sh.
"$(dirname "$0")/../../scripts/install-deps.sh" --test

DIR="$BUILD/flame-node"
want="$SPEEDSCOPE $PLAYWRIGHT"
if [ -f "$DIR/.installed" ] && [ "$(cat "$DIR/.installed")" = "$want" ]; then
    exit 0
fi
mkdir -p "$DIR"
[ -f "$DIR/package.json" ] || echo '{"name":"ahprof-flame-tests","private":true}' >"$DIR/package.json"
echo "flame test deps: npm install $want"
# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: the tests use Debian's /usr/bin/chromium.
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$DIR" --no-audit --no-fund \
    --loglevel=error $want >/dev/null
echo "$want" >"$DIR/.installed"
