/*
 * gen.c - synthetic recordings with known numbers for the flame tests, written with the
 * recorder's own writer (src/cli/data/writer.c), laid out like `ahprof record [--stacks]` lays
 * them out (stack chunks after the events that first use them).
 *
 *   flame-gen tree FILE [N] [--stacks]
 *       pid 100. N (default 10) x REQ created from the root on thread 100, each running one
 *       callback of 5000 ns that creates 2 TIMER and 1 LEAK. Each TIMER runs one callback of
 *       3000 ns on thread 101, with a WRITE created in it and run nested in it for 500 ns,
 *       then destroyed. Everything is destroyed but the LEAKs. Plus one resource that
 *       predates the recording: a TIMER (id 900) whose callback (2000 ns, with 400 ns of a
 *       nested WRITE it creates) runs on thread 100. So:
 *         time   REQ 5000N, REQ;TIMER 5000N, REQ;TIMER;WRITE 1000N,
 *                (before attach);TIMER 1600, (before attach);TIMER;WRITE 400
 *         count  REQ N, REQ;TIMER 2N, REQ;TIMER;WRITE 2N, REQ;LEAK N, (before attach);TIMER;WRITE 1
 *         live   REQ;LEAK N
 *       With --stacks the frames are REQ@server.c:42 accept_cb, TIMER@request.c:142
 *       request_start, LEAK@request.c:150 request_start, WRITE@timer.c:7 timer_fire; the
 *       WRITE of the old timer has a stack that is all libah (no site: plain WRITE).
 *   flame-gen rearm FILE EVENTS [--stacks]
 *       a timer that re-arms itself forever: each TIMER callback (90 ns) creates the next
 *       TIMER, then the TIMER is destroyed; 4 events per timer, EVENTS in all.
 *   flame-gen names FILE
 *       resources of types with hostile names (HTML, quotes, ';', newline, ESC, "semi 42",
 *       backslash, non-ASCII, empty), each created, run (1000 ns) and left alive, with stack
 *       symbols just as hostile.
 *   flame-gen deep FILE [N]
 *       a chain of N (default 600) resources, each created in the callback (100 ns) of the one
 *       before, of types T0..T255 in turn, each from its own creation site (with --stacks):
 *       a path deeper than any output keeps.
 *   flame-gen lost FILE
 *       thread 7: BEFORE A, BEFORE B, AFTER A (B's AFTER lost), AFTER Z (no BEFORE), BEFORE C
 *       (still open at the end); thread 8: AFTER Y (no BEFORE), BEFORE D, AFTER D.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/datafile.h"

static struct ahp_writer *w;
static struct ahp_event buf[4096];
static size_t nbuf;
static int use_stacks;

static void die(const char *what, int rc)
{
    fprintf(stderr, "flame-gen: %s: %s\n", what, ahp_file_strerror(rc));
    exit(1);
}

static void flush(void)
{
    int rc = ahp_writer_events(w, buf, nbuf);
    if (rc < 0)
        die("events", rc);
    nbuf = 0;
}

/* TRIG: an INIT's trigger id; DEPTH: a BEFORE/AFTER's depth, or an INIT's stack_ref. */
static void ev(uint8_t kind, uint64_t ts, uint32_t tid, uint64_t id, int32_t type, uint64_t trig,
               uint16_t depth)
{
    if (nbuf == sizeof(buf) / sizeof(buf[0]))
        flush();
    struct ahp_event *e = &buf[nbuf++];
    *e = (struct ahp_event){
        .ts_ns = ts, .id = id, .tid = tid, .type = type, .kind = kind, .pid = 100};
    if (kind == AHP_EV_INIT) {
        e->trigger_id = trig;
        e->stack_ref = depth;
    } else {
        e->depth = depth;
    }
}

/* An INIT with user stack STACK (0: none), as record --stacks writes it (stack_ref = id + 1). */
static void init(uint64_t ts, uint32_t tid, uint64_t id, int32_t type, uint64_t trig, int stack)
{
    ev(AHP_EV_INIT, ts, tid, id, type, trig, use_stacks && stack > 0 ? (uint16_t)(stack + 1) : 0);
}

static void frame(struct ahp_stack_frame *f, const char *func, const char *file, uint32_t line,
                  uint64_t ip)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->func, sizeof(f->func), "%s", func);
    snprintf(f->file, sizeof(f->file), "%s", file);
    f->line = line;
    f->ip = ip;
}

static void stack(uint32_t id, const char *site_func, const char *site_file, uint32_t line,
                  int through_bind)
{
    if (!use_stacks)
        return;
    flush();
    struct ahp_stack_frame f[5];
    uint32_t n = 0;
    frame(&f[n++], "ah_init", "resource.c", 30, 0x7f0000001000);
    if (through_bind)
        frame(&f[n++], "ah_bind", "resource.c", 186, 0x7f0000001100);
    if (site_func != NULL) {
        frame(&f[n++], site_func, site_file, line, 0x401000 + line);
        frame(&f[n++], "main", "server.c", 300, 0x400800);
    }
    int rc = ahp_writer_stack(w, id, f, n);
    if (rc < 0)
        die("stack", rc);
}

