/* A generated title is cleaned to one short line: quotes, a "Title:" label
 * and a final full stop go, blank lines are skipped, spaces collapse, and a
 * long one is cut at a word (or, with no space, at a whole UTF-8 character). */
#include "test.h"

#include <string.h>

#include "api/chat_internal.h"
#include "common/str.h"

static const char *clean(const char *in)
{
    static char out[96];
    rg_api_chat_title_clean(in, out, sizeof out);
    return out;
}

static void test_plain_and_labelled(void **state)
{
    (void)state;
    assert_string_equal(clean("Rust lifetimes"), "Rust lifetimes");
    assert_string_equal(clean("\"Rust lifetimes.\""), "Rust lifetimes");
    assert_string_equal(clean("Title: **Borrowing in Rust**"), "Borrowing in Rust");
    assert_string_equal(clean("\n\n  \nSecond   line   title\nthird"), "Second line title");
    assert_string_equal(clean("# Heading title"), "Heading title");
    assert_string_equal(clean(""), "");
    assert_string_equal(clean("\"\" ...\n  \n"), "");
}

static void test_cut(void **state)
{
    (void)state;
    const char *t = clean("A very long title that goes on and on about many things beyond sixty bytes");
    assert_true(strlen(t) <= 60);
    assert_true(strlen(t) > 30);
    assert_true(t[strlen(t) - 1] != ' ');
    assert_non_null(strstr("A very long title that goes on and on about many things beyond sixty bytes", t));
    /* 30 two-byte characters and more, no space: cut at a character boundary */
    char in[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(in, "\xc3\xa9");
    t = clean(in);
    assert_true(strlen(t) <= 60);
    assert_true(strlen(t) % 2 == 0);
    assert_true(rg_utf8_valid(t, strlen(t)));
    /* a small output buffer is respected */
    char small[8];
    rg_api_chat_title_clean("Hello wonderful world", small, sizeof small);
    assert_true(strlen(small) < sizeof small);
    assert_true(rg_utf8_valid(small, strlen(small)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_labelled),
        cmocka_unit_test(test_cut),
    };
    return cmocka_run_group_tests_name("chat_title", tests, NULL, NULL);
}
