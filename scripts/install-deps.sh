#!/bin/sh
# Install the Debian packages ahprof needs, only those that are missing (idempotent). The lists
# are scripts/packages/*.txt (see the README there):
#   scripts/install-deps.sh          build.txt: what `make` and `make demo` need
#   scripts/install-deps.sh --test   also test.txt: what `make check` and `make test` need
#   scripts/install-deps.sh --bench  also bench.txt: what `make bench` needs
#   scripts/install-deps.sh --list [--test|--bench]   print the Debian packages, install nothing
set -eu

dir=$(dirname "$0")/packages
lists="$dir/build.txt"
list_only=0
for arg in "$@"; do
    case $arg in
    --test) lists="$lists $dir/test.txt" ;;
    --bench) lists="$lists $dir/bench.txt" ;;
    --list) list_only=1 ;;
    *)
        echo "usage: scripts/install-deps.sh [--list] [--test] [--bench]" >&2
        exit 2
        ;;
    esac
done

# "PACKAGE COMMAND": COMMAND on PATH from elsewhere stands for the package. npm: lines are for
# tests/flame/install-test-deps.sh.
# shellcheck disable=SC2086
wanted=$(sed -e 's/#.*//' $lists | awk 'NF && $1 !~ /^npm:/ && !seen[$1]++ { print $1, $2 }')
missing=""
all=""
while read -r pkg cmd; do
    all="$all $pkg"
    if [ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1; then
        continue
    fi
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing="$missing $pkg"
done <<EOF_LIST
$wanted
EOF_LIST

if [ "$list_only" = 1 ]; then
    echo "${all# }"
    exit 0
fi
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages:$missing (run as root, or install them)" >&2
    exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
