/*
 * The forward pass against llama.cpp's logits (../shared/testdata/reference,
 * the kvf32-nofa variant): for every model and prompt, the batched prompt
 * logits and the teacher-forced single-token logits must agree: mean KL
 * divergence of the softmaxes under 1e-3, top-1 agreement at 99% of positions
 * or more, and for F32/F16 models a max relative logit error under 1e-3.
 */
#include "test.h"

#include <math.h>

#include "engine/engine.h"

struct stats {
    double kl_sum, max_rel;
    long rows, top1_same;
};

static void compare_row(const float *ours, const float *ref, int n, struct stats *st)
{
    double mo = -INFINITY, mr = -INFINITY, span = 0;
    int ao = 0, ar = 0;
    for (int i = 0; i < n; i++) {
        if (ours[i] > mo) mo = ours[i], ao = i;
        if (ref[i] > mr) mr = ref[i], ar = i;
        if (fabs(ref[i]) > span) span = fabs(ref[i]);
    }
    double zo = 0, zr = 0;
    for (int i = 0; i < n; i++)
        zo += exp(ours[i] - mo), zr += exp(ref[i] - mr);
    double kl = 0;
    for (int i = 0; i < n; i++) {
        double pr = exp(ref[i] - mr) / zr, lpo = ours[i] - mo - log(zo),
               lpr = ref[i] - mr - log(zr);
        kl += pr * (lpr - lpo);
        double rel = fabs(ours[i] - ref[i]) / (span > 0 ? span : 1);
        if (rel > st->max_rel) st->max_rel = rel;
    }
    st->kl_sum += kl;
    st->rows++;
    st->top1_same += ao == ar;
}

static void *read_all(const char *dir, int k, const char *suffix, size_t *len)
{
    char path[600];
    snprintf(path, sizeof path, "%s/p%d.%s", dir, k, suffix);
    return rg_test_read_file(path, len);
}

/* Returns false if the reference is absent. */
static bool check_model_kv(const char *model_rel, const char *ref_rel, int n_prompts,
                           bool exact_float, double min_top1, enum rg_type kv)
{
    char mpath[512], rdir[512];
    if (!rg_test_data_path(mpath, sizeof mpath, model_rel) ||
        !rg_test_data_path(rdir, sizeof rdir, ref_rel)) {
        fprintf(stderr, "SKIP: %s or %s is absent\n", model_rel, ref_rel);
        return false;
    }
    char err[RG_ERR_SIZE];
    struct rg_model *m = rg_model_load(mpath, NULL, err);
    if (!m) fail_msg("%s: %s", model_rel, err);
    int nv = rg_model_info(m)->n_vocab;
    struct stats st = {0};
    for (int k = 0; k < n_prompts; k++) {
        size_t lp = 0, ll = 0, lg = 0, lgl = 0;
        int32_t *prompt = read_all(rdir, k, "prompt_ids.i32", &lp);
        float *logits = read_all(rdir, k, "logits.f32", &ll);
        int32_t *gen = read_all(rdir, k, "gen_ids.i32", &lg);
        float *gen_logits = read_all(rdir, k, "gen_logits.f32", &lgl);
        assert_non_null(prompt);
        int np = (int)(lp / 4), ng = (int)(lg / 4);
        assert_int_equal(ll, (size_t)np * nv * 4);
        struct rg_ctx_params cp = rg_ctx_default_params();
        cp.n_ctx = np + ng + 8;
        cp.n_threads = 2;
        cp.kv_type = kv;
        struct rg_ctx *c = rg_ctx_new(m, &cp, err);
        if (!c) fail_msg("%s", err);
        float *out = malloc((size_t)np * nv * sizeof *out);
        assert_int_equal(rg_decode(c, prompt, np, out, true, err), RG_OK);
        for (int i = 0; i < np; i++)
            compare_row(out + (size_t)i * nv, logits + (size_t)i * nv, nv, &st);
        for (int j = 0; j < ng; j++) {
            assert_int_equal(rg_decode(c, &gen[j], 1, out, false, err), RG_OK);
            compare_row(out, gen_logits + (size_t)j * nv, nv, &st);
        }
        rg_ctx_free(c);
        free(out);
        free(prompt);
        free(logits);
        free(gen);
        free(gen_logits);
    }
    double mean_kl = st.kl_sum / (double)st.rows, top1 = (double)st.top1_same / (double)st.rows;
    fprintf(stderr, "%-22s rows %4ld  mean KL %.2e  top-1 %.4f  max rel err %.2e\n", model_rel,
            st.rows, mean_kl, top1, st.max_rel);
    if (!(mean_kl < 1e-3)) fail_msg("%s: mean KL %g", model_rel, mean_kl);
    if (!(top1 >= min_top1)) fail_msg("%s: top-1 agreement %g", model_rel, top1);
    if (exact_float && !(st.max_rel < 1e-3))
        fail_msg("%s: max relative error %g", model_rel, st.max_rel);
    rg_model_free(m);
    return true;
}

