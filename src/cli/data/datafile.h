/*
 * datafile.h - the ahprof.data file: what `ahprof record` writes and `ahprof report` (and any
 * other consumer, e.g. the flame graph exporters) reads. The byte layout is specified in
 * docs/file-format.md; this is the C API over it (codec.c holds the layout, writer.c and
 * reader.c the I/O).
 *
 * The file is a sequence of self-checking chunks, so a recording cut off by a crash stays
 * readable up to its last complete chunk. Everything the reader hands out comes from a file
 * that may be hostile: strings are bounded and NUL-terminated but otherwise arbitrary bytes
 * (escape them for their output), type ids in events are not range-checked, and counts may
 * be inconsistent.
 */
#ifndef AHP_DATAFILE_H
#define AHP_DATAFILE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ahprof.h"

#define AHP_FILE_DEFAULT "ahprof.data"

/* Format version this code writes; it reads every version up to this major (1.x files have
 * fixed-size EVENTS records, 2.x files PACKED ones). */
#define AHP_FILE_MAJOR 2
#define AHP_FILE_MINOR 1

/* Chunk types (docs/file-format.md). Readers skip types they do not know. */
enum ahp_chunk_type {
    AHP_CHUNK_INFO = 1,
    AHP_CHUNK_TYPE = 2,
    AHP_CHUNK_SNAPSHOT = 3,
    AHP_CHUNK_EVENTS = 4,
    AHP_CHUNK_LOST = 5,
    AHP_CHUNK_END = 6,
    AHP_CHUNK_STACK = 7,     /* 1.1: a symbolized user stack (record --stacks) */
    AHP_CHUNK_COUNTERS = 8,  /* 1.1: the in-kernel per-type counters at the end */
    AHP_CHUNK_EXIT = 9,      /* how the target ended (exit status or signal) */
    AHP_CHUNK_EXEC = 10,     /* the target ran exec(): the recording stopped there */
    AHP_CHUNK_PACKED = 11,   /* 2.0: events, packed (varints, deltas), optionally zlib'ed */
    AHP_CHUNK_KINFO = 12,    /* 2.1: the kernel view's settings and losses (record --cpu) */
    AHP_CHUNK_KRECORDS = 13, /* 2.1: CPU samples and off-CPU episodes (record --cpu) */
    AHP_CHUNK_KSTACK = 14,   /* 2.1: one symbolized native stack the kernel records name */
    AHP_CHUNK_KSTATS = 15,   /* 2.1: the kernel view's per-slot aggregates (run-queue delay) */
};
#define AHP_CHUNK_FIRST AHP_CHUNK_INFO
#define AHP_CHUNK_LAST AHP_CHUNK_KSTATS

/* One frame of a symbolized user stack; strings are untrusted (they come from the target's
 * symbol tables), bounded and NUL-terminated; empty when unknown. */
#define AHP_STACK_FRAMES_MAX 64
#define AHP_SYM_SIZE 128
struct ahp_stack_frame {
    uint64_t ip;
    uint32_t line; /* 0 when unknown */
    char func[AHP_SYM_SIZE];
    char file[AHP_SYM_SIZE]; /* source file (basename) or, without DWARF, the ELF file */
};

/* Exact per-type totals counted in BPF: true even when ring-buffer records were lost. */
struct ahp_type_counters {
    uint64_t created, destroyed, resolved, callbacks, callback_ns, exclusive_ns;
    int64_t active; /* alive at the end, resources from before the attach included */
};

/* The kernel's view of the target (record --cpu, docs/kernel-view.md): what it was set to
 * and what it lost. The largest values of any KINFO chunk count. */
struct ahp_kinfo {
    uint32_t hz;             /* samples per second per CPU; 0: no sampling */
    uint32_t flags;          /* AHP_KINFO_F_* */
    uint64_t lost_records;   /* records the ring buffer had no room for */
    uint64_t stack_errors;   /* stacks that could not be captured */
    uint64_t stacks_dropped; /* distinct stacks beyond what the recorder keeps: written as none */
};
#define AHP_KINFO_F_OFFCPU_STACKS 1u /* off-CPU episodes carry their stacks (--stacks) */

/* The kernel view's aggregates of one slot since the attach (record --cpu, KSTATS chunk):
 * counted in the kernel for every switch, so exact whatever the ring buffer lost. Untrusted:
 * runq_count need not match the histogram's sum. */
