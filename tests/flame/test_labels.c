/* test_labels.c - safe frame labels and creation sites (src/cli/model/asyncstack.c), directly. */
#include <criterion/criterion.h>
#include <string.h>

#include "model/asyncstack.h"

static const char *label(const char *s, size_t len)
{
    static char buf[AHP_LABEL_SIZE];
    size_t pos = 0;
    buf[0] = '\0';
    ahp_label_append(buf, sizeof(buf), &pos, s, len);
    ahp_label_finish(buf, sizeof(buf), &pos);
    return buf;
}

#define L(s) label(s, sizeof(s) - 1)

Test(labels, printable_ascii_is_kept)
{
    cr_expect_str_eq(L("REQ@request.c:142 request_start"), "REQ@request.c:142 request_start");
    cr_expect_str_eq(L("<script>alert(\"x\")</script>&'"), "<script>alert(\"x\")</script>&'");
}

Test(labels, separators_controls_and_non_ascii_are_escaped)
{
    cr_expect_str_eq(L("a;b"), "a\\x3bb");
    cr_expect_str_eq(L("back\\slash"), "back\\x5cslash");
    cr_expect_str_eq(L("new\nline\r\t"), "new\\x0aline\\x0d\\x09");
    cr_expect_str_eq(L("esc\x1b[31m"), "esc\\x1b[31m");
    cr_expect_str_eq(L("del\x7f caf\xc3\xa9"), "del\\x7f caf\\xc3\\xa9");
    cr_expect_str_eq(label("nul\0byte", 8), "nul\\x00byte");
}

Test(labels, a_trailing_number_is_not_a_count)
{
    cr_expect_str_eq(L("semi 42"), "semi_42");
    cr_expect_str_eq(L("v 1.5"), "v_1.5");
    cr_expect_str_eq(L("a 1 2"), "a 1_2");
    cr_expect_str_eq(L("42"), "42"); /* no space: nothing to misread */
    cr_expect_str_eq(L("x42"), "x42");
    cr_expect_str_eq(L("x 42y"), "x 42y");
    cr_expect_str_eq(L(""), "?");
}

Test(labels, cut_never_splits_an_escape)
{
    char buf[8];
    size_t pos = 0;
    ahp_label_append(buf, sizeof(buf), &pos, "ab;cd", 5);
    cr_expect_str_eq(buf, "ab\\x3bc"); /* 7 bytes and the NUL */
    pos = 0;
    ahp_label_append(buf, sizeof(buf), &pos, "abcd;e", 6);
    cr_expect_str_eq(buf, "abcd"); /* "\x3b" does not fit: cut before it */
    char big[AHP_LABEL_SIZE * 2];
    memset(big, ';', sizeof(big));
    cr_expect_eq(strlen(label(big, sizeof(big))), (AHP_LABEL_SIZE - 1) / 4 * 4);
}

static struct ahp_stack_frame fr(const char *func, const char *file)
{
    struct ahp_stack_frame f = {.ip = 0x1234, .line = 7};
    strcpy(f.func, func);
    strcpy(f.file, file);
    return f;
}

Test(labels, site_is_the_first_frame_outside_libah)
{
    struct ahp_stack_frame s[4] = {fr("ah_init", "resource.c"), fr("ah_bind", "resource.c"),
                                   fr("request_start", "request.c"), fr("main", "main.c")};
    cr_expect_eq(ahp_site_frame(s, 4), 2);
    cr_expect_eq(ahp_site_frame(s, 2), -1); /* all libah */
    cr_expect_eq(ahp_site_frame(s + 2, 2), 0);
    /* Unsymbolized: the innermost frame is still the probe's, inside ah_init. */
    struct ahp_stack_frame u[3] = {fr("", ""), fr("", ""), fr("", "")};
    cr_expect_eq(ahp_site_frame(u, 3), 1);
    cr_expect_eq(ahp_site_frame(u, 1), -1);
}
