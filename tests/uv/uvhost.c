/*
 * uvhost.c - loads tests/uv/uvall.c built as a module with dlopen(RTLD_LOCAL), the way
 * Python and Lua load libuv: the host is not linked with libuv, so libuv lands in the
 * module's local scope and dlsym(RTLD_NEXT) from a preloaded library cannot see it.
 *
 *   uvhost MODULE [--wait] DIR
 */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: uvhost MODULE [--wait] DIR\n");
        return 2;
    }
    void *module = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (module == NULL) {
        fprintf(stderr, "uvhost: %s\n", dlerror());
        return 2;
    }
    int (*uvall_main)(int, char **) = (int (*)(int, char **))dlsym(module, "uvall_main");
    if (uvall_main == NULL) {
        fprintf(stderr, "uvhost: %s\n", dlerror());
        return 2;
    }
    argv[1] = "uvall";
    return uvall_main(argc - 1, argv + 1);
}