struct ahp_kstats_slot {
    uint64_t runq_count;                    /* run-queue waits: wakeup (or preemption) to running */
    uint64_t runq_wait_ns;                  /* their sum */
    uint64_t runq_hist[AHP_HIST_SLOTS];     /* log2 ns of each wait: [2^i, 2^(i+1)) */
    uint64_t runq_ns;                       /* of blocked_ns, the time from wakeup to running */
    uint64_t blocked_ns, blocked_count;     /* off-CPU inside callbacks, not runnable */
    uint64_t preempted_ns, preempted_count; /* off-CPU inside callbacks, runnable */
};
/* Slots of the aggregates: the types, then these two. */
#define AHP_KSTATS_OUTSIDE AHP_TYPE_MAX        /* a libah thread outside any callback */
#define AHP_KSTATS_UNTAGGED (AHP_TYPE_MAX + 1) /* a thread whose libah state was unreadable */
#define AHP_KSTATS_SLOTS (AHP_TYPE_MAX + 2)

/* The P-th permille of a slot's run-queue waits, ns: the upper bound of the log2 bucket that
 * holds it (so within a factor of 2), from the histogram alone; 0 when it is empty. */
uint64_t ahp_kstats_runq_percentile(const struct ahp_kstats_slot *s, unsigned permille);

/* A kernel record's slot when it is not a type (>= 0). */
#define AHP_KREC_OUTSIDE (-1)  /* a libah thread outside any callback */
#define AHP_KREC_UNTAGGED (-2) /* a thread whose libah state could not be read */

/* Kinds of kernel record. */
#define AHP_KREC_CPU 1    /* a CPU sample */
#define AHP_KREC_OFFCPU 2 /* an off-CPU episode inside a callback, once it ended */

/* Off-CPU reasons beyond system call numbers (>= 0, x86-64 numbering). */
#define AHP_KREC_PREEMPTED (-1) /* switched out while runnable */
#define AHP_KREC_FAULT (-2)     /* blocked outside a system call (a page fault...) */

/* One CPU sample or off-CPU episode. Fields are untrusted: slot, reason, kind and stack are
 * not range-checked by the reader. */
struct ahp_krecord {
    uint64_t ts_ns;  /* CLOCK_MONOTONIC: the sample, or the switch-out */
    uint64_t dur_ns; /* off-CPU: switch-out to switch-in; 0 for a sample */
    uint64_t id;     /* the async id in scope (innermost), 0 outside callbacks */
    uint32_t tid;
    int32_t slot;   /* the type in scope, or AHP_KREC_OUTSIDE / AHP_KREC_UNTAGGED */
    int32_t reason; /* off-CPU: a syscall number or AHP_KREC_PREEMPTED / _FAULT */
    uint32_t stack; /* a KSTACK chunk's id + 1; 0: none */
    uint16_t kind;  /* AHP_KREC_CPU, AHP_KREC_OFFCPU; others: skip */
    uint16_t depth; /* callbacks nested on the thread (saturated) */
};

/* "read", "futex", "preempted", "fault", or "syscall#N": the reason of an off-CPU record. */
const char *ahp_krecord_reason_name(int32_t reason, char buf[32]);

/* A native stack of kernel records: frames are symbol names (kernel ones end in "_[k]"),
 * innermost first, the NKERNEL kernel frames before the user frames. Untrusted bytes. */
#define AHP_KSTACK_FILE_FRAMES 160
#define AHP_KFRAME_SIZE 128

/* A chunk payload larger than this is treated as corruption (the writer stays far below). */
#define AHP_CHUNK_MAX (16u << 20)

/* Error codes of ahp_reader_open() beyond open(2)'s own (-ENOENT, -EACCES, -EISDIR...). */
#define AHP_E_NOT_AHPROF (-EBADMSG)    /* not an ahprof data file (or its header is bad) */
#define AHP_E_NEWER (-EPROTONOSUPPORT) /* written by a newer, incompatible ahprof */

/* ---------------------------------------------------------------------------------------
 * Writer
 */

struct ahp_file_info {
    uint32_t pid;
    char comm[16];
    char target[256];
    uint64_t start_mono_ns; /* CLOCK_MONOTONIC, the clock of ahp_event.ts_ns */
    uint64_t start_real_ns; /* CLOCK_REALTIME at the same instant */
};

