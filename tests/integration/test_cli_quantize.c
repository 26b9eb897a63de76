/*
 * `rustygpt quantize`: stories260K converted to F16 keeps llama.cpp's greedy
 * continuation for every reference prompt; Q8_0 keeps it for the first
 * prompt (later prompts can flip on near-ties in repetitive text); Q4_0 and
 * Q4_K_M files load and generate; the mix picks llama.cpp's per-tensor types
 * and fallbacks; bad input is an error.
 */
#include "test.h"

#include <jansson.h>

#include "engine/gguf/gguf.h"
#include "harness.h"

static char dir[] = "/tmp/rg-quant-XXXXXX";

static void quantize(const char *in, const char *out, const char *type)
{
    struct rg_run r;
    const char *args[] = {"quantize", in, out, type, NULL};
    assert_int_equal(rg_run_cli(args, NULL, NULL, 120, &r), 0);
    if (r.status != 0) fail_msg("quantize %s: %s", type, r.err);
    rg_run_free(&r);
}

static void greedy_equals(const char *model, int k, bool must)
{
    char rel[128], pp[512], gp[512];
    snprintf(rel, sizeof rel, "reference/stories260K/kvf32-nofa/p%d.prompt.txt", k);
    assert_non_null(rg_test_data_path(pp, sizeof pp, rel));
    snprintf(rel, sizeof rel, "reference/stories260K/kvf32-nofa/p%d.gen.txt", k);
    assert_non_null(rg_test_data_path(gp, sizeof gp, rel));
    size_t lp = 0, lg = 0;
    char *prompt = rg_test_read_file(pp, &lp), *want = rg_test_read_file(gp, &lg);
    struct rg_run r;
    const char *args[] = {"run", model, prompt, "-n", "64", "--temp", "0", "--raw", NULL};
    assert_int_equal(rg_run_cli(args, NULL, NULL, 60, &r), 0);
    assert_int_equal(r.status, 0);
    bool same = r.out_len == lg && !memcmp(r.out, want, lg);
    if (must && !same) fail_msg("%s p%d:\n got  %s\n want %s", model, k, r.out, want);
    if (!must) assert_true(r.out_len > 20);
    rg_run_free(&r);
    free(prompt);
    free(want);
}

static void test_stories_f16_q8_q4(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(src, "models/stories260K.gguf");
    assert_non_null(mkdtemp(dir));
    char f16[300], q8[300], q4[300];
    snprintf(f16, sizeof f16, "%s/st-f16.gguf", dir);
    snprintf(q8, sizeof q8, "%s/st-q8_0.gguf", dir);
    snprintf(q4, sizeof q4, "%s/st-q4_0.gguf", dir);
    quantize(src, f16, "F16");
    quantize(src, q8, "Q8_0");
    quantize(src, q4, "Q4_0");
    for (int k = 0; k < 5; k++)
        greedy_equals(f16, k, true);
    greedy_equals(q8, 0, true);
    greedy_equals(q4, 0, false);

    /* per-tensor types: ffn_down rows of 172 do not fit 32-blocks -> F16 */
    char err[RG_ERR_SIZE];
    struct rg_gguf *g = rg_gguf_open(q8, NULL, err);
    assert_non_null(g);
    assert_int_equal(rg_gguf_find_tensor(g, "blk.0.attn_q.weight")->type, RG_TYPE_Q8_0);
    assert_int_equal(rg_gguf_find_tensor(g, "blk.0.ffn_down.weight")->type, RG_TYPE_F16);
    assert_int_equal(rg_gguf_find_tensor(g, "blk.0.attn_norm.weight")->type, RG_TYPE_F32);
    uint32_t ft;
    assert_int_equal(rg_gguf_get_u32(g, "general.file_type", &ft), RG_OK);
    assert_int_equal(ft, 7);
    rg_gguf_close(g);
}

