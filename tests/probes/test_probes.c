/*
 * test_probes.c - the contract of the "ah" USDT probes (docs/probes.md), checked for real.
 *
 * The ELF tests read the probe notes the way tracers do: each probe must be a 5-byte nop,
 * have its semaphore in ".probes" and carry the documented arguments. The tracing tests run
 * bpftrace against tests/probes/probe_target (linked with libah.a, and with libah.so) and
 * require the exact stream of events the target says it raised: same count, same order,
 * same arguments, same threads. Refused calls raise no event. They also read the semaphores
 * in the traced process's memory: 0 untraced, 1 while bpftrace is attached, 0 again after.
 */
#include <criterion/criterion.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

#ifndef PROBES_DIR
#error "PROBES_DIR must name the directory of the probe targets"
#endif
#ifndef LIBAH_SO
#error "LIBAH_SO must name build/libah.so"
#endif

#define TARGET_STATIC PROBES_DIR "/probe_target_static"
#define TARGET_SHARED PROBES_DIR "/probe_target_shared"

/* Generous: bpftrace compiles its script with LLVM before it attaches. */
#define TIMEOUT_MS 60000

/* The workload of probe_target.c, counted by hand: the test fails if it drifts. */
#define N_INIT 55
#define N_BEFORE 53
#define N_AFTER 53
#define N_DESTROY 55
#define N_RESOLVE 1

/* ---------------------------------------------------------------------------------------
 * Probe notes, read like a tracer (readelf -n) does.
 */

static const char *const probe_names[] = {"init", "before", "after", "destroy", "resolve", "batch"};
#define N_PROBES 6

/* Argument sizes from the notes ("8@..." unsigned 64-bit, "-4@..." signed 32-bit). */
static const int probe_arg_sizes[N_PROBES][6] = {
    {8, 8, -4, 8, 8, 0}, /* init: id, trigger_id, type, type_name, seq */
    {8, -4, 0},          /* before: id, type */
    {8, -4, 0},          /* after: id, type */
    {8, -4, 8, 0},       /* destroy: id, type, seq */
    {8, -4, 0},          /* resolve: id, type */
    {8, 4, 0},           /* batch: struct ahp_batch *, count */
};

/* A probe may have several sites (a compiler may duplicate one); they share the semaphore,
 * which the kernel raises once per attached site. */
#define MAX_SITES 8

struct probe {
    const char *name;
    int sites;
    uint64_t sem; /* link-time address, adjusted by .stapsdt.base like tracers do */
    uint64_t pc[MAX_SITES];
    unsigned char insn[MAX_SITES][5];
    char args[MAX_SITES][256];
};

struct elf_probes {
    struct probe p[N_PROBES];
    int ah_notes;         /* notes of provider "ah" */
    int unknown;          /* notes of provider "ah" with an undocumented name */
    uint64_t probes_addr; /* the .probes section */
    uint64_t probes_size;
    uint64_t first_load; /* p_vaddr of the first PT_LOAD, for the load bias */
};

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
    struct stat st;
    cr_assert_eq(fstat(fileno(f), &st), 0);
    unsigned char *buf = malloc((size_t)st.st_size + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
    fclose(f);
    buf[st.st_size] = 0;
    *len = (size_t)st.st_size;
    return buf;
}

static const Elf64_Shdr *find_section(const unsigned char *img, const char *name)
{
    const Elf64_Ehdr *eh = (const void *)img;
    const Elf64_Shdr *sh = (const void *)(img + eh->e_shoff);
    const char *names = (const char *)img + sh[eh->e_shstrndx].sh_offset;
    for (int i = 0; i < eh->e_shnum; i++) {
        if (strcmp(names + sh[i].sh_name, name) == 0)
            return &sh[i];
    }
    return NULL;
}

/* The bytes at link-time address ADDR, from the allocated section that holds it. */
static const unsigned char *bytes_at(const unsigned char *img, uint64_t addr, size_t n)
{
    const Elf64_Ehdr *eh = (const void *)img;
    const Elf64_Shdr *sh = (const void *)(img + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; i++) {
        if ((sh[i].sh_flags & SHF_ALLOC) && sh[i].sh_type == SHT_PROGBITS &&
            addr >= sh[i].sh_addr && addr + n <= sh[i].sh_addr + sh[i].sh_size)
            return img + sh[i].sh_offset + (addr - sh[i].sh_addr);
    }
    return NULL;
}

