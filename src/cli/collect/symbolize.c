/* symbolize.c - user-stack symbolization with libdwfl. */
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collect/symbolize.h"
#include "common/util.h"

struct ahp_symbolizer {
    pid_t pid;
    Dwfl *dwfl;
    bool ready;
    int refreshes;
};

static char *debuginfo_path;
static const Dwfl_Callbacks proc_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

struct ahp_symbolizer *ahp_symbolizer_new(pid_t pid)
{
    struct ahp_symbolizer *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->pid = pid;
    s->dwfl = dwfl_begin(&proc_callbacks);
    if (s->dwfl == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void ahp_symbolizer_free(struct ahp_symbolizer *s)
{
    if (s == NULL)
        return;
    dwfl_end(s->dwfl);
    free(s);
}

int ahp_symbolizer_refresh(struct ahp_symbolizer *s)
{
    /* Reporting again keeps the modules already known and adds the new ones (dlopen). */
    dwfl_report_begin_add(s->dwfl);
    int rc = dwfl_linux_proc_report(s->dwfl, s->pid);
    dwfl_report_end(s->dwfl, NULL, NULL);
    if (rc != 0)
        return rc > 0 ? -rc : -ESRCH;
    s->ready = true;
    s->refreshes++;
    return 0;
}

bool ahp_symbolizer_ready(const struct ahp_symbolizer *s)
{
    return s && s->ready;
}

void ahp_symbolize(struct ahp_symbolizer *s, uint64_t ip, bool return_address,
                   struct ahp_stack_frame *out)
{
    memset(out, 0, sizeof(*out));
    out->ip = ip;
    if (s == NULL)
        return;
    Dwarf_Addr addr = return_address && ip > 0 ? ip - 1 : ip;
    Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);
    if (mod == NULL && s->refreshes < 64 && ahp_symbolizer_refresh(s) == 0)
        mod = dwfl_addrmodule(s->dwfl, addr);
    if (mod == NULL)
        return;
    const char *func = dwfl_module_addrname(mod, addr);
    if (func)
        ahp_strlcpy(out->func, func, sizeof(out->func));
    Dwfl_Line *line = dwfl_module_getsrc(mod, addr);
    int lineno = 0;
    const char *src = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
    if (src) {
        const char *base = strrchr(src, '/');
        ahp_strlcpy(out->file, base ? base + 1 : src, sizeof(out->file));
        out->line = lineno > 0 ? (uint32_t)lineno : 0;
    } else {
        const char *modname = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
        if (modname) {
            const char *base = strrchr(modname, '/');
            ahp_strlcpy(out->file, base ? base + 1 : modname, sizeof(out->file));
        }
    }
}