struct ahp_writer;

/*
 * Create (or truncate) PATH, mode 0600 like perf.data since it describes another process,
 * and write the file header and an info chunk (INFO plus this ahprof's version and the host
 * name). On success *W owns the file. Negative errno on failure (nothing to close then).
 */
int ahp_writer_open(struct ahp_writer **w, const char *path, const struct ahp_file_info *info);

/* Record that TYPE (0..AHP_TYPE_MAX-1) is called NAME (copied, at most 63 bytes kept). */
int ahp_writer_type(struct ahp_writer *w, int32_t type, const char *name);

/* The live count per type read from the target at attach time; LIVE[0..NTYPES). NTYPES is
 * at most AHP_TYPE_MAX. Write it once, before the events it relates to (AHP_F_IN_SNAPSHOT). */
int ahp_writer_snapshot(struct ahp_writer *w, const int64_t *live, uint32_t ntypes);

/* Append events. Buffered: a packed events chunk is written every 4096 events, or at 64 KiB
 * of packed records (about 3.5 to 7 bytes per event). */
int ahp_writer_events(struct ahp_writer *w, const struct ahp_event *ev, size_t n);
/* The same for the events before the first whose type is not KNOWN[type] (a type outside the
 * table is not known): how many were appended, or a negative errno. One pass over the events
 * for a caller that writes each type's chunk before the type's first event. */
long ahp_writer_events_known(struct ahp_writer *w, const struct ahp_event *ev, size_t n,
                             const bool known[AHP_TYPE_MAX]);

/* Write every AFTER event from now on as if its exclusive_ns were 0: the BPF side's figure is
 * informational (readers compute their own from BEFORE and AFTER), and without it an AFTER
 * packs in 3 or 4 bytes, not 6 or 7. -EINVAL. */
int ahp_writer_drop_exclusive(struct ahp_writer *w);

/* Compress the events chunks written from now on with zlib at LEVEL (1..9; 0: off, the
 * default). A chunk zlib does not shrink is written plain. -ENOMEM, -EINVAL. */
int ahp_writer_compress(struct ahp_writer *w, int level);

/* The cumulative number of events lost so far. Written at this point of the stream. */
int ahp_writer_lost(struct ahp_writer *w, uint64_t lost_total);
/* The same, read from the kernel at AS_OF_NS (CLOCK_MONOTONIC): every event lost so far
 * happened before it, so that a reader knows which resources may have lost their destroy. */
int ahp_writer_lost_at(struct ahp_writer *w, uint64_t lost_total, uint64_t as_of_ns);

/* Write the buffered events to the file (no fsync) and start its writeback to disk without
 * waiting for it. After it a crash of the process loses nothing written. */
int ahp_writer_flush(struct ahp_writer *w);

/* The user stack STACK_ID (INIT events carry it + 1 in stack_ref, src/contracts/ahprof.h),
 * innermost frame first; at most AHP_STACK_FRAMES_MAX frames are kept. */
int ahp_writer_stack(struct ahp_writer *w, uint32_t stack_id, const struct ahp_stack_frame *frames,
                     uint32_t n);

/* The in-kernel counters of every type, COUNTERS[0..AHP_TYPE_MAX), once, before closing. */
int ahp_writer_counters(struct ahp_writer *w, const struct ahp_type_counters *counters);

/* The kernel view's settings and losses so far (record --cpu): once at the start, again
 * whenever a loss grows, and at the end. */
int ahp_writer_kinfo(struct ahp_writer *w, const struct ahp_kinfo *k);
/* Append kernel records: buffered, a chunk every 1024 records (and at every flush). */
int ahp_writer_krecords(struct ahp_writer *w, const struct ahp_krecord *r, size_t n);
/* The native stack ID (records carry ID + 1): FRAMES[0..N) innermost first, the first
 * NKERNEL of them the kernel's; at most AHP_KSTACK_FILE_FRAMES kept, names cut at
 * AHP_KFRAME_SIZE - 1 bytes. Written at once: before the records that name it. */
int ahp_writer_kstack(struct ahp_writer *w, uint32_t id, const char *const *frames, uint32_t n,
                      uint32_t nkernel);

/* The kernel view's aggregates since the attach, SLOTS[0..AHP_KSTATS_SLOTS) (empty slots are
 * not written), read at AS_OF_NS (CLOCK_MONOTONIC). Each chunk supersedes the ones before it:
 * write it now and then, and at the end. */
