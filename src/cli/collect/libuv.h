/*
 * libuv.h - programs on libuv that were not written for libah: ahprof launches them with
 * libah-uv.so preloaded (`top|record --uv -- COMMAND`, docs/libuv.md), and says how to restart
 * one it finds running without it.
 */
#ifndef AHP_LIBUV_H
#define AHP_LIBUV_H

#include <stddef.h>
#include <sys/types.h>

/* The interposer's file name, as `make` builds and installs it. */
#define AHP_UV_INTERPOSER "libah-uv.so"

/* Find libah-uv.so: $AHPROF_UV_LIB when set, else next to the ahprof executable (the build
 * tree), else in ../lib beside its bin/ (an install), else in the LIBDIR ahprof was built
 * for. Its absolute path goes into OUT. -ENOENT when none exists. */
int ahp_uv_find_interposer(char *out, size_t size);

/* Whether process PID maps a libuv (its path, as the target names it, into OUT). 1 yes,
 * 0 no, or a negative errno. The path is untrusted: escape it before printing. */
int ahp_uv_mapped_in(pid_t pid, char *out, size_t size);

/* A copy of this process's environment where LD_PRELOAD loads PATH first, before what the
 * variable already asked for: the environment of a program ahprof launches. Built before
 * fork (the child only execs). NULL on ENOMEM; free with ahp_uv_env_free(). */
char **ahp_uv_preload_env(const char *path);
void ahp_uv_env_free(char **env);

#endif