static void open_file(const char *path)
{
    struct ahp_file_info info = {
        .pid = 100, .start_mono_ns = 1000000, .start_real_ns = 1700000000000000000ull};
    snprintf(info.comm, sizeof(info.comm), "ah-server");
    snprintf(info.target, sizeof(info.target), "/usr/local/bin/ah-server");
    int rc = ahp_writer_open(&w, path, &info);
    if (rc < 0)
        die(path, rc);
}

static void close_file(uint64_t end)
{
    flush();
    int rc = ahp_writer_close(w, end, 0);
    if (rc < 0)
        die("close", rc);
}

static void type(int32_t t, const char *name)
{
    int rc = ahp_writer_type(w, t, name);
    if (rc < 0)
        die("type", rc);
}

enum { REQ, TIMER, WRITE, LEAK };

static void gen_tree(const char *path, long n)
{
    open_file(path);
    type(REQ, "REQ");
    type(TIMER, "TIMER");
    type(WRITE, "WRITE");
    type(LEAK, "LEAK");
    uint64_t id = 10, t = 2000000;
    for (long i = 0; i < n; i++, t += 100000) {
        uint64_t r = id++, tm[2] = {id++, id++}, leak = id++;
        init(t, 100, r, REQ, 1, 1);
        ev(AHP_EV_BEFORE, t + 100, 100, r, REQ, 0, 1);
        init(t + 200, 100, tm[0], TIMER, r, 2);
        init(t + 300, 100, tm[1], TIMER, r, 2);
        init(t + 400, 100, leak, LEAK, r, 3);
        ev(AHP_EV_AFTER, t + 5100, 100, r, REQ, 0, 1);
        ev(AHP_EV_DESTROY, t + 5200, 100, r, REQ, 0, 0);
        for (int k = 0; k < 2; k++) {
            uint64_t s = t + 10000 + (uint64_t)k * 10000, wr = id++;
            ev(AHP_EV_BEFORE, s, 101, tm[k], TIMER, 0, 1);
            init(s + 500, 101, wr, WRITE, tm[k], 4);
            ev(AHP_EV_BEFORE, s + 1000, 101, wr, WRITE, 0, 2);
            ev(AHP_EV_AFTER, s + 1500, 101, wr, WRITE, 0, 2);
            ev(AHP_EV_DESTROY, s + 1600, 101, wr, WRITE, 0, 0);
            ev(AHP_EV_AFTER, s + 3000, 101, tm[k], TIMER, 0, 1);
            ev(AHP_EV_DESTROY, s + 3100, 101, tm[k], TIMER, 0, 0);
        }
        if (i == 0) {
            /* As the recorder does: a stack is described after the events that first use it. */
            stack(1, "accept_cb", "server.c", 42, 0);
            stack(2, "request_start", "request.c", 142, 0);
            stack(3, "request_start", "request.c", 150, 1);
            stack(4, "timer_fire", "timer.c", 7, 0);
        }
    }
    /* A timer from before the recording runs once and creates a WRITE (stack all libah). */
    ev(AHP_EV_BEFORE, t, 100, 900, TIMER, 0, 1);
    init(t + 100, 100, id, WRITE, 900, 5);
    ev(AHP_EV_BEFORE, t + 200, 100, id, WRITE, 0, 2);
    ev(AHP_EV_AFTER, t + 600, 100, id, WRITE, 0, 2);
    ev(AHP_EV_DESTROY, t + 700, 100, id, WRITE, 0, 0);
    ev(AHP_EV_AFTER, t + 2000, 100, 900, TIMER, 0, 1);
    stack(5, NULL, NULL, 0, 1);
    close_file(t + 100000);
}

static void gen_rearm(const char *path, long events)
{
    open_file(path);
    type(TIMER, "TIMER");
    uint64_t t = 2000000, id = 10;
    init(t, 100, id, TIMER, 1, 1);
    stack(1, "main", "server.c", 290, 0);
    long done = 1;
    for (; done + 4 <= events; done += 4, t += 1000, id++) {
        ev(AHP_EV_BEFORE, t + 10, 100, id, TIMER, 0, 1);
        init(t + 20, 100, id + 1, TIMER, id, 2);
        ev(AHP_EV_AFTER, t + 100, 100, id, TIMER, 0, 1);
        ev(AHP_EV_DESTROY, t + 110, 100, id, TIMER, 0, 0);
        if (done == 1)
            stack(2, "timer_rearm", "timer.c", 55, 0);
    }
    close_file(t + 1000);
}

