/*
 * `rustygpt run` and `rustygpt tokenize` as a user runs them: stories260K's
 * greedy continuations must be exactly llama.cpp's, byte for byte, for every
 * reference prompt; tokenize must print llama.cpp's ids; bad input is an
 * error with the right exit code.
 */
#include "test.h"

#include "harness.h"

static void test_stories_greedy_matches_llama_cpp(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(model, "models/stories260K.gguf");
    for (int k = 0; k < 5; k++) {
        char rel[128], pp[512], gp[512];
        snprintf(rel, sizeof rel, "reference/stories260K/kvf32-nofa/p%d.prompt.txt", k);
        if (!rg_test_data_path(pp, sizeof pp, rel)) skip();
        snprintf(rel, sizeof rel, "reference/stories260K/kvf32-nofa/p%d.gen.txt", k);
        if (!rg_test_data_path(gp, sizeof gp, rel)) skip();
        size_t lp = 0, lg = 0;
        char *prompt = rg_test_read_file(pp, &lp), *want = rg_test_read_file(gp, &lg);
        assert_non_null(prompt);
        assert_non_null(want);
        struct rg_run r;
        const char *args[] = {"run", model,   prompt, "-n", "64", "--temp",
                              "0",   "--raw", "-t",   "2",  NULL};
        assert_int_equal(rg_run_cli(args, NULL, NULL, 60, &r), 0);
        if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
        if (r.out_len != lg || memcmp(r.out, want, lg))
            fail_msg("prompt %d:\n got  '%s'\n want '%s'", k, r.out, want);
        rg_run_free(&r);
        free(prompt);
        free(want);
    }
}

static void test_seeded_sampling_is_repeatable(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(model, "models/stories260K.gguf");
    struct rg_run a, b, c;
    const char *args[] = {"run",    model, "Once upon a time", "-n", "40",
                          "--temp", "0.9", "--seed",           "42", "--raw",
                          NULL};
    assert_int_equal(rg_run_cli(args, NULL, NULL, 60, &a), 0);
    assert_int_equal(rg_run_cli(args, NULL, NULL, 60, &b), 0);
    assert_int_equal(a.status, 0);
    assert_true(a.out_len > 20);
    assert_string_equal(a.out, b.out);
    const char *other[] = {"run",    model, "Once upon a time", "-n", "40",
                           "--temp", "0.9", "--seed",           "7",  "--raw",
                           NULL};
    assert_int_equal(rg_run_cli(other, NULL, NULL, 60, &c), 0);
    assert_string_not_equal(a.out, c.out);
    rg_run_free(&a);
    rg_run_free(&b);
    rg_run_free(&c);
}

static void test_tokenize_cli(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(vocab, "vocab/ggml-vocab-llama-spm.gguf");
    struct rg_run r;
    const char *args[] = {"tokenize", vocab, "-", "--ids", NULL};
    assert_int_equal(rg_run_cli(args, NULL, "Hello world", 30, &r), 0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "15043 3186\n");
    rg_run_free(&r);
    RG_SKIP_WITHOUT_TESTDATA(gpt2, "vocab/ggml-vocab-gpt-2.gguf");
    const char *bpe[] = {"tokenize", gpt2, "Hello world", "--ids", NULL};
    assert_int_equal(rg_run_cli(bpe, NULL, NULL, 30, &r), 0);
    assert_string_equal(r.out, "15496 995\n");
    rg_run_free(&r);
    const char *special[] = {"tokenize", vocab, "Hello world", "--ids", "--special", NULL};
    assert_int_equal(rg_run_cli(special, NULL, NULL, 30, &r), 0);
    assert_string_equal(r.out, "1 15043 3186\n");
    rg_run_free(&r);
}

static void test_errors(void **state)
{
    (void)state;
    struct rg_run r;
    const char *missing[] = {"run", "/nonexistent/model.gguf", "hi", NULL};
    assert_int_equal(rg_run_cli(missing, NULL, NULL, 30, &r), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "/nonexistent/model.gguf"));
    rg_run_free(&r);
    const char *bad_flag[] = {"run", "x.gguf", "--temp", "hot", NULL};
    assert_int_equal(rg_run_cli(bad_flag, NULL, NULL, 30, &r), 0);
    assert_int_equal(r.status, 2);
    rg_run_free(&r);
    const char *bench_usage[] = {"bench", NULL};
    assert_int_equal(rg_run_cli(bench_usage, NULL, NULL, 30, &r), 0);
    assert_int_equal(r.status, 2);
    rg_run_free(&r);
}

static void test_bench_json(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(model, "models/tiny-q8_0.gguf");
    struct rg_run r;
    const char *args[] = {"bench", "-m", model, "-p", "16",     "-n", "8",
                          "-t",    "2",  "-r",  "1",  "--json", NULL};
    assert_int_equal(rg_run_cli(args, NULL, NULL, 60, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "\"pp_tok_s\": "));
    assert_non_null(strstr(r.out, "\"tg_tok_s\": "));
    const char *rss = strstr(r.out, "\"peak_rss_mb\": ");
    assert_non_null(rss);
    assert_true(atof(rss + 15) > 0);
    rg_run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories_greedy_matches_llama_cpp),
        cmocka_unit_test(test_seeded_sampling_is_repeatable),
        cmocka_unit_test(test_tokenize_cli),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bench_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
