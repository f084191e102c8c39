#!/bin/sh
# Install what only the flame tests use, when it is missing (idempotent):
#   Debian: through scripts/install-deps.sh --test;
#   npm, pinned in scripts/packages/test.txt ("npm:" lines), into BUILD/flame-node (git-ignored):
#   speedscope (its own importer reads our speedscope, folded and Chrome JSON files) and
#   playwright-core (drives Debian's chromium to click, hover and search in the SVG; it never
#   downloads a browser of its own).
#
#   tests/flame/install-test-deps.sh [BUILD_DIR]     (default: build)
set -eu

BUILD=${1:-build}
top="$(dirname "$0")/../.."

# The Debian packages (chromium, graphviz, xmllint, node) come from scripts/install-deps.sh.
"$top/scripts/install-deps.sh" --test

want=$(sed -n -e 's/#.*//' -e 's/^[[:space:]]*npm:\([^[:space:]]*\).*/\1/p' "$top/scripts/packages/test.txt" |
    tr '\n' ' ')
want=${want% }
DIR="$BUILD/flame-node"
# The node version is part of the stamp: a pin that suits one node may not suit the next.
stamp="$want node $(node --version)"
if [ -f "$DIR/.installed" ] && [ "$(cat "$DIR/.installed")" = "$stamp" ]; then
    exit 0
fi
mkdir -p "$DIR"
rm -f "$DIR/.installed"
[ -f "$DIR/package.json" ] || echo '{"name":"ahprof-flame-tests","private":true}' >"$DIR/package.json"
echo "flame test deps: npm install $want (node $(node --version))"
# --engine-strict: a package that does not support this node fails here, by name, rather than
# later inside a test. PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: the tests use Debian's /usr/bin/chromium.
# shellcheck disable=SC2086
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$DIR" --engine-strict --no-audit \
    --no-fund --loglevel=error $want >/dev/null
echo "$stamp" >"$DIR/.installed"
