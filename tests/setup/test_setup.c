/*
 * test_setup.c - the newcomer's path of the README ("Set-up: two commands"), checked on any
 * machine: `make` builds only what needs the build packages (scripts/packages/build.txt), so
 * `make demo` works where the test packages are missing; `make check` builds every test
 * program; the npm packages pinned in scripts/packages/test.txt run on Debian 12's node.
 *
 * A developer machine has every package, so building there proves none of this: the tests read
 * what make would run (`make -n -B`, into a scratch build directory) and what npm installed.
 * The full check is `make demo` and `make test` on a minimal Debian 12.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "proc.h"
#include "tmpdir.h"

/* Debian 12's nodejs (bookworm and bookworm-security). */
#define DEBIAN12_NODE "18.20.4"

/* What `make -n -B TARGET` would run, with a build directory nobody uses: nothing is built. */
static char *make_dry_run(const char *target)
{
    char bdir[64];
    tmpdir_make(bdir, "setup");
    char bvar[80];
    snprintf(bvar, sizeof(bvar), "B=%s", bdir);
    /* The make that runs this test passes its jobserver and flags through the environment. */
    char *argv[] = {"/usr/bin/env",
                    "-u",
                    "MAKEFLAGS",
                    "-u",
                    "MFLAGS",
                    "-u",
                    "MAKELEVEL",
                    "make",
                    "-C",
                    AHP_SRC,
                    "-n",
                    "-B",
                    "--no-print-directory",
                    bvar,
                    (char *)target,
                    NULL};
    char *out, *err;
    int code = run_capture(argv, &out, &err, 60000);
    cr_assert_eq(code, 0, "make -n -B %s exited %d: %s", target, code, err);
    free(err);
    cr_expect_eq(tmpdir_remove(bdir), 0);
    return out;
}

/* The first line of TEXT that contains NEEDLE, as a malloc'ed string, or NULL. */
static char *line_with(const char *text, const char *needle)
{
    const char *hit = strstr(text, needle);
    if (!hit)
        return NULL;
    const char *start = hit, *end = strchr(hit, '\n');
    while (start > text && start[-1] != '\n')
        start--;
    return strndup(start, end ? (size_t)(end - start) : strlen(start));
}

Test(setup, make_all_needs_no_test_package)
{
    char *out = make_dry_run("all");
    /* What a user runs is there... */
    cr_expect(strstr(out, "/ahprof ") != NULL, "make builds no ahprof");
    cr_expect(strstr(out, "-soname,libah.so.0") != NULL, "make builds no libah.so");
    cr_expect(strstr(out, "/examples/ah-server ") != NULL, "make builds no example server");
    /* ...and nothing that only the test packages provide. */
    static const char *const test_only[] = {"-lcriterion", "-ljson-c", "-fsanitize=fuzzer",
                                            "tests/"};
    for (size_t i = 0; i < sizeof(test_only) / sizeof(test_only[0]); i++) {
        char *line = line_with(out, test_only[i]);
        cr_expect_null(line, "make (all) uses %s, a test package's or a test's: %s", test_only[i],
                       line);
        free(line);
    }
    free(out);
}

Test(setup, make_check_builds_every_test_program)
{
    char *out = make_dry_run("check");
    static const char *const patterns[] = {"tests/*/test_*.c", "tests/fuzz/fuzz_*.c"};
    size_t sources = 0;
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        char pattern[512];
        snprintf(pattern, sizeof(pattern), "%s/%s", AHP_SRC, patterns[i]);
        glob_t g;
        cr_assert_eq(glob(pattern, 0, NULL, &g), 0, "no %s", pattern);
        for (size_t k = 0; k < g.gl_pathc; k++) {
            const char *rel = g.gl_pathv[k] + strlen(AHP_SRC) + 1;
            cr_expect(strstr(out, rel) != NULL, "make check does not build %s", rel);
            sources++;
        }
        globfree(&g);
    }
    cr_expect_gt(sources, 20, "only %zu test sources found", sources);
    /* Every sanitizer build of the tests, too. */
    cr_expect(strstr(out, "-fsanitize=address") != NULL, "make check builds no ASan test");
    cr_expect(strstr(out, "-fsanitize=thread") != NULL, "make check builds no TSan test");
    free(out);
}

/* VERSION ("1.2.3", "18") as a number that orders like the version. */
static long long version_key(const char *version)
{
    long long parts[3] = {0, 0, 0};
    sscanf(version, "%lld.%lld.%lld", &parts[0], &parts[1], &parts[2]);
    return (parts[0] * 1000 + parts[1]) * 1000 + parts[2];
}

/* Whether npm's engines.node RANGE admits NODE. The pins' ranges are ">=X[.Y[.Z]]", "*" or
 * alternatives of those joined by "||"; anything else fails the test until this learns it. */
