/*
 * chat/styles: the built-in styles are the files of src/chat/styles/,
 * built into the binary: each has a name, a description and (but plain)
 * its instructions exactly as the file's "## Instructions" section says.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/styles.h"

/* The file of style id from the source tree, or NULL. */
static char *read_source(const char *id)
{
    const char *dir = getenv("RG_SOURCE_DIR");
    if (!dir) return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/src/chat/styles/%s.md", dir, id);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void test_builtins(void **state)
{
    (void)state;
    size_t n = 0;
    const struct rg_chat_style *v = rg_chat_styles(&n);
    assert_int_equal(n, 4);
    static const char *const ids[] = {"plain", "socratic", "devils-advocate", "chain-of-thought"};
    static const char *const names[] = {"Plain", "Socratic", "Devil's advocate",
                                        "Chain of thought"};
    static const char *const words[] = {NULL, "question", "against", "step by step"};
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(v[i].id, ids[i]);
        assert_string_equal(v[i].name, names[i]);
        assert_true(strlen(v[i].description) > 20);
        assert_null(strchr(v[i].description, '\n'));
        assert_ptr_equal(rg_chat_style_get(ids[i]), &v[i]);
        if (!words[i]) {
            assert_int_equal(v[i].prompt_len, 0);
            continue;
        }
        assert_true(v[i].prompt_len > 100);
        char *p = strndup(v[i].prompt, v[i].prompt_len);
        assert_non_null(strstr(p, words[i]));
        assert_true(p[0] != '\n' && p[0] != ' ' && p[strlen(p) - 1] != '\n');
        assert_null(strstr(p, "## "));
        free(p);
    }
    assert_null(rg_chat_style_get("nope"));
    assert_null(rg_chat_style_get(NULL));
    assert_null(rg_chat_style_source("custom-1"));
}

/* What is built in is the file as it is in the tree, and the prompt is the
 * file's Instructions section word for word. */
static void test_same_as_files(void **state)
{
    (void)state;
    size_t n = 0;
    const struct rg_chat_style *v = rg_chat_styles(&n);
    for (size_t i = 0; i < n; i++) {
        const char *src = read_source(v[i].id);
        if (!src) {
            fprintf(stderr, "SKIP: RG_SOURCE_DIR unset\n");
            return;
        }
        assert_string_equal(rg_chat_style_source(v[i].id), src);
        const char *ins = strstr(src, "## Instructions\n");
        assert_non_null(ins);
        if (v[i].prompt_len) assert_non_null(strstr(ins, v[i].prompt));
        assert_int_equal(strncmp(src + 2, v[i].name, strlen(v[i].name)), 0);
        assert_non_null(strstr(src, v[i].description));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_same_as_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
