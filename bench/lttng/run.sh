#!/bin/sh
# bench/lttng/run.sh BUILD_DIR - the cost of one LTTng-UST event, the reference for libah's
# tracing cost: the same record as one libah event (kind, id, trigger id, type) written by a
# tracepoint compiled into the program (bench/lttng/bench_lttng.c), in three cases:
#   loop       the benchmark loop without the tracepoint
#   nosession  the tracepoint, session daemon running, no recording session
#   session    the tracepoint, recorded by a session (per-user buffers, discard mode)
# Prints a table, then one "bench ..." line per case for scripts:
#   bench name=lttng case=session median_ns=101.52 min_ns=95.10 max_ns=110.03 reps=15 iters=1000000 discarded=0
#
# The script starts its own lttng-sessiond with a private LTTNG_HOME in a temporary directory
# and stops it on exit; it never talks to another session daemon. Only an unprivileged session
# daemon can be private: a root one always uses /var/run/lttng (LTTng-tools 2.13 has no way to
# move it), where the system's daemon lives. So when run as root, the daemon, the lttng
# commands and the benchmark run as user nobody (setpriv); otherwise as the calling user. The
# tracing path is the same either way (per-user buffers are what a root daemon uses too).
#
# Every round: the no-session run, then a session is created, the benchmark runs while it
# records, the session is stopped, its discarded-event count read, the trace counted with
# babeltrace2 (when installed) against the number of events the benchmark made, and destroyed.
# Rounds alternate the cases so that the drift of the machine's speed is shared between them.
set -eu

dir=${1:-build/bench}
bin=$dir/bench_lttng
rounds=3 reps=5 iters=1000000 # 3 rounds x 5 repetitions = 15 per case, of 1M events each
# Per-user buffers, one ring per CPU: 8 x 4 MiB holds 1.3M events of 25 bytes, more than the
# consumer daemon ever lags behind at ~10M events/s (it writes to the page cache).
subbuf_size=4M num_subbuf=8

skip() {
    echo "lttng bench skipped: $*"
    exit 0
}
for c in lttng lttng-sessiond; do
    command -v "$c" >/dev/null 2>&1 ||
        skip "$c not found (install lttng-tools: scripts/install-deps.sh --bench)"
done
[ -x "$bin" ] || {
    echo "bench/lttng/run.sh: $bin is not built (make bench-lttng)" >&2
    exit 1
}
if [ "$(id -u)" -eq 0 ]; then
    command -v setpriv >/dev/null 2>&1 || skip "running as root needs setpriv (util-linux)"
    run_uid=$(id -u nobody 2>/dev/null) || skip "running as root needs user nobody"
    run_gid=$(id -g nobody)
    run_user=nobody
else
    run_uid=$(id -u) run_gid=$(id -g) run_user=$(id -un)
fi

tmp=$(mktemp -d /tmp/ah-lttng.XXXXXX)
sessiond_pid=
# The wait files LTTng-UST and the session daemon create in /dev/shm: remove those this run
# creates, keep those that were there before.
shm_files="/dev/shm/lttng-ust-wait-8 /dev/shm/lttng-ust-wait-8-$run_uid"
shm_new=
for f in $shm_files; do [ -e "$f" ] || shm_new="$shm_new $f"; done