int ahp_writer_kstats(struct ahp_writer *w, uint64_t as_of_ns,
                      const struct ahp_kstats_slot slots[AHP_KSTATS_SLOTS]);

/* How the target ended (an exit chunk). */
enum ahp_exit_how {
    AHP_EXIT_HOW_EXITED = 1, /* code: its exit status */
    AHP_EXIT_HOW_SIGNAL = 2, /* code: the signal that killed it */
};
int ahp_writer_exit(struct ahp_writer *w, enum ahp_exit_how how, uint32_t code, bool core_dumped,
                    uint64_t exit_mono_ns);

/* "exited with status 3", "killed by SIGSEGV (core dumped)": how a target ended, in BUF. */
const char *ahp_exit_describe(uint32_t how, uint32_t code, bool core_dumped, char *buf,
                              size_t size);

/* The signal's name ("SIGSEGV"), or "signal N" for one without a name, in BUF. */
const char *ahp_signal_name(uint32_t sig, char *buf, size_t size);

/* The target replaced its program with PATH (exec) at EXEC_MONO_NS: nothing after it is
 * recorded, since the new program's types are not the ones this file names. */
int ahp_writer_exec(struct ahp_writer *w, uint64_t exec_mono_ns, const char *path);

/* Records the collector's decoder dropped because they were handed over a second time
 * (struct ahp_decoder.resent_records): written in the end chunk at close; 0 when not called. */
int ahp_writer_resent(struct ahp_writer *w, uint64_t resent_records);

/* Flush, write the end chunk (clean-close marker), fsync and close. W is freed even when an
 * error is returned. */
int ahp_writer_close(struct ahp_writer *w, uint64_t end_mono_ns, uint64_t lost_total);

/* Every call after a failed write returns that first error again (the file is unusable). */

/* ---------------------------------------------------------------------------------------
 * Reader
 */

/* What ahp_reader_open() learnt from the whole file (all chunks, in one pass over the chunk
 * headers). Strings are NUL-terminated, untrusted bytes. */
struct ahp_file_meta {
    uint16_t version_major, version_minor;
    bool has_info;
    struct ahp_file_info info;
    char ahprof_version[32];
    char host[64];

    /* Type table: names[t] is valid when named[t]. */
    bool named[AHP_TYPE_MAX];
    char names[AHP_TYPE_MAX][AHP_NAME_SIZE];

    /* Live count per type at attach; zeros when !has_snapshot. The first snapshot counts. */
    bool has_snapshot;
    uint32_t snapshot_ntypes;
    int64_t snapshot[AHP_TYPE_MAX];

    /* In-kernel counters (exact even when events were lost); zeros when !has_counters. */
    bool has_counters;
    struct ahp_type_counters counters[AHP_TYPE_MAX];
    uint64_t stacks; /* stack chunks */

    /* The kernel view (record --cpu): has_kernel when a KINFO chunk was read. */
    bool has_kernel;
    struct ahp_kinfo kinfo;
    uint64_t krecords; /* records declared by the KRECORDS chunks */
    uint64_t kstacks;  /* KSTACK chunks */
    /* The kernel view's aggregates (KSTATS): the last usable chunk; zeros without one. */
    bool has_kstats;
    uint64_t kstats_as_of_ns;
    struct ahp_kstats_slot kstats[AHP_KSTATS_SLOTS];

    /* Exit chunk: how the target ended, when the recording saw it end. */
    bool has_exit;
    uint32_t exit_how; /* enum ahp_exit_how; other values: unknown */
    uint32_t exit_code;
    bool exit_core_dumped;
    uint64_t exit_mono_ns;
    /* Exec chunk: the target ran exec() and the recording stopped there (the first counts). */
    bool has_exec;
    uint64_t exec_mono_ns;
    char exec_path[256];
    /* Lost events: the largest cumulative value of any lost or end chunk. */
    uint64_t lost_events;
    /* Every lost event happened at or before this CLOCK_MONOTONIC time: the last time a lost
     * chunk (or the end chunk) said the count grew. 0 when nothing was lost, UINT64_MAX when
     * the file does not say when (a 1.x file). */
    uint64_t lost_until_ns;

