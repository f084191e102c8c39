/* test_resent_report.c - a real recording's resent_records (records the decoder dropped as
 * handed over twice) reaches `ahprof report`: record writes it in the file's END chunk, and
 * report --json gives the number record's own summary gave, as a number (a file that does not
 * say would give null; tests/cli/test_resent_stats.c covers the codec and older files). */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdlib.h>

#include "run.h"
#include "proc.h"

TestSuite(resent_report, .init = make_data_path, .fini = remove_data, .timeout = 120);

Test(resent_report, report_gives_the_count_record_wrote)
{
    /* 4 threads x 20000 tasks, each created on one thread and run on the next: many
     * hand-overs of thread buffers, the path that could repeat a generation. */
    char *argv[] = {AHPROF,   "record",  "-j", "-o",    data_path, "--",
                    WORKLOAD, "threads", "4",  "20000", NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 90000);
    cr_assert_eq(code, 0, "ahprof record exited %d: %s", code, err);
    json_object *summary = json_tokener_parse(out);
    cr_assert_not_null(summary, "summary: %s", out);
    long long recorded = get_int(summary, "resent_records");
    cr_expect_eq(recorded, 0, "the BPF side hands each record over once");
    json_object_put(summary);
    free(out);
    free(err);

    json_object *report = report_json(), *v;
    cr_assert(json_object_object_get_ex(report, "resent_records", &v),
              "report --json has no resent_records");
    cr_assert_eq(json_object_get_type(v), json_type_int, "resent_records is %s, not a number",
                 json_object_to_json_string(v));
    cr_expect_eq(json_object_get_int64(v), recorded);
    cr_expect(get_int(report, "events") >= 4 * 20000 * 4, "events: %lld",
              get_int(report, "events"));
    json_object_put(report);
}
