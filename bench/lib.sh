# lib.sh - what the example-server benchmarks share (bench/collector.sh, bench/kernel_view.sh):
# the server, one measured load, medians. Sourced by bash scripts that set B (the build
# directory), CONNS, SECS and work (a scratch directory) first.

median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# A process's user + system CPU in clock ticks (0 once it is gone).
cpu_ticks() { if [ -r "/proc/$1/stat" ]; then awk '{print $14 + $15}' "/proc/$1/stat"; else echo 0; fi; }
TICK=$(getconf CLK_TCK)

# Start the example server (2 threads) on a free port: sets server_pid and port.
server_start() {
    ${SERVER_PREFIX:-} "$B/examples/ah-server" --port 0 --threads 2 >"$work/server.out" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$work/server.out" && break; sleep 0.05; done
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.out" | head -1)
}

server_stop() {
    [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

# One measured run of GET /fast while the tracers $* (pids, maybe none) run: prints
# "req/s server_cpu_us_per_req tracers_cpu_us_per_req requests". SERVER_PREFIX and LOAD_PREFIX
# (e.g. "taskset -c 1") run the server and the load under a command.
load() {
    local s0 t0=0 t1=0 out req rps s1 p
    s0=$(cpu_ticks "$server_pid")
    for p in "$@"; do t0=$((t0 + $(cpu_ticks "$p"))); done
    out=$(${LOAD_PREFIX:-} "$B/examples/ah-load" --port "$port" --connections "$CONNS" --duration "$SECS" \
        --mix fast=100)
    s1=$(cpu_ticks "$server_pid")
    for p in "$@"; do t1=$((t1 + $(cpu_ticks "$p"))); done
    req=$(echo "$out" | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
    rps=$(echo "$out" | sed -n 's/.*rps=\([0-9.]*\).*/\1/p')
    echo "$rps $(echo "($s1 - $s0) * 1000000 / $TICK / $req" | bc -l) $(echo "($t1 - $t0) * 1000000 / $TICK / $req" | bc -l) $req"
}

# Wait until FILE has a line matching PATTERN (up to 60 s): a tracer has attached. Starting
# `ahprof top` takes about 3 s here (the BPF verifier), more than a fixed sleep would give it:
# a load measured before the attach is untraced, and the tracer's CPU is its start-up.
wait_for() {
    for _ in $(seq 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "bench: no \"$2\" in $1 after 60 s" >&2
    return 1
}

# Start TRACER ARGS... against the server and wait until it has attached: sets tracer. top
# prints its first interval once attached (run it with -C and an interval of 1), record says
# "recording pid".
tracer_start() {
    "$@" >"$work/tracer.out" 2>&1 &
    tracer=$!
    case " $* " in
    *" record "*) wait_for "$work/tracer.out" "recording pid" ;;
    *) wait_for "$work/tracer.out" "^events/s" ;;
    esac
}

# Column N of the runs of case C (in $work/C), median.
col() { cut -d' ' -f"$1" <"$work/$2" | median; }