static void read_probes(const char *path, struct elf_probes *out)
{
    memset(out, 0, sizeof(*out));
    size_t len;
    unsigned char *img = slurp(path, &len);
    const Elf64_Ehdr *eh = (const void *)img;
    cr_assert(len > sizeof(*eh) && memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
                  eh->e_ident[EI_CLASS] == ELFCLASS64,
              "%s is not a 64-bit ELF file", path);

    const Elf64_Phdr *ph = (const void *)(img + eh->e_phoff);
    out->first_load = UINT64_MAX;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < out->first_load)
            out->first_load = ph[i].p_vaddr;
    }

    const Elf64_Shdr *probes = find_section(img, ".probes");
    if (probes) {
        out->probes_addr = probes->sh_addr;
        out->probes_size = probes->sh_size;
    }
    const Elf64_Shdr *base_sec = find_section(img, ".stapsdt.base");
    const Elf64_Shdr *notes = find_section(img, ".note.stapsdt");
    if (notes == NULL) {
        free(img);
        return;
    }
    for (size_t off = 0; off + sizeof(Elf64_Nhdr) <= notes->sh_size;) {
        const Elf64_Nhdr *nh = (const void *)(img + notes->sh_offset + off);
        const char *name = (const char *)(nh + 1);
        const unsigned char *desc = (const unsigned char *)name + ((nh->n_namesz + 3) & ~3u);
        off += sizeof(*nh) + ((nh->n_namesz + 3) & ~3u) + ((nh->n_descsz + 3) & ~3u);
        if (nh->n_type != 3 || strcmp(name, "stapsdt") != 0)
            continue;
        uint64_t a[3];
        memcpy(a, desc, sizeof(a));
        const char *provider = (const char *)desc + sizeof(a);
        const char *pname = provider + strlen(provider) + 1;
        const char *args = pname + strlen(pname) + 1;
        if (strcmp(provider, "ah") != 0)
            continue;
        out->ah_notes++;
        /* Tracers relocate by the difference between .stapsdt.base and the recorded base
         * (prelink); the semaphore moves with it. */
        uint64_t delta = base_sec ? base_sec->sh_addr - a[1] : 0;
        int i = 0;
        while (i < N_PROBES && strcmp(pname, probe_names[i]) != 0)
            i++;
        if (i == N_PROBES) {
            out->unknown++;
            continue;
        }
        struct probe *p = &out->p[i];
        cr_assert_lt(p->sites, MAX_SITES, "%s: too many sites of ah:%s", path, pname);
        uint64_t sem = a[2] ? a[2] + delta : 0;
        cr_assert(p->sites == 0 || p->sem == sem, "%s: sites of ah:%s have different semaphores",
                  path, pname);
        p->name = probe_names[i];
        p->sem = sem;
        int k = p->sites++;
        snprintf(p->args[k], sizeof(p->args[k]), "%s", args);
        p->pc[k] = a[0] + delta;
        const unsigned char *insn = bytes_at(img, p->pc[k], 5);
        cr_assert_not_null(insn, "%s: ah:%s at 0x%lx is in no section", path, pname,
                           (unsigned long)p->pc[k]);
        memcpy(p->insn[k], insn, 5);
    }
    free(img);
}