static bool check_model(const char *model_rel, const char *ref_rel, int n_prompts, bool exact_float,
                        double min_top1)
{
    return check_model_kv(model_rel, ref_rel, n_prompts, exact_float, min_top1, RG_TYPE_F32);
}

static void test_stories(void **state)
{
    (void)state;
    if (!check_model("models/stories260K.gguf", "reference/stories260K/kvf32-nofa", 5, true, 0.99))
        skip();
}

/*
 * exact: logits within 1e-3 of the row's largest (the F32/F16 bar), also
 * held where quantized matrices sum in llama.cpp's order (Q4_0, Q8_0 on the
 * tiny shapes). The tiny256 models with Q8_0 and K-quant weights amplify
 * last-bit differences (an activation rounded to the other int8 value; see
 * the reference README: llama.cpp's own two variants differ there by 1.2e-2)
 * so they are held to KL < 1e-3 and top-1 >= 99% only.
 */
#define TINY(fn, name, exact, top1)                                                                \
    static void fn(void **state)                                                                   \
    {                                                                                              \
        (void)state;                                                                               \
        if (!check_model("models/" name ".gguf", "reference/tiny/" name "/kvf32-nofa", 3, exact,   \
                         top1))                                                                    \
            skip();                                                                                \
    }
TINY(test_tiny_f32, "tiny-f32", true, 0.99)
TINY(test_tiny_f16, "tiny-f16", true, 0.99)
TINY(test_tiny_q8_0, "tiny-q8_0", true, 0.99)
TINY(test_tiny_q4_0, "tiny-q4_0", true, 0.99)
TINY(test_tiny256_f16, "tiny256-f16", true, 0.99)
TINY(test_tiny256_q8_0, "tiny256-q8_0", false, 0.99)
TINY(test_tiny256_q4_0, "tiny256-q4_0", true, 0.99)
TINY(test_tiny256_q4_k_m, "tiny256-q4_k_m", false, 0.99)

/*
 * A KV cache of half floats against llama.cpp with its default F16 cache
 * (the kvf16-fa references). Its flash attention also rounds Q to half and
 * sums V in half precision, which we do not, so logits differ by about
 * 1e-3 of their range: the float models keep top-1 everywhere, the random
 * quantized ones, whose activations flip to the other int8 value on such
 * differences, keep it at 95% of positions or more; KL stays under 1e-3.
 */
static void test_kv_f16(void **state)
{
    (void)state;
    if (!check_model_kv("models/stories260K.gguf", "reference/stories260K/kvf16-fa", 5, false, 0.99,
                        RG_TYPE_F16))
        skip();
    static const struct {
        const char *name;
        double top1;
    } tiny[] = {{"tiny-f32", 0.99},     {"tiny-f16", 0.99},      {"tiny-q8_0", 0.95},
                {"tiny-q4_0", 0.95},    {"tiny256-f16", 0.99},   {"tiny256-q8_0", 0.95},
                {"tiny256-q4_0", 0.95}, {"tiny256-q4_k_m", 0.95}};
    for (size_t i = 0; i < sizeof tiny / sizeof tiny[0]; i++) {
        char m[128], r[128];
        snprintf(m, sizeof m, "models/%s.gguf", tiny[i].name);
        snprintf(r, sizeof r, "reference/tiny/%s/kvf16-fa", tiny[i].name);
        check_model_kv(m, r, 3, false, tiny[i].top1, RG_TYPE_F16);
    }
}

