/* target.c - finding libah in a process, reading its registry, launching a program. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collect/elfinfo.h"
#include "collect/libuv.h"
#include "collect/target.h"
#include "common/util.h"

static int pidfd_open_compat(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void read_comm(struct ahp_target *t)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", t->pid);
    FILE *f = fopen(path, "re");
    t->comm[0] = '\0';
    if (f == NULL)
        return;
    if (fgets(t->comm, sizeof(t->comm), f))
        t->comm[strcspn(t->comm, "\n")] = '\0';
    fclose(f);
}

/* One line of /proc/PID/maps. */
struct mapping {
    uint64_t start, end, offset;
    char path[PATH_MAX];
};

static bool parse_maps_line(const char *line, struct mapping *m)
{
    unsigned long long start, end, offset;
    int path_at = 0;
    if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %n", &start, &end, &offset, &path_at) < 3 ||
        path_at == 0)
        return false;
    const char *p = line + path_at;
    if (*p != '/')
        return false;
    size_t len = strcspn(p, "\n");
    if (len >= sizeof(m->path) || (len > 10 && strncmp(p + len - 10, " (deleted)", 10) == 0))
        return false;
    memcpy(m->path, p, len);
    m->path[len] = '\0';
    m->start = start;
    m->end = end;
    m->offset = offset;
    return true;
}

/* Path under /proc/PID/root, so that a target in another mount namespace (a container)
 * is read from its own file system. */
static void rooted_path(pid_t pid, const char *path, char *out, size_t size)
{
    snprintf(out, size, "/proc/%d/root%s", pid, path);
}

/* Scan the maps of the target for the file that carries the "ah" probes. When LOCATE is
 * set, also compute the run-time address of ah_registry. */
static int scan_maps(struct ahp_target *t, bool locate)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/maps", t->pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return errno == ENOENT ? -ESRCH : -errno;
    char line[PATH_MAX + 256];
    char checked[16][PATH_MAX];
    int nchecked = 0;
    int rc = -ENOENT;
    bool denied = false;
    struct mapping m;
    while (fgets(line, sizeof(line), f)) {
        if (!parse_maps_line(line, &m))
            continue;
        if (t->lib_display[0]) {
            /* Known file: only look for its mapping to compute the registry address. */
            if (strcmp(m.path, t->lib_display) != 0)
                continue;
        } else {
            bool seen = false;
            for (int i = 0; i < nchecked && !seen; i++)
                seen = strcmp(checked[i], m.path) == 0;
            if (seen)
                continue;
            if (nchecked < 16)
                ahp_strlcpy(checked[nchecked++], m.path, PATH_MAX);
            char rooted[PATH_MAX + 32];
            rooted_path(t->pid, m.path, rooted, sizeof(rooted));
            if (!ahp_elf_has_usdt(rooted, "ah")) {
                /* Another user's process hides its files: that is no proof of no libah. */
                if (access(rooted, R_OK) != 0 && (errno == EACCES || errno == EPERM))
                    denied = true;
                continue;
            }
            ahp_strlcpy(t->lib_display, m.path, sizeof(t->lib_display));
            ahp_strlcpy(t->lib_path, rooted, sizeof(t->lib_path));
        }
        rc = 0;
        if (!locate)
            break;
        uint64_t bias;
        if (t->registry_link == 0 &&
            ahp_elf_symbol(t->lib_path, AH_REGISTRY_SYMBOL, &t->registry_link) < 0)
            break;
        if (ahp_elf_load_bias(t->lib_path, m.start, m.offset, &bias) == 0) {
            uint64_t addr = t->registry_link + bias;
            t->registry_addr = addr;
            break;
        }
    }
    fclose(f);
    return rc == -ENOENT && denied ? -EACCES : rc;
}