/* "8@%r15 8@8(%r12) -4@%r13d": the documented sizes in order, nothing more. */
static void check_args(const char *path, int probe, const char *spec)
{
    char args[256];
    snprintf(args, sizeof(args), "%s", spec);
    int n = 0;
    for (char *save, *tok = strtok_r(args, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        cr_assert(probe_arg_sizes[probe][n] != 0,
                  "%s: ah:%s has more arguments than documented: %s", path, probe_names[probe],
                  spec);
        cr_assert_eq(atoi(tok), probe_arg_sizes[probe][n],
                     "%s: argument %d of ah:%s is \"%s\", want size %d", path, n,
                     probe_names[probe], tok, probe_arg_sizes[probe][n]);
        n++;
    }
    cr_assert_eq(probe_arg_sizes[probe][n], 0, "%s: ah:%s has %d arguments: %s", path,
                 probe_names[probe], n, spec);
}

/* Checks every tracer relies on, for a file that holds the probes. */
static void check_probe_notes(const char *path)
{
    struct elf_probes ep;
    read_probes(path, &ep);
    cr_assert_eq(ep.unknown, 0, "%s: %d undocumented probes of provider ah", path, ep.unknown);
    cr_assert_neq(ep.probes_size, 0, "%s: no .probes section", path);
    static const unsigned char nop5[5] = {0x0f, 0x1f, 0x44, 0x00, 0x00};
    for (int i = 0; i < N_PROBES; i++) {
        const struct probe *p = &ep.p[i];
        cr_assert_gt(p->sites, 0, "%s: no probe ah:%s", path, probe_names[i]);
        cr_assert_neq(p->sem, 0, "%s: ah:%s has no semaphore", path, p->name);
        cr_assert(p->sem >= ep.probes_addr && p->sem + 2 <= ep.probes_addr + ep.probes_size &&
                      p->sem % 2 == 0,
                  "%s: semaphore of ah:%s (0x%lx) is not a short in .probes", path, p->name,
                  (unsigned long)p->sem);
        for (int j = 0; j < i; j++)
            cr_assert_neq(p->sem, ep.p[j].sem, "%s: ah:%s and ah:%s share a semaphore", path,
                          p->name, ep.p[j].name);
        for (int k = 0; k < p->sites; k++) {
            const unsigned char *b = p->insn[k];
            cr_assert(memcmp(b, nop5, 5) == 0,
                      "%s: ah:%s at 0x%lx is %02x %02x %02x %02x %02x, not a 5-byte nop", path,
                      p->name, (unsigned long)p->pc[k], b[0], b[1], b[2], b[3], b[4]);
            check_args(path, i, p->args[k]);
        }
    }
}

Test(probe_notes, static_executable_has_nop5_probes_with_semaphores)
{
    check_probe_notes(TARGET_STATIC);
}

Test(probe_notes, shared_library_has_nop5_probes_with_semaphores)
{
    check_probe_notes(LIBAH_SO);
}

/* The probes live inside libah: a program linked with libah.so carries none of its own. */
Test(probe_notes, program_linked_with_libah_so_has_no_probes)
{
    struct elf_probes ep;
    read_probes(TARGET_SHARED, &ep);
    cr_assert_eq(ep.ah_notes, 0, "%s has %d ah probes", TARGET_SHARED, ep.ah_notes);
}

/* ---------------------------------------------------------------------------------------
 * Processes
 */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A growing text buffer fed from a pipe. */
struct text {
    char *s;
    size_t len, cap;
    int eof;
};

/* Read what FD has within WAIT_MS (0: only what is there). */
static void pump(int fd, struct text *t, int wait_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (!t->eof && poll(&pfd, 1, wait_ms) > 0) {
        if (t->cap - t->len < 4097) {
            t->cap = t->cap ? t->cap * 2 : 16384;
            t->s = realloc(t->s, t->cap);
            cr_assert_not_null(t->s);
        }
        ssize_t n = read(fd, t->s + t->len, t->cap - t->len - 1);
        if (n <= 0) {
            t->eof = 1;
            break;
        }
        t->len += (size_t)n;
        t->s[t->len] = 0;
        wait_ms = 0;
    }
}

/* Pump FD until LINE (a whole line) appears or the timeout expires. */
static int wait_for_line(int fd, struct text *t, const char *line, long timeout_ms)
{
    long end = now_ms() + timeout_ms;
    size_t n = strlen(line);
    for (;;) {
        for (const char *p = t->s; p && (p = strstr(p, line)); p++) {
            if ((p == t->s || p[-1] == '\n') && p[n] == '\n')
                return 1;
        }
        if (t->eof || now_ms() > end)
            return 0;
        pump(fd, t, 50);
    }
}

/* Lines of bpftrace's output that are events: "NSECS EVENT ARGS...". */
static int count_events(const struct text *t)
{
    int n = 0;
    for (const char *p = t->s; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (*p >= '0' && *p <= '9')
            n++;
    }
    return n;
}

/* Read to the end, so that files of /proc (which have no size) work too. */
static char *file_text(const char *path)
{
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
    struct text t = {0};
    pump(fd, &t, 0);
    close(fd);
    return t.s ? t.s : strdup("");
}

static void write_all(int fd, const char *s)
{
    size_t len = strlen(s);
    cr_assert_eq(write(fd, s, len), (ssize_t)len, "write: %s", strerror(errno));
}

/* ---------------------------------------------------------------------------------------
 * Semaphores in a live process
 */

/* Where the file PATH (resolved) is mapped in PID, minus its first PT_LOAD address. */
static uint64_t load_bias(pid_t pid, const char *path, uint64_t first_load)
{
    char real[PATH_MAX], maps[64], line[PATH_MAX + 128];
    cr_assert_not_null(realpath(path, real));
    snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
    FILE *f = fopen(maps, "r");
    cr_assert_not_null(f);
    uint64_t bias = UINT64_MAX;
    while (fgets(line, sizeof(line), f)) {
        unsigned long start, offset;
        char file[PATH_MAX];
        if (sscanf(line, "%lx-%*x %*s %lx %*s %*s %4095s", &start, &offset, file) == 3 &&
            offset == 0 && strcmp(file, real) == 0) {
            bias = start - (first_load & ~0xfffull);
            break;
        }
    }
    fclose(f);
    cr_assert_neq(bias, UINT64_MAX, "%s is not mapped in process %d", real, (int)pid);
    return bias;
}

static void read_semaphores(pid_t pid, const struct elf_probes *ep, uint64_t bias,
                            unsigned short out[N_PROBES])
{
    char mem[64];
    snprintf(mem, sizeof(mem), "/proc/%d/mem", (int)pid);
    int fd = open(mem, O_RDONLY);
    cr_assert_geq(fd, 0, "open %s: %s", mem, strerror(errno));
    for (int i = 0; i < N_PROBES; i++) {
        ssize_t n = pread(fd, &out[i], sizeof(out[i]), (off_t)(ep->p[i].sem + bias));
        cr_assert_eq(n, (ssize_t)sizeof(out[i]), "read semaphore of ah:%s: %s", ep->p[i].name,
                     strerror(errno));
    }
    close(fd);
}

/* Untraced (ATTACHED 0) every semaphore is 0; traced by the bpftrace script, which uses the
 * per-event probes, the kernel adds 1 per attached site to theirs, and ah:batch (the last
 * probe) stays 0: a per-event tracer never turns libah's buffering on. */
static int semaphores_are(const unsigned short s[N_PROBES], const struct elf_probes *ep,
                          int attached)
{
    for (int i = 0; i < N_PROBES; i++) {
        int per_event = i < N_PROBES - 1;
        if (s[i] != (attached && per_event ? ep->p[i].sites : 0))
            return 0;
    }
    return 1;
}

static int maps_contain(pid_t pid, const char *what)
{
    char maps[64];
    snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
    char *text = file_text(maps);
    int found = strstr(text, what) != NULL;
    free(text);
    return found;
}

/* ---------------------------------------------------------------------------------------
 * bpftrace
 */

/* One printf per event, first the time so that events read from several per-CPU buffers can
 * be put back in the order they happened. The fields after it are what probe_target prints. */
static char *write_script(const char *probe_file)
{
    static char path[] = "/tmp/ah-probes-XXXXXX.bt";
    char *p = strdup(path);
    int fd = mkstemps(p, 3);
    cr_assert_geq(fd, 0, "mkstemps: %s", strerror(errno));
    FILE *f = fdopen(fd, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "usdt:%1$s:ah:init { printf(\"%%llu init %%d %%llu %%llu %%d %%s %%llu\\n\", nsecs, "
            "tid, arg0, arg1, arg2, str(arg3), arg4); }\n"
            "usdt:%1$s:ah:before { printf(\"%%llu before %%d %%llu %%d\\n\", nsecs, tid, arg0, "
            "arg1); }\n"
            "usdt:%1$s:ah:after { printf(\"%%llu after %%d %%llu %%d\\n\", nsecs, tid, arg0, "
            "arg1); }\n"
            "usdt:%1$s:ah:destroy { printf(\"%%llu destroy %%d %%llu %%d %%llu\\n\", nsecs, tid, "
            "arg0, arg1, arg2); }\n"
            "usdt:%1$s:ah:resolve { printf(\"%%llu resolve %%d %%llu %%d\\n\", nsecs, tid, arg0, "
            "arg1); }\n",
            probe_file);
    cr_assert_eq(fclose(f), 0);
    return p;
}

struct event_line {
    unsigned long long ts;
    const char *text; /* without the time */
    size_t len;
};

static int by_time(const void *a, const void *b)
{
    const struct event_line *x = a, *y = b;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* bpftrace's events, in time order, without their timestamps. */
static char *events_in_order(const char *out)
{
    size_t cap = 1024, n = 0;
    struct event_line *ev = calloc(cap, sizeof(*ev));
    for (const char *p = out; p && *p;) {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);
        if (*p >= '0' && *p <= '9') {
            char *sp;
            unsigned long long ts = strtoull(p, &sp, 10);
            cr_assert(*sp == ' ', "unexpected bpftrace line: %.*s", (int)(end - p), p);
            if (n == cap)
                ev = realloc(ev, (cap *= 2) * sizeof(*ev));
            ev[n++] = (struct event_line){ts, sp + 1, (size_t)(end - sp)};
        }
        p = nl ? nl + 1 : NULL;
    }
    qsort(ev, n, sizeof(*ev), by_time);
    for (size_t i = 1; i < n; i++)
        cr_assert_neq(ev[i].ts, ev[i - 1].ts, "two events at the same nanosecond");
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += ev[i].len;
    char *s = malloc(total), *w = s;
    for (size_t i = 0; i < n; i++) {
        memcpy(w, ev[i].text, ev[i].len - 1);
        w += ev[i].len - 1;
        *w++ = '\n';
    }
    *w = 0;
    free(ev);
    return s;
}

static int count_kind(const char *lines, const char *kind)
{
    int n = 0;
    size_t k = strlen(kind);
    for (const char *p = lines; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, kind, k) == 0 && p[k] == ' ')
            n++;
    }
    return n;
}

