/* Unit tests for src/common: errors, allocation failure injection, buffers,
 * strings, UTF-8, arena. */
#include "test.h"

#include "common/alloc.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/str.h"

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(rg_strerror(RG_ENOMEM), "out of memory");
    assert_string_equal(rg_strerror(RG_OK), "success");
    assert_string_equal(rg_strerror(12345), "unknown error");
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_err_set(err, RG_EFORMAT, "bad %s at %d", "tensor", 7), RG_EFORMAT);
    assert_string_equal(err, "bad tensor at 7");
    assert_int_equal(rg_err_set(NULL, RG_EIO, "x"), RG_EIO);
}

static void test_buf_max(void **state)
{
    (void)state;
    struct rg_buf b;
    rg_buf_init(&b, 10);
    assert_int_equal(rg_buf_append_str(&b, "hello"), RG_OK);
    assert_int_equal(rg_buf_printf(&b, "%d", 1234), RG_OK);
    assert_string_equal(b.data, "hello1234");
    assert_int_equal(rg_buf_append_str(&b, "xy"), RG_ETOOBIG);
    assert_int_equal(b.len, 9); /* unchanged by the failed append */
    assert_int_equal(rg_buf_append_char(&b, 'z'), RG_OK);
    assert_int_equal(b.len, 10);
    char *s = rg_buf_steal(&b);
    assert_string_equal(s, "hello1234z");
    assert_null(b.data);
    rg_free(s);
    rg_buf_free(&b);

    /* no limit (max = SIZE_MAX): growth must not wrap the capacity to 0 */
    rg_buf_init(&b, SIZE_MAX);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(rg_buf_printf(&b, "%04d", i), RG_OK);
    assert_int_equal(b.len, 4000);
    assert_memory_equal(b.data + 3996, "0999", 4);
    rg_buf_free(&b);
}

static void test_buf_alloc_failure(void **state)
{
    (void)state;
    /* every allocation failing in turn: the buffer stays consistent */
    for (long n = 0; n < 4; n++) {
        struct rg_buf b;
        rg_buf_init(&b, 1 << 20);
        rg_alloc_fail_after(n);
        int rc = RG_OK;
        for (int i = 0; i < 100 && rc == RG_OK; i++)
            rc = rg_buf_append_str(&b, "0123456789");
        rg_alloc_fail_after(-1);
        assert_true(rc == RG_OK || rc == RG_ENOMEM);
        if (rc == RG_ENOMEM) assert_true(b.len % 10 == 0);
        rg_buf_free(&b);
    }
}

static void test_parse_numbers(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(rg_parse_i64("42", 0, 100, &v), RG_OK);
    assert_int_equal(v, 42);
    assert_int_equal(rg_parse_i64("42x", 0, 100, &v), RG_EINVAL);
    assert_int_equal(rg_parse_i64("", 0, 100, &v), RG_EINVAL);
    assert_int_equal(rg_parse_i64("101", 0, 100, &v), RG_ERANGE);
    assert_int_equal(rg_parse_i64("99999999999999999999999", INT64_MIN, INT64_MAX, &v), RG_ERANGE);
    double d = 0;
    assert_int_equal(rg_parse_double("0.5", 0, 2, &d), RG_OK);
    assert_true(d == 0.5);
    assert_int_equal(rg_parse_double("nan", 0, 2, &d), RG_EINVAL);
    bool b = false;
    assert_int_equal(rg_parse_bool("Yes", &b), RG_OK);
    assert_true(b);
    assert_int_equal(rg_parse_bool("maybe", &b), RG_EINVAL);
}

static void test_strings(void **state)
{
    (void)state;
    char small[4];
    assert_int_equal(rg_strlcpy(small, "abcdef", sizeof small), 6);
    assert_string_equal(small, "abc");
    assert_true(rg_str_starts_with("/v1/models", "/v1/"));
    assert_false(rg_str_ends_with("a.gguf", ".bin"));
    assert_true(rg_ct_equal("secret", 6, "secret", 6));
    assert_false(rg_ct_equal("secret", 6, "secreT", 6));
    assert_false(rg_ct_equal("secret", 6, "secret!", 7));
}

static void test_utf8(void **state)
{
    (void)state;
    const char *e = "caf\xc3\xa9"; /* café */
    assert_int_equal(rg_utf8_valid_prefix(e, 5), 5);
    assert_int_equal(rg_utf8_valid_prefix(e, 4), 3); /* cut inside é */
    assert_false(rg_utf8_valid("\xc0\x80", 2));      /* overlong */
    assert_false(rg_utf8_valid("\xed\xa0\x80", 3));  /* surrogate */
    assert_true(rg_utf8_valid("\xf0\x9f\x98\x80", 4));
}

static void test_arena(void **state)
{
    (void)state;
    struct rg_arena a;
    rg_arena_init(&a, 128, 1024);
    char *p = rg_arena_alloc(&a, 10);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 64, 0);
    assert_non_null(rg_arena_alloc(&a, 500)); /* bigger than a block */
    assert_null(rg_arena_alloc(&a, 1000));    /* past max */
    assert_string_equal(rg_arena_strdup(&a, "hi"), "hi");
    rg_arena_reset(&a);
    assert_int_equal(a.used, 0);
    assert_non_null(rg_arena_alloc(&a, 900));
    rg_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_buf_max),
        cmocka_unit_test(test_buf_alloc_failure),
        cmocka_unit_test(test_parse_numbers),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