    /* End chunk: present only when the recording was closed. */
    bool has_end;
    bool clean_end; /* end chunk with the clean-close flag */
    uint64_t end_mono_ns;
    uint64_t end_events; /* events the writer says it wrote (end chunk) */
    /* Records handed over twice and written once (end chunk); has_resent_records false and
     * resent_records 0 when the file does not say (no end chunk, or an older ahprof's). */
    bool has_resent_records;
    uint64_t resent_records;

    /* Integrity. A file is "truncated" when it has no end chunk: the recorder stopped
     * before closing it (crash, kill -9, full disk) or the tail is damaged. Everything
     * before the first incomplete or damaged chunk is still read. */
    bool truncated;
    uint64_t file_size;
    uint64_t data_end;       /* offset just past the last usable chunk */
    uint64_t trailing_bytes; /* file_size - data_end: a torn chunk or garbage */
    uint64_t chunks;         /* complete chunks before data_end (damaged payloads included) */
    uint64_t events;         /* events declared by the usable events chunks */
    uint64_t unknown_chunks; /* chunk types from a newer minor version, skipped */
    /* Chunks whose payload is damaged (CRC) or malformed: skipped. Counted at open for
     * metadata chunks; events chunks are checked while iterating, so this grows then. */
    uint64_t bad_chunks;
};

struct ahp_reader;

/*
 * Open PATH and scan its chunk headers. Errors: open(2)'s (-ENOENT, -EACCES...), -EISDIR,
 * AHP_E_NOT_AHPROF (-EBADMSG) when it is not an ahprof file (wrong magic, empty, bad header),
 * AHP_E_NEWER (-EPROTONOSUPPORT) for a major format version above AHP_FILE_MAJOR, -ENOMEM.
 * A truncated file is not an error: meta->truncated says it.
 */
int ahp_reader_open(struct ahp_reader **r, const char *path);

/* The same on an open descriptor, which the reader then owns (closed by ahp_reader_close
 * and on failure). */
int ahp_reader_open_fd(struct ahp_reader **r, int fd);

void ahp_reader_close(struct ahp_reader *r);

const struct ahp_file_meta *ahp_reader_meta(const struct ahp_reader *r);

/* Name of TYPE, or NULL when the file does not name it (or TYPE is out of range). */
const char *ahp_reader_type_name(const struct ahp_reader *r, int32_t type);

/*
 * Walk every usable chunk in file order (events are in the order the collector wrote them,
 * which is time order). Any callback may be NULL. A callback returning non-zero stops the
 * walk and ahp_reader_foreach() returns that value; otherwise 0, or a negative errno for an
 * I/O error. Damaged chunks are skipped (meta->bad_chunks). Events come in batches: EV[0..N)
 * is valid only during the call. Each call of ahp_reader_foreach starts from the beginning.
 */
struct ahp_read_ops {
    int (*info)(void *arg, const struct ahp_file_info *info);
    int (*type)(void *arg, int32_t type, const char *name);
    int (*snapshot)(void *arg, const int64_t *live, uint32_t ntypes);
    int (*events)(void *arg, const struct ahp_event *ev, size_t n);
    int (*lost)(void *arg, uint64_t lost_total);
    int (*end)(void *arg, uint64_t end_mono_ns, uint64_t lost_total);
    int (*stack)(void *arg, uint32_t stack_id, const struct ahp_stack_frame *frames, uint32_t n);
    /* 2.1, record --cpu: kernel records (R[0..N) valid during the call) and native stacks
     * (FRAMES[i] NUL-terminated, valid during the call). */
    int (*krecords)(void *arg, const struct ahp_krecord *r, size_t n);
    int (*kstack)(void *arg, uint32_t id, const char (*frames)[AHP_KFRAME_SIZE], uint32_t n,
                  uint32_t nkernel);
};
int ahp_reader_foreach(struct ahp_reader *r, const struct ahp_read_ops *ops, void *arg);

/* Pull-style: the next event in file order into *EV. Returns 1, 0 at the end, or a negative
 * errno. ahp_reader_rewind() starts again from the first event, and so does every
 * ahp_reader_foreach() (before and after its walk): do not call it in the middle of a pull. */
int ahp_reader_next_event(struct ahp_reader *r, struct ahp_event *ev);
void ahp_reader_rewind(struct ahp_reader *r);

/* A message for the errors above (also plain errno values). Never NULL. */
const char *ahp_file_strerror(int err);

#endif