/* The traced stream must be the expected one, line for line. */
static void compare_events(const char *expected, const char *bpftrace_out)
{
    cr_assert_eq(count_kind(expected, "init"), N_INIT);
    cr_assert_eq(count_kind(expected, "before"), N_BEFORE);
    cr_assert_eq(count_kind(expected, "after"), N_AFTER);
    cr_assert_eq(count_kind(expected, "destroy"), N_DESTROY);
    cr_assert_eq(count_kind(expected, "resolve"), N_RESOLVE);

    char *got = events_in_order(bpftrace_out);
    static const char *const kinds[] = {"init", "before", "after", "destroy", "resolve"};
    for (int i = 0; i < 5; i++)
        cr_expect_eq(count_kind(got, kinds[i]), count_kind(expected, kinds[i]),
                     "ah:%s fired %d times, want %d", kinds[i], count_kind(got, kinds[i]),
                     count_kind(expected, kinds[i]));

    const char *e = expected, *g = got;
    for (int line = 1; *e || *g; line++) {
        size_t el = strcspn(e, "\n"), gl = strcspn(g, "\n");
        cr_assert(el == gl && memcmp(e, g, el) == 0,
                  "event %d: bpftrace saw \"%.*s\", the target raised \"%.*s\"", line, (int)gl, g,
                  (int)el, e);
        e += el + (e[el] == '\n');
        g += gl + (g[gl] == '\n');
    }
    free(got);
}