static void test_context_overflow_and_bad_tokens(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(path, "models/tiny-f32.gguf");
    char err[RG_ERR_SIZE];
    struct rg_model *m = rg_model_load(path, NULL, err);
    assert_non_null(m);
    struct rg_ctx_params cp = rg_ctx_default_params();
    cp.n_ctx = 4;
    struct rg_ctx *c = rg_ctx_new(m, &cp, err);
    assert_non_null(c);
    int32_t toks[5] = {1, 2, 3, 4, 5};
    assert_int_equal(rg_decode(c, toks, 5, NULL, false, err), RG_EOVERFLOW);
    assert_non_null(strstr(err, "context"));
    assert_int_equal(rg_ctx_n_past(c), 0);
    int32_t bad = 100000;
    assert_int_equal(rg_decode(c, &bad, 1, NULL, false, err), RG_EINVAL);
    assert_int_equal(rg_decode(c, toks, 4, NULL, false, err), RG_OK);
    assert_int_equal(rg_ctx_n_past(c), 4);
    assert_int_equal(rg_ctx_truncate(c, 2), RG_OK);
    assert_int_equal(rg_ctx_truncate(c, 3), RG_EINVAL);
    assert_int_equal(rg_decode(c, toks, 2, NULL, false, err), RG_OK);
    rg_ctx_free(c);
    rg_model_free(m);
}

