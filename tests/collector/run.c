/* run.c - the collector tests' targets, recorded files and reports (run.h). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

void start_ready_target(struct proc *p, char *const argv[], char pid[32])
{
    proc_start(p, argv);
    char line[256];
    cr_assert(proc_read_line(p, line, sizeof(line), 10000) && strcmp(line, "ready") == 0,
              "%s did not get ready", argv[0]);
    snprintf(pid, 32, "%d", p->pid);
}

json_object *find_named(json_object *root, const char *key, const char *name)
{
    json_object *arr;
    if (!json_object_object_get_ex(root, key, &arr))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *item = json_object_array_get_idx(arr, i), *n;
        if (json_object_object_get_ex(item, "name", &n) &&
            strcmp(json_object_get_string(n), name) == 0)
            return item;
    }
    return NULL;
}

long long get_int(json_object *obj, const char *key)
{
    json_object *v;
    cr_assert_not_null(obj, "missing object when reading '%s'", key);
    cr_assert(json_object_object_get_ex(obj, key, &v), "missing key '%s'", key);
    return json_object_get_int64(v);
}

void expect_type(json_object *root, const char *name, long long created, long long destroyed,
                 long long callbacks, long long active)
{
    json_object *t = find_named(root, "types", name);
    cr_assert_not_null(t, "type %s missing", name);
    cr_expect_eq(get_int(t, "created"), created, "%s created", name);
    cr_expect_eq(get_int(t, "destroyed"), destroyed, "%s destroyed", name);
    cr_expect_eq(get_int(t, "callbacks"), callbacks, "%s callbacks", name);
    cr_expect_eq(get_int(t, "active"), active, "%s active", name);
}

char data_path[64];

void make_data_path(void)
{
    snprintf(data_path, sizeof(data_path), "/tmp/ahprof-test-%d.data", getpid());
}

void remove_data(void)
{
    unlink(data_path);
}

json_object *report_json_at(const char *path)
{
    char *argv[] = {AHPROF, "report", "--json", (char *)path, NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 60000);
    cr_assert_eq(code, 0, "ahprof report exited %d: %s", code, err);
    json_object *root = json_tokener_parse(out);
    cr_assert_not_null(root, "report is not JSON: %.200s", out);
    free(out);
    free(err);
    return root;
}

json_object *report_json(void)
{
    return report_json_at(data_path);
}

json_object *record_launched_report(const char *option, char *const cmd[])
{
    char *argv[32] = {AHPROF, "record", "-q", "-o", data_path};
    int n = 5;
    if (option)
        argv[n++] = (char *)option;
    argv[n++] = "--";
    for (int i = 0; cmd[i] && n < 31; i++)
        argv[n++] = cmd[i];
    argv[n] = NULL;
    char *err = NULL;
    int code = run_capture(argv, NULL, &err, 90000);
    cr_assert_eq(code, 0, "ahprof record%s%s exited %d: %s", option ? " " : "",
                 option ? option : "", code, err);
    free(err);
    return report_json();
}

json_object *counters_of(json_object *type)
{
    json_object *k;
    cr_assert(json_object_object_get_ex(type, "counters", &k), "type without counters");
    return k;
}

json_object *top_final_interval(struct proc *p, int *n)
{
    char line[1 << 16];
    json_object *last = NULL;
    int count = 0;
    while (proc_read_line(p, line, sizeof(line), 60000)) {
        json_object *obj = json_tokener_parse(line);
        cr_assert_not_null(obj, "not JSON: %.200s", line);
        if (last)
            json_object_put(last);
        last = obj;
        count++;
    }
    int code = proc_wait(p, 10000);
    cr_assert_eq(code, 0, "ahprof top exited with %d", code);
    cr_assert_not_null(last, "ahprof top printed nothing");
    json_object *final;
    cr_assert(json_object_object_get_ex(last, "final", &final) && json_object_get_boolean(final),
              "the last interval is not marked final");
    if (n)
        *n = count;
    return last;
}

json_object *top_until_exit(char *const argv[])
{
    struct proc p;
    proc_start(&p, argv);
    return top_final_interval(&p, NULL);
}

json_object *last_json_line(const char *out)
{
    json_object *last = NULL;
    const char *line = out;
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (strncmp(line, "ready", 5) == 0 || strncmp(line, "done", 4) == 0 || len == 0) {
            line += len + (nl != NULL);
            continue;
        }
        char *copy = strndup(line, len);
        json_object *obj = json_tokener_parse(copy);
        cr_assert_not_null(obj, "not JSON: %.300s", copy);
        free(copy);
        if (last)
            json_object_put(last);
        last = obj;
        line += len + (nl != NULL);
    }
    cr_assert_not_null(last, "ahprof top printed nothing");
    return last;
}

json_object **top_json_lines(char *const argv[], int *n)
{
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 60000);
    cr_assert_eq(code, 0, "top exited %d: %s", code, err);
    static json_object *all[256];
    *n = 0;
    for (char *line = strtok(out, "\n"); line && *n < 256; line = strtok(NULL, "\n")) {
        all[*n] = json_tokener_parse(line);
        cr_assert_not_null(all[*n], "not JSON: %.200s", line);
        (*n)++;
    }
    cr_assert_gt(*n, 0, "no interval: %s", err);
    free(out);
    free(err);
    return all;
}

void json_put_all(json_object **all, int n)
{
    for (int i = 0; i < n; i++)
        json_object_put(all[i]);
}

/* The example server, and a load on its clean routes (no /leak) for SECONDS. */
void start_example_server_under_load(struct proc *server, struct proc *load, const char *seconds)
{
    char *sargv[] = {
        AHP_BUILD "/examples/ah-server", "--port", "0", "--threads", "2", "--duration", "30", NULL};
    proc_start(server, sargv);
    char line[256], port[16] = "";
    for (int i = 0; i < 50 && port[0] == '\0'; i++) {
        if (!proc_read_line(server, line, sizeof(line), 5000))
            break;
        const char *at = strstr(line, "listening on 127.0.0.1:");
        if (at != NULL)
            snprintf(port, sizeof(port), "%d", atoi(at + strlen("listening on 127.0.0.1:")));
    }
    cr_assert(port[0] != '\0', "the example server did not say where it listens");
    char *largv[] = {AHP_BUILD "/examples/ah-load",
                     "--port",
                     port,
                     "--connections",
                     "4",
                     "--duration",
                     (char *)seconds,
                     "--mix",
                     "fast=80,work=10,sleep=10",
                     NULL};
    proc_start(load, largv);
    usleep(300000);
}

json_object **top_json_linty(const char *interval, const char *count, const char *const extra[],
                             const char *const cmd[], int *n)
{
    char *argv[40] = {AHPROF, "top", "--json", (char *)interval};
    int k = 4;
    if (count)
        argv[k++] = (char *)count;
    for (int i = 0; extra && extra[i]; i++)
        argv[k++] = (char *)extra[i];
    argv[k++] = "--";
    argv[k++] = AHP_BUILD "/targets/linty";
    for (int i = 0; cmd[i]; i++)
        argv[k++] = (char *)cmd[i];
    argv[k] = NULL;
    return top_json_lines(argv, n);
}

/* The whole file at PATH, NUL-terminated (malloc'ed; *LEN its size unless LEN is NULL): read
 * to its end, so that /proc files work too. The test fails if it cannot be opened. */
char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    size_t cap = 1 << 16, n = 0;
    char *text = malloc(cap);
    size_t got;
    while ((got = fread(text + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 4096)
            text = realloc(text, cap *= 2);
    }
    fclose(f);
    text[n] = '\0';
    if (len)
        *len = n;
    return text;
}
