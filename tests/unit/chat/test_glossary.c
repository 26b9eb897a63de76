/*
 * chat/glossary: terms found without case and on word boundaries, in
 * UTF-8 text (docs/memory.md "Glossary"), at the right byte offsets.
 */
#include "test.h"

#include <string.h>

#include "chat/glossary.h"
#include "common/alloc.h"

static void test_case_and_boundaries(void **state)
{
    (void)state;
    assert_int_equal(rg_chat_gloss_find("Use RAII here", "raii"), 4);
    assert_int_equal(rg_chat_gloss_find("use raii.", "RAII"), 4);
    assert_int_equal(rg_chat_gloss_find("RAII", "RaIi"), 0);
    /* inside a word: no */
    assert_int_equal(rg_chat_gloss_find("BRAIIN", "raii"), -1);
    assert_int_equal(rg_chat_gloss_find("raiis", "raii"), -1);
    assert_int_equal(rg_chat_gloss_find("raii_guard", "raii"), -1);
    assert_int_equal(rg_chat_gloss_find("raii2", "raii"), -1);
    /* the first match on boundaries, past one that is not */
    assert_int_equal(rg_chat_gloss_find("xraii raii", "raii"), 6);
    /* punctuation around is a boundary */
    assert_int_equal(rg_chat_gloss_find("(raii)", "raii"), 1);
    assert_int_equal(rg_chat_gloss_find("a-raii-b", "raii"), 2);
    /* a term of several words, and one ending in punctuation */
    assert_int_equal(rg_chat_gloss_find("The Borrow Checker said no", "borrow checker"), 4);
    assert_int_equal(rg_chat_gloss_find("the borrow  checker", "borrow checker"), -1);
    assert_int_equal(rg_chat_gloss_find("I like C++ a lot", "c++"), 7);
    assert_int_equal(rg_chat_gloss_find("I like C++a", "c++"),
                     7); /* '+' ends it: no word after needed */
    assert_int_equal(rg_chat_gloss_find("CC++", "c++"), -1);
    /* spaces around the term do not count; an empty term never matches */
    assert_int_equal(rg_chat_gloss_find("a raii b", "  raii "), 2);
    assert_int_equal(rg_chat_gloss_find("a b", ""), -1);
    assert_int_equal(rg_chat_gloss_find("a b", "   "), -1);
    assert_int_equal(rg_chat_gloss_find("", "raii"), -1);
}

static void test_utf8(void **state)
{
    (void)state;
    /* Latin-1, Greek, Cyrillic and Latin Extended-A fold */
    assert_int_equal(rg_chat_gloss_find("Die ÜBERGRÖßE ist", "übergröße"), 4);
    assert_int_equal(rg_chat_gloss_find("ΣΟΦΙΑ", "σοφια"), 0);
    assert_int_equal(rg_chat_gloss_find("слово ПРАВДА", "правда"), 11);
    assert_int_equal(rg_chat_gloss_find("ŁÓDŹ", "łódź"), 0);
    /* non-ASCII letters are word characters: no match inside a word */
    assert_int_equal(rg_chat_gloss_find("éraii", "raii"), -1);
    assert_int_equal(rg_chat_gloss_find("raiié", "raii"), -1);
    assert_int_equal(rg_chat_gloss_find("日本raii", "raii"), -1);
    /* ... but general punctuation is not: an em dash, a quote, an ellipsis */
    assert_int_equal(rg_chat_gloss_find("x\xE2\x80\x94raii\xE2\x80\x9D", "raii"), 4);
    assert_int_equal(rg_chat_gloss_find("raii\xE2\x80\xA6", "raii"), 0);
    /* a non-ASCII term */
    assert_int_equal(rg_chat_gloss_find("über Café!", "CAFÉ"), 6);
    assert_int_equal(rg_chat_gloss_find("Cafés", "café"), -1);
    /* invalid bytes are neither letters nor a crash */
    assert_int_equal(rg_chat_gloss_find("\xFF raii \xC3", "raii"), 2);
}

static void test_fold_and_text(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(rg_chat_gloss_fold("AbC ÉÀ Ω Я", out, sizeof out), strlen("abc éà ω я"));
    assert_string_equal(out, "abc éà ω я");
    /* the folded text keeps its length: offsets are the original's */
    const char *s = "ÀÉÎ ŸÿĀ";
    assert_int_equal(rg_chat_gloss_fold(s, out, sizeof out), strlen(s));
    /* a small buffer ends on a whole character */
    assert_int_equal(rg_chat_gloss_fold("ÉÉ", out, 4), 2);
    assert_string_equal(out, "é");
    struct rg_chat_gloss_text *t = rg_chat_gloss_text_new("One RAII, two Borrow Checker.");
    assert_non_null(t);
    assert_int_equal(rg_chat_gloss_text_find(t, "raii"), 4);
    assert_int_equal(rg_chat_gloss_text_find(t, "BORROW CHECKER"), 14);
    assert_int_equal(rg_chat_gloss_text_find(t, "two borrow"), 10);
    assert_int_equal(rg_chat_gloss_text_find(t, "checke"), -1);
    rg_chat_gloss_text_free(t);
}

/* Out of memory: no match and no crash, then it works again. */
static void test_alloc_failure(void **state)
{
    (void)state;
    rg_alloc_fail_after(0);
    assert_null(rg_chat_gloss_text_new("Use RAII here"));
    assert_int_equal(rg_chat_gloss_find("Use RAII here", "raii"), -1);
    rg_alloc_fail_after(-1);
    assert_int_equal(rg_chat_gloss_find("Use RAII here", "raii"), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_and_boundaries),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_fold_and_text),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
