#!/bin/sh
# summary.sh FILE... - the one table of `make bench` (docs/BENCHMARKS.md): every figure the
# benchmarks of this run printed as "bench ..." lines (bench/run-lifecycle.sh, bench/batch.sh,
# bench/lttng/run.sh, bench/collector.sh), side by side, with the cost of one traced probe hit
# measured in the same run (the figure that moves 7x between machines) and each traced cost
# as a ratio to LTTng-UST's. A figure a benchmark did not measure (skipped, not root, no
# LTTng) is not printed.
set -eu

cat "$@" 2>/dev/null | awk '
    function field(k,    i, kv) {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] }
        return ""
    }
    /^bench / {
        name = field("name"); c = field("case")
        if (name == "traced") traced[c] = field("median_ns_per_event")
        else if (name == "traced-loss") { written[c] = field("written"); lost[c] = field("lost") }
        else if (name == "lttng") lttng[c] = field("median_ns")
        else if (name == "lifecycle" && field("traced") == "0") life[field("linkage")] = field("median_ns")
        else if (name == "paced") { paced_rate[c] = field("rate"); paced_lost[c] = field("lost"); paced_rec[c] = field("recorded") }
        else if (name == "server") { cpu[c] = field("cpu_us_per_req"); rps[c] = field("rps") }
        else if (name == "server_paired" && field("bpf") == "") {
            k = c " " field("conns")
            paired[k] = sprintf("%-14s %5s %9s %9s %+7.1f%%   %+.1f%% to %+.1f%%   %s / %s   %.0f / %.0f   %s", c, field("conns"),
                field("traced_us"), field("untraced_us"), 100 * (field("ratio") - 1), 100 * (field("min") - 1),
                100 * (field("max") - 1), field("blocks_traced"), field("blocks_untraced"), field("rps_traced"), field("rps_untraced"),
                field("ahprof_us") == "" ? "-" : field("ahprof_us"))
            pairs = field("pairs"); order[++npaired] = k
        }
        else if (name == "server_paired") bpf[c] = field("bpf")
    }
    function row(what, v, ref,    r) {
        if (v == "") return
        r = ref != "" && ref > 0 ? sprintf("%.2f", v / ref) : "-"
        printf "%-48s %12.2f %10s\n", what, v, r
    }
    END {
        ref = lttng["session"]
        printf "\n== summary: ns per event (median), ratio to LTTng-UST in this run\n"
        printf "%-48s %12s %10s\n", "case", "ns/event", "/ LTTng"
        row("libah untraced (lifecycle / 4)", traced["untraced"], ref)
        if (life["static"] != "") printf "%-48s %12.2f %10s\n", "libah untraced lifecycle, libah.a (ns/lifecycle)", life["static"], "-"
        if (life["shared"] != "") printf "%-48s %12.2f %10s\n", "libah untraced lifecycle, libah.so (ns/lifecycle)", life["shared"], "-"
        row("LTTng-UST, session recording", ref, ref)
        row("one traced probe hit (bpftrace count, 5-byte nop)", traced["uprobe-hit"], ref)
        row("bpftrace count() on the 4 per-event probes", traced["bpftrace"], ref)
        row("ahprof top (batch)", traced["top-batch"], ref)
        row("ahprof record (batch) to /dev/null", traced["record-batch"], ref)
        row("ahprof top --per-event", traced["top-per-event"], ref)
        row("ahprof record --per-event to /dev/null", traced["record-per-event"], ref)
        row("one traced probe hit, trapping (int3) build", traced["uprobe-hit-trap"], ref)
        row("ahprof top (batch), trapping build", traced["top-batch-trap"], ref)
        row("ahprof record (batch) /dev/null, trapping build", traced["record-batch-trap"], ref)
        for (c in written)
            printf "%-48s %d written, %d lost (%.1f%%)\n", c " on the tight loop", written[c], lost[c], written[c] + lost[c] ? 100 * lost[c] / (written[c] + lost[c]) : 0
        for (c in paced_rate)
            printf "%-48s rate %s/s, recorded %s, lost %s\n", "paced 5M events/s x 10 s, " c, paced_rate[c], paced_rec[c], paced_lost[c]
        if (cpu["none"] != "") {
            printf "\n== example server, CPU per request (median of rotated rounds)\n"
            printf "%-48s %12s %10s\n", "case", "us/request", "vs none"
            for (i = 1; i <= 5; i++) {
                c = i == 1 ? "none" : i == 2 ? "top" : i == 3 ? "top-nokernel" : i == 4 ? "record" : "top-pe"
                if (cpu[c] == "") continue
                label = c == "top" ? "top (kernel view on, the default)" : c == "top-nokernel" ? "top --no-kernel" : c
                printf "%-48s %12.2f %+9.1f%%\n", label, cpu[c], 100 * (cpu[c] / cpu["none"] - 1)
            }
        }
        if (length(paired)) {
            printf "\n== example server, CPU per request (us): traced twin vs untraced twin, %s alternating pairs each\n", pairs
            printf "%-14s %5s %9s %9s %8s   %-18s %s\n", "tracer", "conns", "traced", "untraced", "median", "pairs", "blocks/request t / u   req/s t / u   ahprof us/req"
            for (i = 1; i <= npaired; i++) print paired[order[i]]
            for (i = 1; i <= 3; i++) {
                c = i == 1 ? "top" : i == 2 ? "top-nokernel" : "record"
                if (c in bpf) printf "BPF ns per request, %s (bpf_stats run): %s\n", c, bpf[c]
            }
        }
    }'
