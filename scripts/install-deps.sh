#!/bin/sh
# Install the Debian packages ahprof needs, only those that are missing (idempotent).
#   scripts/install-deps.sh          build and run-time packages
#   scripts/install-deps.sh --test   also the packages only the tests use
#   scripts/install-deps.sh --bench  also the packages only the benchmarks use
set -eu

PACKAGES="make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libdw-dev \
systemtap-sdt-dev pkg-config libcriterion-dev bpftrace util-linux bc time libsqlite3-dev"
if [ "${1:-}" = "--test" ]; then
    # libFuzzer's runtime, json-c for the collector tests, and the real consumers of the
    # flame exports: chromium (SVG), graphviz (DOT), xmllint; node and npm run speedscope's
    # importer (tests/flame/install-test-deps.sh installs the npm packages).
    PACKAGES="$PACKAGES libclang-rt-14-dev libjson-c-dev chromium graphviz libxml2-utils"
    # A working node and npm from elsewhere (nodesource, nvm) will do.
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        PACKAGES="$PACKAGES nodejs npm"
    fi
elif [ "${1:-}" = "--bench" ]; then
    # The LTTng-UST comparison (bench/lttng/): the tracer's library and headers, the session
    # daemon and lttng, and babeltrace2 to count the events a session recorded.
    PACKAGES="$PACKAGES liblttng-ust-dev lttng-tools babeltrace2"
fi

missing=""
for p in $PACKAGES; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing="$missing $p"
done
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
