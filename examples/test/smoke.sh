#!/usr/bin/env bash
# Smoke test of the example server and load client on 127.0.0.1: the protocol, exact
# per-kind counts in --requests mode, the keep-alive load, SHUTDOWN, SIGTERM and clean exits,
# for the shared and the static build; then the same protocol and counts with every context
# pattern on (--log --trace --crumbs --db; their own tests are in tests/context/).
#
#   examples/test/smoke.sh [BUILD_DIR]     (default: build)
set -euo pipefail

B=${1:-build}
fails=0
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -f "$out"; rm -rf "$files"' EXIT
out=$(mktemp)
files=$(mktemp -d)

fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}

# Start SERVER with ARGS; sets server_pid and port. --duration bounds it if a test hangs.
start_server() {
    "$@" --duration 60 >"$out" 2>&1 &
    server_pid=$!
    port=
    for _ in $(seq 50); do
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")
        [ -n "$port" ] && return 0
        sleep 0.1
    done
    fail "$1 did not print its port"
    cat "$out" >&2
    return 1
}

# Wait for the server to exit by itself (at most 10 s); check status 0 and the summary.
expect_exit() {
    local status=0
    for _ in $(seq 100); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
        fail "server did not exit"
        kill -KILL "$server_pid"
    fi
    wait "$server_pid" || status=$?
    server_pid=
    [ "$status" -eq 0 ] || fail "server exited with status $status"
    grep -q '^ah-server: requests=' "$out" || fail "no summary line: $(cat "$out")"
    ! grep -q 'still in flight' "$out" || fail "requests left in flight: $(cat "$out")"
}

# Send request lines on one connection and compare the responses without their ids.
check_protocol() {
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET /fast\nGET /nope\nHELLO\nGET /work?ms=x\nGET /leak\nQUIT\n' >&3
    local expected=("200 fast" "404 not found" "400 bad request" "400 bad request" "200 leak"
        "200 bye")
    local line i
    for i in "${!expected[@]}"; do
        if ! IFS= read -r -t 5 line <&3; then
            fail "no response to request $i"
            break
        fi
        line=${line% id=*}
        [ "$line" = "${expected[$i]}" ] || fail "response $i: '$line', expected '${expected[$i]}'"
    done
    # Completion order: the timer answers after the pool, the pool after the fast request.
    exec 3<&- 3>&-
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET /sleep?ms=300\nGET /work?ms=100\nGET /fast\n' >&3
    local order="" code kind rest
    for i in 1 2 3; do
        read -r -t 5 code kind rest <&3 || break
        order="$order$kind "
    done
    [ "$order" = "fast work sleep " ] || fail "completion order: '$order'"
    exec 3<&- 3>&-
}

# The request kinds of the context patterns, with or without their options: a call to this
# same server, a failing request, a transaction, a request with a traceparent header.
check_pattern_kinds() {
    local tx=$1
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET /call?port=%s\n' "$port" >&3
    local line
    IFS= read -r -t 5 line <&3 || fail "no response to /call"
    case "$line" in
    "200 call port=$port reply=\"200 fast id="*) ;;
    *) fail "/call: '$line'" ;;
    esac
    local requests=("GET /fail" "GET /tx?n=2"
        "GET /fast traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        "GET /call?port=0")
    local expected=("500 failed" "$tx" "200 fast" "400 bad request")
    local i
    for i in "${!requests[@]}"; do
        printf '%s\n' "${requests[$i]}" >&3
        if ! IFS= read -r -t 5 line <&3; then
            fail "no response to ${requests[$i]}"
            break
        fi
        line=${line% id=*}
        [ "$line" = "${expected[$i]}" ] || fail "${requests[$i]}: '$line', expected '${expected[$i]}'"
    done
    exec 3<&- 3>&-
}

run_load() {
    "$B/examples/ah-load" --port "$port" "$@"
}

for server in "$B/examples/ah-server" "$B/examples/ah-server-static"; do
    echo "== $server"
    start_server "$server" --threads 2 || continue
    check_protocol
    check_pattern_kinds "503 no database"

    result=$(run_load --requests 1000 --connections 4 --mix fast=7,work=1,sleep=1,leak=1 \
        --work-ms 0 --sleep-ms 0) || fail "ah-load exited $?"
    case "$result" in
    "requests=1000 "*" errors=0 fast=700 work=100 sleep=100 leak=100 "*) ;;
    *) fail "deterministic load: $result" ;;
    esac

    result=$(run_load --duration 1 --connections 4) || fail "ah-load exited $?"
    case "$result" in
    "requests=0 "*) fail "no requests in 1 s: $result" ;;
    *" errors=0 "*) echo "   1 s, 4 connections: ${result%% p50*}" ;;
    *) fail "timed load: $result" ;;
    esac

    run_load --requests 10 --shutdown >/dev/null || fail "ah-load --shutdown exited $?"
    expect_exit

    # SIGTERM with a timer and pool work still in flight: they are cancelled, all destroyed.
    start_server "$server" --threads 1 || continue
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET /sleep?ms=10000\nGET /work?ms=200\nGET /work?ms=200\n' >&3
    sleep 0.1
    kill -TERM "$server_pid"
    expect_exit
    exec 3<&- 3>&-
done

# Every pattern on: the same answers and exact counts, a clean exit, and output from each.
echo "== $B/examples/ah-server --log --trace --crumbs --db"
if start_server "$B/examples/ah-server" --threads 2 --log "$files/log" --trace "$files/trace" \
    --crumbs --db "$files/db"; then
    check_protocol
    check_pattern_kinds "200 tx committed items=2"
    result=$(run_load --requests 1000 --connections 4 --mix fast=7,work=1,sleep=1,leak=1 \
        --work-ms 0 --sleep-ms 0) || fail "ah-load exited $?"
    case "$result" in
    "requests=1000 "*" errors=0 fast=700 work=100 sleep=100 leak=100 "*) ;;
    *) fail "deterministic load with the patterns on: $result" ;;
    esac
    run_load --requests 10 --shutdown >/dev/null || fail "ah-load --shutdown exited $?"
    expect_exit
    grep -q '"request_id":"' "$files/log" || fail "no request log lines"
    grep -q '"name":"WRITE"' "$files/trace" || fail "no spans"
    grep -q '^{"error":"db: connection reset"' "$out" || fail "no error report"
    grep -q ' call=1 fail=1 tx=1 ' "$out" || fail "pattern request counts: $(tail -1 "$out")"
fi

if [ "$fails" -ne 0 ]; then
    echo "examples smoke test: $fails failure(s)" >&2
    exit 1
fi
echo "examples smoke test: ok"