const char *ahp_target_find_libc(struct ahp_target *t, char *out, size_t size)
{
    if (t->launched) {
        ahp_strlcpy(out, "libc.so.6", size);
        return out;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/maps", t->pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    char line[PATH_MAX + 256];
    struct mapping m;
    const char *found = NULL;
    while (found == NULL && fgets(line, sizeof(line), f)) {
        if (!parse_maps_line(line, &m))
            continue;
        const char *base = strrchr(m.path, '/');
        base = base ? base + 1 : m.path;
        if (strncmp(base, "libc.so", 7) == 0 || strncmp(base, "libc-", 5) == 0) {
            rooted_path(t->pid, m.path, out, size);
            found = out;
        }
    }
    fclose(f);
    return found;
}

int ahp_target_open_pid(struct ahp_target *t, pid_t pid)
{
    memset(t, 0, sizeof(*t));
    t->pid = pid;
    t->pidfd = -1;
    t->gate_fd = -1;
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return -ESRCH;
    int rc = scan_maps(t, true);
    if (rc < 0)
        return rc;
    read_comm(t);
    char link[64];
    snprintf(link, sizeof(link), "/proc/%d/exe", pid);
    ssize_t n = readlink(link, t->exe, sizeof(t->exe) - 1);
    t->exe[n > 0 ? n : 0] = '\0';
    t->pidfd = pidfd_open_compat(pid);
    if (t->pidfd < 0)
        return errno == ESRCH ? -ESRCH : -errno;
    return 0;
}

/* execvp's search, done by hand because we must know the file before exec. */
static int resolve_exe(const char *name, char *out, size_t size)
{
    if (strchr(name, '/')) {
        if (access(name, X_OK) != 0)
            return -errno;
        snprintf(out, size, "%s", name);
        return 0;
    }
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        snprintf(out, size, "%.*s/%s", (int)len, path, name);
        if (len > 0 && access(out, X_OK) == 0)
            return 0;
        path += len + (path[len] == ':');
    }
    return -ENOENT;
}

/* Ask the dynamic loader which libraries EXE loads in environment ENV (what ldd does) and
 * pick the one with the "ah" probes. Notes whether it loads libuv in *USES_LIBUV. */
static int find_loaded_libah(const char *exe, char *const env[], char *out, size_t size,
                             bool *uses_libuv)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -errno;
    pid_t child = fork();
    if (child < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -errno;
    }
    if (child == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0)
            dup2(devnull, STDERR_FILENO);
        if (env)
            environ = (char **)env;
        setenv("LD_TRACE_LOADED_OBJECTS", "1", 1);
        execl(exe, exe, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    FILE *f = fdopen(pipefd[0], "r");
    int rc = -ENOENT;
    char line[PATH_MAX + 128];
    while (f && fgets(line, sizeof(line), f)) {
        char *arrow = strstr(line, "=> ");
        char *p = arrow ? arrow + 3 : line + strspn(line, " \t");
        if (*p != '/')
            continue;
        size_t len = strcspn(p, " (\n");
        p[len] = '\0';
        const char *base = strrchr(p, '/') + 1;
        if (strncmp(base, "libuv.so", 8) == 0)
            *uses_libuv = true;
        if (rc != 0 && ahp_elf_has_usdt(p, "ah")) {
            snprintf(out, size, "%s", p);
            rc = 0;
        }
    }
    if (f)
        fclose(f);
    else
        close(pipefd[0]);
    waitpid(child, NULL, 0);
    return rc;
}