static void require_root(void)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to run bpftrace");
}

/*
 * Attach by pid: the target is started, waits, bpftrace attaches, the target raises its events
 * and waits again while the test looks at the traced process, then bpftrace is stopped.
 * PROBE_FILE holds the probes: the executable itself, or libah.so for the shared variant.
 */
static void run_attached(const char *target, const char *probe_file)
{
    require_root();
    struct elf_probes ep;
    read_probes(probe_file, &ep);
    check_probe_notes(probe_file);

    char *targv[] = {(char *)target, "--wait", NULL};
    struct proc tp;
    proc_start(&tp, targv);
    pid_t tpid = tp.pid;

    struct text tout = {0}, bt = {0};
    char ready[64];
    snprintf(ready, sizeof(ready), "ready %d", (int)tpid);
    cr_assert(wait_for_line(tp.out_fd, &tout, ready, TIMEOUT_MS), "target did not start: %s",
              tout.s ? tout.s : "");

    uint64_t bias = load_bias(tpid, probe_file, ep.first_load);
    unsigned short sem[N_PROBES];
    read_semaphores(tpid, &ep, bias, sem);
    cr_assert(semaphores_are(sem, &ep, 0), "untraced semaphores are %u %u %u %u %u", sem[0], sem[1],
              sem[2], sem[3], sem[4]);

    char *script = write_script(probe_file);
    char pidstr[16];
    snprintf(pidstr, sizeof(pidstr), "%d", (int)tpid);
    char *bargv[] = {"bpftrace", "-p", pidstr, script, NULL};
    struct proc bp;
    proc_start(&bp, bargv);

    /* Attached means: the kernel raised every semaphore in the target. */
    long end = now_ms() + TIMEOUT_MS;
    for (;;) {
        read_semaphores(tpid, &ep, bias, sem);
        if (semaphores_are(sem, &ep, 1))
            break;
        int code;
        if (proc_exited(&bp, &code) || now_ms() > end) {
            char *err = proc_read_all(bp.err_fd, 1000);
            cr_assert_fail("bpftrace did not attach (semaphores %u %u %u %u %u %u): %s", sem[0],
                           sem[1], sem[2], sem[3], sem[4], sem[5], err);
        }
        pump(bp.out_fd, &bt, 20);
    }

    write_all(tp.in_fd, "go\n");
    cr_assert(wait_for_line(tp.out_fd, &tout, "done", TIMEOUT_MS), "target did not finish: %s",
              tout.s);
    char *expected = strstr(tout.s, ready) + strlen(ready) + 1;
    *strstr(expected, "done\n") = 0;
    int want = count_kind(expected, "init") + count_kind(expected, "before") +
               count_kind(expected, "after") + count_kind(expected, "destroy") +
               count_kind(expected, "resolve");

    end = now_ms() + TIMEOUT_MS;
    while (count_events(&bt) < want && !bt.eof && now_ms() < end)
        pump(bp.out_fd, &bt, 50);

    /* The kernel's nop5 optimisation turns hit probes into jumps into this page. */
    cr_expect(maps_contain(tpid, "[uprobes-trampoline]"),
              "the traced target maps no [uprobes-trampoline]: probes run as int3 traps");

    /* Bounded: a bpftrace that never detaches fails here with its stderr, not at the test's
     * timeout with nothing said. */
    kill(bp.pid, SIGINT);
    end = now_ms() + TIMEOUT_MS;
    while (!bt.eof && now_ms() < end)
        pump(bp.out_fd, &bt, 1000);
    if (!bt.eof) {
        kill(bp.pid, SIGKILL);
        char *err = proc_read_all(bp.err_fd, 1000);
        cr_assert_fail("bpftrace did not exit within %d ms of SIGINT: %s", TIMEOUT_MS, err);
    }
    int code = proc_wait(&bp, TIMEOUT_MS);
    cr_expect_eq(code, 0, "bpftrace exit code %d (128+N: signal N)", code);

    read_semaphores(tpid, &ep, bias, sem);
    cr_expect(semaphores_are(sem, &ep, 0), "semaphores after detach are %u %u %u %u %u", sem[0],
              sem[1], sem[2], sem[3], sem[4]);

    write_all(tp.in_fd, "exit\n");
    close(tp.in_fd);
    tp.in_fd = -1;
    code = proc_wait(&tp, TIMEOUT_MS);
    cr_assert_eq(code, 0, "target exit code %d (128+N: signal N)", code);

    compare_events(expected, bt.s ? bt.s : "");

    unlink(script);
    free(script);
    free(tout.s);
    free(bt.s);
}

