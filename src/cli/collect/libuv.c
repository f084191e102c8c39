/* libuv.c - finding libah-uv.so, and libuv in a running process: see libuv.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collect/libuv.h"
#include "common/util.h"

#ifndef AHP_LIBDIR
#define AHP_LIBDIR "/usr/local/lib"
#endif

static int usable(const char *path, char *out, size_t size)
{
    if (access(path, R_OK) != 0)
        return -ENOENT;
    char *real = realpath(path, NULL);
    if (real == NULL)
        return -errno;
    size_t n = ahp_strlcpy(out, real, size);
    free(real);
    return n < size ? 0 : -ENAMETOOLONG;
}

int ahp_uv_find_interposer(char *out, size_t size)
{
    const char *env = getenv("AHPROF_UV_LIB");
    if (env && *env)
        return usable(env, out, size);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            char path[PATH_MAX + 32];
            snprintf(path, sizeof(path), "%s/" AHP_UV_INTERPOSER, self);
            if (usable(path, out, size) == 0)
                return 0;
            snprintf(path, sizeof(path), "%s/../lib/" AHP_UV_INTERPOSER, self);
            if (usable(path, out, size) == 0)
                return 0;
        }
    }
    return usable(AHP_LIBDIR "/" AHP_UV_INTERPOSER, out, size);
}

/* "libuv.so" or "libuv.so.1" (and versions), not e.g. "libuvw.so" or a path that merely
 * contains the word. */
static bool is_libuv(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strncmp(base, "libuv.so", 8) == 0 && (base[8] == '\0' || base[8] == '.');
}

int ahp_uv_mapped_in(pid_t pid, char *out, size_t size)
{
    char maps[64];
    snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
    FILE *f = fopen(maps, "re");
    if (f == NULL)
        return -errno;
    char line[PATH_MAX + 128];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f)) {
        char *path = strchr(line, '/');
        if (path == NULL)
            continue;
        path[strcspn(path, "\n")] = '\0';
        if (is_libuv(path)) {
            ahp_strlcpy(out, path, size);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

char **ahp_uv_preload_env(const char *path)
{
    extern char **environ;
    size_t n = 0;
    const char *old = NULL;
    for (; environ[n]; n++)
        if (strncmp(environ[n], "LD_PRELOAD=", 11) == 0 && old == NULL)
            old = environ[n] + 11;
    /* The first slot holds our own string (freed by ahp_uv_env_free), the rest point into
     * environ: LD_PRELOAD first, then every other variable, once. */
    char **env = calloc(n + 2, sizeof(*env));
    if (env == NULL)
        return NULL;
    int len = old && *old ? asprintf(&env[0], "LD_PRELOAD=%s:%s", path, old)
                          : asprintf(&env[0], "LD_PRELOAD=%s", path);
    if (len < 0) {
        free(env);
        return NULL;
    }
    size_t k = 1;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
            env[k++] = environ[i];
    env[k] = NULL;
    return env;
}

void ahp_uv_env_free(char **env)
{
    if (env) {
        free(env[0]);
        free(env);
    }
}