alive() { # PID: running, not a zombie waiting to be reaped
    [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]
}
cleanup() {
    if [ -n "$sessiond_pid" ] && alive "$sessiond_pid"; then
        kill "$sessiond_pid" 2>/dev/null || true
        i=0
        while alive "$sessiond_pid" && [ $i -lt 100 ]; do
            sleep 0.05
            i=$((i + 1))
        done
        if alive "$sessiond_pid"; then
            echo "lttng-sessiond $sessiond_pid did not stop, killing it" >&2
            kill -9 "$sessiond_pid" 2>/dev/null || true
        fi
    fi
    # Its consumer daemons leave with it; any left (named by our private socket path) go too.
    for p in $(pgrep -f "lttng-consumerd.*$tmp/" 2>/dev/null || true); do kill "$p" 2>/dev/null || true; done
    for f in $shm_new; do rm -f "$f"; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

[ "$(id -u)" -ne 0 ] || chown "$run_uid:$run_gid" "$tmp"
cp "$bin" "$tmp/bench_lttng" # readable by $run_user wherever the build tree is
cd "$tmp"
as_user() { # COMMAND...: run with the private LTTNG_HOME, as $run_user
    if [ "$(id -u)" -eq 0 ]; then
        setpriv --reuid="$run_uid" --regid="$run_gid" --clear-groups \
            env -i PATH="$PATH" HOME="$tmp" LTTNG_HOME="$tmp" "$@"
    else
        env HOME="$tmp" LTTNG_HOME="$tmp" "$@"
    fi
}
ctl() { # lttng COMMAND...: never spawns a daemon (-n); prints the output only if it fails
    if ! as_user lttng -n "$@" >"$tmp/ctl.log" 2>&1; then
        echo "lttng $*: failed" >&2
        cat "$tmp/ctl.log" >&2
        exit 1
    fi
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

field() { sed -n "s/^$1[[:space:]]*: //p" /proc/cpuinfo | head -n 1; }
echo "machine: $(nproc) CPUs, $(field 'model name') ($(field 'cpu MHz') MHz), Linux $(uname -r), clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null || echo unknown)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shows up in the figures)"
ust=$(pkg-config --modversion lttng-ust 2>/dev/null || dpkg-query -W -f='${Version}' liblttng-ust-dev 2>/dev/null || echo unknown)
echo "lttng:   LTTng-UST $ust, $(lttng --version 2>/dev/null | head -n 1)"

t0=$(now_ms)
if ! as_user lttng-sessiond --daemonize --no-kernel >"$tmp/sessiond.log" 2>&1; then
    echo "lttng-sessiond did not start:" >&2
    cat "$tmp/sessiond.log" >&2
    exit 1
fi
t1=$(now_ms)
sessiond_pid=$(cat "$tmp/.lttng/lttng-sessiond.pid" 2>/dev/null || true)
case $sessiond_pid in
'' | *[!0-9]*)
    echo "lttng-sessiond wrote no pid file in $tmp/.lttng" >&2
    sessiond_pid=
    exit 1
    ;;
esac
echo "sessiond: pid $sessiond_pid as $run_user, LTTNG_HOME=$tmp, ready in $((t1 - t0)) ms"
echo "channel: per-user buffers, discard mode, $num_subbuf x $subbuf_size per CPU; $rounds rounds x $reps repetitions x $iters events per case"

if command -v babeltrace2 >/dev/null 2>&1; then
    have_bt=1
else
    have_bt=0
    echo "trace:   babeltrace2 not installed, the recorded events are not counted (only the discarded count and the trace size are checked)"
fi

total_discarded=0
r=1
while [ $r -le $rounds ]; do
    # No session: the tracepoint is a load and a branch.
    as_user ./bench_lttng --raw --expect disabled --reps $reps --iters $iters loop event \
        >"$tmp/nosession.out"
    grep '^rep' "$tmp/nosession.out" >>"$tmp/reps"

    # Recording session, started before the benchmark: LTTng-UST enables the tracepoint while
    # the program registers with the daemon, before main() (the benchmark checks it anyway).
    s=ahbench$r
    trace=$tmp/trace$r
    ctl create "$s" --output="$trace"
    ctl enable-channel -u -s "$s" --buffers-uid --discard --subbuf-size=$subbuf_size \
        --num-subbuf=$num_subbuf ch
    ctl enable-event -u -s "$s" -c ch ahbench_lttng:event
    ctl start "$s"
    as_user ./bench_lttng --raw --expect enabled --reps $reps --iters $iters loop event \
        >"$tmp/session.out"
    ctl stop "$s" # waits until the consumer daemon has written everything
    grep -i 'warning' "$tmp/ctl.log" | sed "s/^/round $r: lttng stop: /" || true
    ctl list "$s"
    discarded=$(sed -n 's/^[[:space:]]*Discarded events:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$tmp/ctl.log" | awk '{ n += $1 } END { print n + 0 }')
    lost=$(sed -n 's/^[[:space:]]*Lost packets:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$tmp/ctl.log" | awk '{ n += $1 } END { print n + 0 }')
    ctl destroy "$s"
    grep '^rep' "$tmp/session.out" >>"$tmp/reps"
    made=$(sed -n 's/^events //p' "$tmp/session.out")
    bytes=$(du -sb "$trace" | cut -f1)
    streams=$(find "$trace" -path '*/ust/*' ! -path '*/index/*' -type f -name 'ch_*' -size +0 | wc -l)
    if [ "$streams" -eq 0 ]; then
        echo "round $r: the session recorded no trace data in $trace" >&2
        exit 1
    fi
    msg="round $r: $made events made, lttng reports $discarded discarded, $lost lost packets; trace $((bytes / 1048576)) MiB in $streams stream file(s)"
    if [ $have_bt -eq 1 ]; then
        babeltrace2 "$trace" --component=sink.utils.counter --params=step=+0 >"$tmp/count" 2>&1 || {
            echo "babeltrace2 could not read $trace:" >&2
            cat "$tmp/count" >&2
            exit 1
        }
        counted=$(awk '/Event messages/ { n = $1 } END { print n + 0 }' "$tmp/count")
        bt_disc=$(awk '/Discarded event messages/ { n = $1 } END { print n + 0 }' "$tmp/count")
        msg="$msg, babeltrace2 counts $counted events"
        if [ "$counted" -ne $((made - discarded)) ]; then
            echo "$msg: MISMATCH, want $((made - discarded))" >&2
            exit 1
        fi
        [ "$bt_disc" -eq 0 ] || msg="$msg and $bt_disc discarded-event notices"
    fi
    echo "$msg"
    if [ "$discarded" -ne 0 ] || [ "$lost" -ne 0 ]; then
        echo "round $r: WARNING: LTTng discarded events; the session figure includes the cheaper discard path"
    fi
    total_discarded=$((total_discarded + discarded + lost))
    rm -rf "$trace"
    r=$((r + 1))
done

# "rep name=lttng case=C ns=X" -> per case: median, min, max, count (in run order).
awk -v iters=$iters -v discarded=$total_discarded '
    { split($3, k, "="); split($4, f, "=")
      key = k[2]
      if (!(key in count)) order[++cases] = key
      v[key, ++count[key]] = f[2] + 0 }
    END {
        printf "%-10s %10s %10s %10s %6s\n", "case", "median ns", "min", "max", "reps"
        for (c = 1; c <= cases; c++) {
            key = order[c]; m = count[key]
            for (i = 1; i <= m; i++) s[i] = v[key, i]
            for (i = 2; i <= m; i++) { y = s[i]; for (j = i - 1; j >= 1 && s[j] > y; j--) s[j + 1] = s[j]; s[j + 1] = y }
            med[key] = m % 2 ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
            extra = key == "session" ? sprintf(" discarded=%d", discarded) : ""
            line[c] = sprintf("bench name=lttng case=%s median_ns=%.2f min_ns=%.2f max_ns=%.2f reps=%d iters=%d%s", key, med[key], s[1], s[m], m, iters, extra)
            printf "%-10s %10.2f %10.2f %10.2f %6d\n", key, med[key], s[1], s[m], m
        }
        if (("session" in med) && ("loop" in med))
            printf "one recorded LTTng-UST event: %.2f ns over the loop (nosession: %.2f ns)\n", med["session"] - med["loop"], med["nosession"] - med["loop"]
        for (c = 1; c <= cases; c++) print line[c]
    }' "$tmp/reps"