/* Three sequences decoded together give exactly the logits each gives alone. */
static void test_batched_sequences_match_single(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(path, "models/stories260K.gguf");
    char err[RG_ERR_SIZE], rdir[512];
    if (!rg_test_data_path(rdir, sizeof rdir, "reference/stories260K/kvf32-nofa")) skip();
    struct rg_model *m = rg_model_load(path, NULL, err);
    assert_non_null(m);
    int nv = rg_model_info(m)->n_vocab;
    enum { NS = 3, STEPS = 5 };
    int32_t *prompt[NS], *gen[NS];
    int np[NS];
    float *single[NS];
    for (int k = 0; k < NS; k++) {
        size_t lp = 0, lg = 0;
        prompt[k] = read_all(rdir, k, "prompt_ids.i32", &lp);
        gen[k] = read_all(rdir, k, "gen_ids.i32", &lg);
        np[k] = (int)(lp / 4);
        single[k] = malloc((size_t)(STEPS + 1) * nv * sizeof(float));
        struct rg_ctx_params cp = rg_ctx_default_params();
        cp.n_ctx = 64;
        struct rg_ctx *c = rg_ctx_new(m, &cp, err);
        assert_int_equal(rg_decode(c, prompt[k], np[k], single[k], false, err), RG_OK);
        for (int j = 0; j < STEPS; j++)
            assert_int_equal(
                rg_decode(c, &gen[k][j], 1, single[k] + (size_t)(j + 1) * nv, false, err), RG_OK);
        rg_ctx_free(c);
    }
    struct rg_ctx_params cp = rg_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_seq = NS;
    struct rg_ctx *c = rg_ctx_new(m, &cp, err);
    assert_non_null(c);
    /* all prompts in one batch, interleaved */
    struct rg_batch_item items[64];
    int n = 0;
    for (int i = 0; i < 16; i++)
        for (int k = 0; k < NS; k++)
            if (i < np[k]) items[n++] = (struct rg_batch_item){prompt[k][i], k, i == np[k] - 1};
    float *out = malloc((size_t)NS * nv * sizeof(float));
    assert_int_equal(rg_decode_batch(c, items, n, out, err), RG_OK);
    /* logits rows come in item order: the sequence whose prompt ends first comes first */
    int order[NS], no = 0;
    for (int i = 0; i < n; i++)
        if (items[i].logits) order[no++] = items[i].seq;
    assert_int_equal(no, NS);
    for (int r = 0; r < NS; r++)
        assert_memory_equal(out + (size_t)r * nv, single[order[r]], (size_t)nv * sizeof(float));
    for (int j = 0; j < STEPS; j++) {
        for (int k = 0; k < NS; k++)
            items[k] = (struct rg_batch_item){gen[k][j], k, true};
        assert_int_equal(rg_decode_batch(c, items, NS, out, err), RG_OK);
        for (int k = 0; k < NS; k++)
            assert_memory_equal(out + (size_t)k * nv, single[k] + (size_t)(j + 1) * nv,
                                (size_t)nv * sizeof(float));
    }
    for (int k = 0; k < NS; k++)
        assert_int_equal(rg_ctx_seq_past(c, k), np[k] + STEPS);
    /* bad input changes nothing */
    items[0] = (struct rg_batch_item){1, NS, true};
    assert_int_equal(rg_decode_batch(c, items, 1, out, err), RG_EINVAL);
    items[0] = (struct rg_batch_item){-1, 0, true};
    assert_int_equal(rg_decode_batch(c, items, 1, out, err), RG_EINVAL);
    assert_int_equal(rg_ctx_seq_past(c, 0), np[0] + STEPS);
    assert_int_equal(rg_ctx_seq_truncate(c, 1, 2), RG_OK);
    assert_int_equal(rg_ctx_seq_past(c, 1), 2);
    assert_int_equal(rg_ctx_seq_truncate(c, 1, 3), RG_EINVAL);
    assert_int_equal(rg_ctx_seq_past(c, 7), -1);
    /* a sequence that takes another's history continues it exactly */
    int32_t hist = np[0] + STEPS - 1;
    assert_int_equal(rg_ctx_seq_copy(c, 0, 2, 0, hist + 2), RG_EINVAL); /* more than seq 0 has */
    assert_int_equal(rg_ctx_seq_copy(c, 0, 0, 0, hist), RG_EINVAL);
    assert_int_equal(rg_ctx_seq_copy(c, 0, NS, 0, hist), RG_EINVAL);
    assert_int_equal(rg_ctx_seq_copy(c, 0, 2, np[2] + STEPS + 1, hist), RG_EINVAL);
    assert_int_equal(rg_ctx_seq_past(c, 2), np[2] + STEPS); /* refusals changed nothing */
    /* seq 2 keeps its first position (BOS, the same in both) and copies the rest */
    assert_int_equal(prompt[2][0], prompt[0][0]);
    assert_int_equal(rg_ctx_seq_copy(c, 0, 2, 1, hist), RG_OK);
    assert_int_equal(rg_ctx_seq_past(c, 2), hist);
    items[0] = (struct rg_batch_item){gen[0][STEPS - 1], 2, true};
    assert_int_equal(rg_decode_batch(c, items, 1, out, err), RG_OK);
    assert_memory_equal(out, single[0] + (size_t)STEPS * nv, (size_t)nv * sizeof(float));
    rg_ctx_free(c);
    free(out);
    for (int k = 0; k < NS; k++) {
        free(prompt[k]);
        free(gen[k]);
        free(single[k]);
    }
    rg_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories),
        cmocka_unit_test(test_tiny_f32),
        cmocka_unit_test(test_tiny_f16),
        cmocka_unit_test(test_tiny_q8_0),
        cmocka_unit_test(test_tiny_q4_0),
        cmocka_unit_test(test_tiny256_f16),
        cmocka_unit_test(test_tiny256_q8_0),
        cmocka_unit_test(test_tiny256_q4_0),
        cmocka_unit_test(test_tiny256_q4_k_m),
        cmocka_unit_test(test_context_overflow_and_bad_tokens),
        cmocka_unit_test(test_batched_sequences_match_single),
        cmocka_unit_test(test_kv_f16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