static void gen_names(const char *path)
{
    static const char *const names[] = {"<script>alert(1)</script>",
                                        "quo\"te'd",
                                        "semi;colon 42",
                                        "new\nline",
                                        "esc\x1b[31mred\x1b[0m",
                                        "back\\slash",
                                        "caf\xc3\xa9 \xff",
                                        "",
                                        "]]></script><svg onload=alert(2)>"};
    open_file(path);
    int n = (int)(sizeof(names) / sizeof(names[0]));
    for (int i = 0; i < n; i++)
        type(i, names[i]);
    uint64_t t = 2000000;
    for (int i = 0; i < n; i++, t += 10000) {
        init(t, 100, 10 + (uint64_t)i, i, 1, i + 1);
        ev(AHP_EV_BEFORE, t + 100, 100, 10 + (uint64_t)i, i, 0, 1);
        ev(AHP_EV_AFTER, t + 1100, 100, 10 + (uint64_t)i, i, 0, 1);
    }
    if (use_stacks) {
        for (int i = 0; i < n; i++) {
            char file[64];
            snprintf(file, sizeof(file), "evil%d\";\n<b>.c", i);
            stack((uint32_t)(i + 1), i % 2 ? "<img src=x onerror=alert(3)>" : "f;g\x1b[2J 7", file,
                  (uint32_t)(10 + i), 0);
        }
    }
    close_file(t + 10000);
}

static void gen_deep(const char *path, long n)
{
    open_file(path);
    for (int i = 0; i < 256; i++) {
        char name[16];
        snprintf(name, sizeof(name), "T%d", i);
        type(i, name);
    }
    uint64_t t = 2000000;
    init(t, 100, 10, 0, 1, 1);
    for (long i = 0; i < n - 1; i++, t += 1000) {
        uint64_t id = 10 + (uint64_t)i;
        ev(AHP_EV_BEFORE, t + 100, 100, id, (int32_t)(i % 256), 0, 1);
        init(t + 150, 100, id + 1, (int32_t)((i + 1) % 256), id, (int)(i + 2));
        ev(AHP_EV_AFTER, t + 200, 100, id, (int32_t)(i % 256), 0, 1);
    }
    for (long i = 0; i < n && use_stacks; i++) {
        char func[32];
        snprintf(func, sizeof(func), "make_%ld", i);
        stack((uint32_t)(i + 1), func, "deep.c", (uint32_t)(i + 1), 0);
    }
    close_file(t + 1000);
}

static void gen_lost(const char *path)
{
    open_file(path);
    type(0, "A");
    type(1, "B");
    type(2, "C");
    type(3, "D");
    uint64_t t = 2000000;
    for (int i = 0; i < 4; i++)
        init(t + (uint64_t)i, 7, 20 + (uint64_t)i, i, 1, 0);
    ev(AHP_EV_BEFORE, t + 1000, 7, 20, 0, 0, 1);
    ev(AHP_EV_BEFORE, t + 2000, 7, 21, 1, 0, 2);
    ev(AHP_EV_AFTER, t + 5000, 7, 20, 0, 0, 1);  /* B's AFTER was lost */
    ev(AHP_EV_AFTER, t + 6000, 7, 99, 0, 0, 1);  /* Z: no BEFORE */
    ev(AHP_EV_BEFORE, t + 7000, 7, 22, 2, 0, 1); /* C: never closed */
    ev(AHP_EV_AFTER, t + 7500, 8, 98, 3, 0, 1);  /* Y: no BEFORE */
    ev(AHP_EV_BEFORE, t + 8000, 8, 23, 3, 0, 1);
    ev(AHP_EV_AFTER, t + 9000, 8, 23, 3, 0, 1);
    flush();
    int rc = ahp_writer_lost(w, 3);
    if (rc < 0)
        die("lost", rc);
    close_file(t + 20000);
}

int main(int argc, char **argv)
{
    const char *args[4] = {0};
    int na = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--stacks") == 0)
            use_stacks = 1;
        else if (na < 4)
            args[na++] = argv[i];
    }
    if (na < 2) {
        fprintf(stderr, "usage: flame-gen tree|rearm|names|deep|lost FILE [N] [--stacks]\n");
        return 2;
    }
    long n = na > 2 ? strtol(args[2], NULL, 10) : 10;
    if (strcmp(args[0], "tree") == 0)
        gen_tree(args[1], n);
    else if (strcmp(args[0], "rearm") == 0)
        gen_rearm(args[1], na > 2 ? n : 1000);
    else if (strcmp(args[0], "names") == 0)
        gen_names(args[1]);
    else if (strcmp(args[0], "deep") == 0)
        gen_deep(args[1], na > 2 ? n : 600);
    else if (strcmp(args[0], "lost") == 0)
        gen_lost(args[1]);
    else
        return 2;
    return 0;
}