int ahp_target_launch(struct ahp_target *t, char *const argv[], bool stdout_to_stderr,
                      const char *preload)
{
    memset(t, 0, sizeof(*t));
    t->pidfd = -1;
    t->gate_fd = -1;
    char exe[PATH_MAX];
    int rc = resolve_exe(argv[0], exe, sizeof(exe));
    if (rc < 0)
        return rc == -ENOENT ? -ENOEXEC : rc;
    ahp_strlcpy(t->exe, exe, sizeof(t->exe));
    char **env = NULL;
    if (preload && (env = ahp_uv_preload_env(preload)) == NULL)
        return -ENOMEM;
    if (preload && !ahp_elf_is_dynamic(exe)) {
        ahp_uv_env_free(env);
        return -ENOTSUP; /* nothing can be preloaded into a static executable */
    }
    /* Preloaded, libah comes with the interposer, even when the program has probes too. */
    if (!preload && ahp_elf_has_usdt(exe, "ah")) {
        ahp_strlcpy(t->lib_path, exe, sizeof(t->lib_path));
    } else if (!ahp_elf_is_dynamic(exe) ||
               find_loaded_libah(exe, env, t->lib_path, sizeof(t->lib_path), &t->uses_libuv) < 0) {
        ahp_uv_env_free(env);
        return -ENOENT;
    }
    char *real = realpath(t->lib_path, NULL);
    if (real) {
        ahp_strlcpy(t->lib_path, real, sizeof(t->lib_path));
        free(real);
    }
    ahp_strlcpy(t->lib_display, t->lib_path, sizeof(t->lib_display));

    int gate[2];
    if (pipe2(gate, O_CLOEXEC) < 0) {
        rc = -errno;
        ahp_uv_env_free(env);
        return rc;
    }
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        rc = -errno;
        close(gate[0]);
        close(gate[1]);
        ahp_uv_env_free(env);
        return rc;
    }
    if (child == 0) {
        /* Die with ahprof if it goes before letting us run. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        close(gate[1]);
        char go = 0;
        ssize_t n;
        do
            n = read(gate[0], &go, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1 || go != 'g')
            _exit(127);
        prctl(PR_SET_PDEATHSIG, 0);
        if (stdout_to_stderr && dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
            _exit(127);
        execve(exe, argv, env ? env : environ);
        fprintf(stderr, "ahprof: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    ahp_uv_env_free(env);
    close(gate[0]);
    t->gate_fd = gate[1];
    t->pid = child;
    t->launched = true;
    t->pidfd = pidfd_open_compat(child);
    ahp_strlcpy(t->comm, strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe, sizeof(t->comm));
    return 0;
}

int ahp_target_release(struct ahp_target *t)
{
    if (t->gate_fd < 0)
        return -EINVAL;
    ssize_t n = write(t->gate_fd, "g", 1);
    close(t->gate_fd);
    t->gate_fd = -1;
    return n == 1 ? 0 : -EPIPE;
}

int ahp_target_locate_registry(struct ahp_target *t)
{
    if (t->registry_addr)
        return 0;
    int rc = scan_maps(t, true);
    if (rc < 0)
        return rc == -ENOENT ? -EAGAIN : rc;
    return t->registry_addr ? 0 : -EAGAIN;
}

static int read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
    struct iovec local = {.iov_base = buf, .iov_len = len};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EFAULT;
}

int ahp_target_read_mem(const struct ahp_target *t, uint64_t addr, void *buf, size_t len)
{
    return read_mem(t->pid, addr, buf, len);
}

static int read_registry_header(struct ahp_target *t, struct ah_registry *reg)
{
    int rc = read_mem(t->pid, t->registry_addr, reg, sizeof(*reg));
    if (rc < 0)
        return rc;
    if (reg->magic != AH_REGISTRY_MAGIC || reg->version != AH_REGISTRY_VERSION ||
        reg->thread_size != sizeof(struct ah_registry_thread))
        return -EPROTO;
    return 0;
}

int ahp_target_read_registry(struct ahp_target *t, struct ah_registry *reg)
{
    int rc = ahp_target_locate_registry(t);
    return rc < 0 ? rc : read_registry_header(t, reg);
}

int ahp_target_read_names(struct ahp_target *t, struct ahp_snapshot *s)
{
    struct ah_registry reg;
    int rc = ahp_target_locate_registry(t);
    if (rc == 0)
        rc = read_registry_header(t, &reg);
    if (rc < 0)
        return rc;
    uint64_t count = reg.type_count < AH_REGISTRY_TYPE_MAX ? reg.type_count : AH_REGISTRY_TYPE_MAX;
    if (count && reg.names)
        rc = read_mem(t->pid, reg.names, s->names, count * AH_REGISTRY_NAME_SIZE);
    for (uint64_t i = 0; i < count; i++)
        s->names[i][AH_REGISTRY_NAME_SIZE - 1] = '\0';
    s->type_count = (uint32_t)count;
    return rc;
}

/* Read one thread block as a seqlock reader: retry while its thread is mid-update. */
static int read_thread_block(pid_t pid, uint64_t addr, struct ah_registry_thread *b)
{
    for (int attempt = 0; attempt < 1000; attempt++) {
        uint64_t seq_before, seq_after;
        int rc = read_mem(pid, addr, &seq_before, sizeof(seq_before));
        if (rc < 0)
            return rc;
        if (seq_before & 1)
            continue;
        rc = read_mem(pid, addr, b, sizeof(*b));
        if (rc < 0)
            return rc;
        rc = read_mem(pid, addr, &seq_after, sizeof(seq_after));
        if (rc < 0)
            return rc;
        if (seq_after == seq_before && b->seq == seq_before)
            return 0;
    }
    return -EAGAIN;
}

/* The threads of PID now. */
static uint32_t count_tasks(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *dir = opendir(path);
    if (dir == NULL)
        return 0;
    uint32_t n = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

int ahp_target_snapshot(struct ahp_target *t, struct ahp_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    s->taken_ns = ahp_now_ns();
    int rc = ahp_target_locate_registry(t);
    if (rc < 0)
        return rc;
    for (int attempt = 0; attempt < 100; attempt++) {
        struct ah_registry reg;
        rc = read_registry_header(t, &reg);
        if (rc < 0)
            return rc;
        if (reg.generation & 1)
            continue;
        memset(s->live, 0, sizeof(s->live));
        s->nthreads = 0;
        uint64_t addr = reg.threads;
        /* The list is the target's memory: it may loop or point anywhere. One block per
         * thread plus the retired one; threads started during the walk change the
         * generation, the slack only spares a retry. */
        uint32_t tasks = count_tasks(t->pid);
        uint64_t max_blocks = tasks ? (uint64_t)tasks + 65 : 65536;
        bool torn = false, malformed = false;
        for (uint64_t blocks = 0; addr != 0; blocks++) {
            struct ah_registry_thread block;
            if (blocks == max_blocks) {
                malformed = true;
                break;
            }
            rc = read_thread_block(t->pid, addr, &block);
            if (rc == -ESRCH)
                return rc;
            if (rc < 0) {
                /* Freed under us (the generation check below retries), unless the list did
                 * not change: then it points where nothing is. */
                torn = true;
                malformed = rc != -EAGAIN;
                break;
            }
            for (int i = 0; i < AH_REGISTRY_TYPE_MAX; i++)
                malformed |= __builtin_add_overflow(s->live[i], block.live[i], &s->live[i]);
            if (!(block.flags & AH_REGISTRY_RETIRED)) {
                struct ahp_snapshot_thread *grown =
                    realloc(s->threads, (s->nthreads + 1) * sizeof(*grown));
                if (grown == NULL)
                    return -ENOMEM;
                s->threads = grown;
                s->threads[s->nthreads++] = (struct ahp_snapshot_thread){
                    block.tid, block.seq, false, addr + reg.batch_offset, addr};
            }
            addr = block.next;
        }
        uint64_t generation;
        rc = read_mem(t->pid, t->registry_addr + offsetof(struct ah_registry, generation),
                      &generation, sizeof(generation));
        if (rc < 0)
            return rc;
        if (generation == reg.generation && malformed)
            return -EPROTO;
        if (!torn && generation == reg.generation) {
            /* Names it cannot read are not worth refusing the attach: they come from the BPF
             * side, or show as type#N. */
            ahp_target_read_names(t, s);
            return 0;
        }
    }
    return -EAGAIN;
}

void ahp_snapshot_free(struct ahp_snapshot *s)
{
    free(s->threads);
    s->threads = NULL;
    s->nthreads = 0;
}

void ahp_target_close(struct ahp_target *t)
{
    if (t->pidfd >= 0)
        close(t->pidfd);
    if (t->gate_fd >= 0)
        close(t->gate_fd);
    t->pidfd = t->gate_fd = -1;
}