static bool range_admits(const char *range, const char *node)
{
    char *copy = strdup(range), *save = NULL;
    bool admits = false;
    for (char *alt = strtok_r(copy, "|", &save); alt; alt = strtok_r(NULL, "|", &save)) {
        while (*alt == ' ')
            alt++;
        char *end = alt + strlen(alt);
        while (end > alt && end[-1] == ' ')
            *--end = '\0';
        if (strcmp(alt, "*") == 0 || *alt == '\0') {
            admits = true;
        } else if (strncmp(alt, ">=", 2) == 0 && alt[2] >= '0' && alt[2] <= '9' &&
                   strspn(alt + 2, "0123456789.") == strlen(alt + 2)) {
            admits |= version_key(node) >= version_key(alt + 2);
        } else {
            cr_assert_fail("engines.node \"%s\": teach range_admits this form", range);
        }
    }
    free(copy);
    return admits;
}

Test(setup, npm_pins_run_on_debian12_node)
{
    FILE *f = fopen(AHP_SRC "/scripts/packages/test.txt", "r");
    cr_assert_not_null(f);
    char line[512];
    int pins = 0;
    while (fgets(line, sizeof(line), f)) {
        char spec[256];
        if (sscanf(line, " npm:%255s", spec) != 1)
            continue;
        char *at = strrchr(spec, '@');
        cr_assert(at && at != spec, "npm pin without a version: %s", spec);
        *at = '\0';
        const char *name = spec, *version = at + 1;
        char path[1024];
        snprintf(path, sizeof(path), "%s/flame-node/node_modules/%s/package.json", AHP_BUILD, name);
        json_object *pkg = json_object_from_file(path);
        cr_assert_not_null(pkg, "%s is not installed (%s): run tests/flame/install-test-deps.sh",
                           name, path);
        json_object *v, *engines, *node;
        cr_assert(json_object_object_get_ex(pkg, "version", &v));
        cr_expect_str_eq(json_object_get_string(v), version, "%s installed is not the pin", name);
        if (json_object_object_get_ex(pkg, "engines", &engines) &&
            json_object_object_get_ex(engines, "node", &node)) {
            const char *range = json_object_get_string(node);
            cr_expect(range_admits(range, DEBIAN12_NODE), "%s@%s wants node %s; Debian 12 has %s",
                      name, json_object_get_string(v), range, DEBIAN12_NODE);
        }
        json_object_put(pkg);
        pins++;
    }
    fclose(f);
    cr_expect_gt(pins, 0, "no npm: pins in scripts/packages/test.txt");
}

/* The src/cli files that `make -n -W FILE TARGETS` would compile in the existing build: what
 * a change to FILE costs. The build tree must be up to date (make check has just built it). */
static char *compiled_after_change(const char *file, const char *const targets[])
{
    /* The objects' .d files name them as built, relative to the source tree: B must match. */
    const char *b = AHP_BUILD;
    if (strncmp(b, AHP_SRC "/", strlen(AHP_SRC "/")) == 0)
        b += strlen(AHP_SRC "/");
    char bvar[512];
    snprintf(bvar, sizeof(bvar), "B=%s", b);
    char *argv[32] = {"/usr/bin/env",
                      "-u",
                      "MAKEFLAGS",
                      "-u",
                      "MFLAGS",
                      "-u",
                      "MAKELEVEL",
                      "make",
                      "-C",
                      AHP_SRC,
                      "-n",
                      "-W",
                      (char *)file,
                      "--no-print-directory",
                      bvar};
    char paths[8][512];
    int argc = 15;
    for (int i = 0; targets[i] && i < 8; i++) {
        snprintf(paths[i], sizeof(paths[i]), "%s/%s", b, targets[i]);
        argv[argc++] = paths[i];
    }
    argv[argc] = NULL;
    char *out, *err;
    int code = run_capture(argv, &out, &err, 60000);
    cr_assert_eq(code, 0, "make -n -W %s exited %d: %s", file, code, err);
    free(err);
    /* One name per compile line, " -c src/cli/NAME.c", sorted by the order make prints. */
    char *names = calloc(1, strlen(out) + 1);
    for (const char *p = out; (p = strstr(p, " -c src/cli/")) != NULL;) {
        p += strlen(" -c src/cli/");
        size_t n = strcspn(p, " \n");
        strncat(names, p, n);
        strcat(names, " ");
    }
    free(out);
    return names;
}

Test(setup, a_changed_bpf_program_recompiles_only_the_loader)
{
    static const char *const targets[] = {"ahprof", "asan/ahprof", NULL};
    char *names = compiled_after_change("bpf/ahprof.bpf.c", targets);
    /* collector.c includes the skeleton: it is rebuilt, once per variant, and nothing else. */
    cr_expect_str_eq(names, "collect/collector.c collect/collector.c ",
                     "a changed BPF program recompiles these CLI sources: %s", names);
    free(names);
    /* A changed CLI source still rebuilds its object (the dependency is not simply gone). */
    names = compiled_after_change("src/cli/cmd/report.c", targets);
    cr_expect_str_eq(names, "cmd/report.c cmd/report.c ", "a changed report.c recompiles: %s",
                     names);
    free(names);
}