static void test_q4_k_m_mix(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(src, "models/tiny256-f16.gguf");
    char out[300];
    snprintf(out, sizeof out, "%s/t256-q4km.gguf", dir);
    quantize(src, out, "Q4_K_M");
    char err[RG_ERR_SIZE];
    struct rg_gguf *g = rg_gguf_open(out, NULL, err);
    assert_non_null(g);
    /* llama.cpp's recipe: output Q6_K; attn_v/ffn_down of "more bits" layers Q6_K; the rest Q4_K */
    assert_int_equal(rg_gguf_find_tensor(g, "output.weight")->type, RG_TYPE_Q6_K);
    assert_int_equal(rg_gguf_find_tensor(g, "blk.0.attn_q.weight")->type, RG_TYPE_Q4_K);
    assert_int_equal(rg_gguf_find_tensor(g, "blk.1.ffn_down.weight")->type, RG_TYPE_Q6_K);
    rg_gguf_close(g);
    struct rg_run r;
    const char *args[] = {"run", out, "Once upon a time", "-n", "8", "--temp", "0", "--raw", NULL};
    assert_int_equal(rg_run_cli(args, NULL, NULL, 60, &r), 0);
    assert_int_equal(r.status, 0);
    rg_run_free(&r);
}

/* The 2- and 3-bit mixes: their base types and the tensors they widen. */
static void test_low_bit_mixes(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(src, "models/tiny256-f16.gguf");
    static const struct {
        const char *mix;
        enum rg_type q, v;
    } M[] = {{"Q2_K", RG_TYPE_Q2_K, RG_TYPE_Q3_K},
             {"Q3_K_S", RG_TYPE_Q3_K, RG_TYPE_Q3_K},
             {"Q3_K_M", RG_TYPE_Q3_K, RG_TYPE_Q5_K},
             {"Q3_K_L", RG_TYPE_Q3_K, RG_TYPE_Q5_K}};
    for (size_t i = 0; i < sizeof M / sizeof M[0]; i++) {
        char out[300];
        snprintf(out, sizeof out, "%s/t256-%s.gguf", dir, M[i].mix);
        quantize(src, out, M[i].mix);
        char err[RG_ERR_SIZE];
        struct rg_gguf *g = rg_gguf_open(out, NULL, err);
        assert_non_null(g);
        assert_int_equal(rg_gguf_find_tensor(g, "output.weight")->type, RG_TYPE_Q6_K);
        assert_int_equal(rg_gguf_find_tensor(g, "blk.0.attn_q.weight")->type, M[i].q);
        assert_int_equal(rg_gguf_find_tensor(g, "blk.0.attn_v.weight")->type, M[i].v);
        rg_gguf_close(g);
        struct rg_run r;
        const char *args[] = {"run",   out, "Once upon a time", "-n", "4", "--temp", "0",
                              "--raw", NULL};
        assert_int_equal(rg_run_cli(args, NULL, NULL, 60, &r), 0);
        if (r.status != 0) fail_msg("%s: %s", M[i].mix, r.err);
        rg_run_free(&r);
    }
}

static void test_errors(void **state)
{
    (void)state;
    struct rg_run r;
    const char *bad_type[] = {"quantize", "a.gguf", "b.gguf", "Q9_9", NULL};
    assert_int_equal(rg_run_cli(bad_type, NULL, NULL, 10, &r), 0);
    assert_int_equal(r.status, 2);
    rg_run_free(&r);
    const char *missing[] = {"quantize", "/nonexistent.gguf", "/tmp/x.gguf", "Q8_0", NULL};
    assert_int_equal(rg_run_cli(missing, NULL, NULL, 10, &r), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "/nonexistent.gguf"));
    rg_run_free(&r);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (dir[strlen(dir) - 1] != 'X') assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories_f16_q8_q4),
        cmocka_unit_test(test_q4_k_m_mix),
        cmocka_unit_test(test_low_bit_mixes),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