Test(probe_contract, bpftrace_by_pid_static_executable, .timeout = 180)
{
    run_attached(TARGET_STATIC, TARGET_STATIC);
}

Test(probe_contract, bpftrace_by_pid_shared_library, .timeout = 180)
{
    run_attached(TARGET_SHARED, LIBAH_SO);
}

/*
 * Launch mode: bpftrace starts the target and attaches before it runs, so every event is seen.
 * Only the static variant: bpftrace 0.17 resolves USDT probes of a -c child through its
 * memory map, where libah.so is not loaded yet ("Error finding location for probe").
 */
Test(probe_contract, bpftrace_launches_static_executable, .timeout = 180)
{
    require_root();
    char *script = write_script(TARGET_STATIC);
    char expath[] = "/tmp/ah-probes-expected-XXXXXX";
    int exfd = mkstemp(expath);
    cr_assert_geq(exfd, 0);
    close(exfd);
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof(cmd), "%s --out %s", TARGET_STATIC, expath);

    char *bargv[] = {"bpftrace", "-c", cmd, script, NULL};
    char *out, *err;
    int code = run_capture(bargv, &out, &err, TIMEOUT_MS);
    cr_assert_eq(code, 0, "bpftrace exit code %d (128+N: signal N): %s", code, err);

    char *expected = file_text(expath);
    compare_events(expected, out);

    unlink(script);
    unlink(expath);
    free(script);
    free(expected);
    free(err);
    free(out);
}
