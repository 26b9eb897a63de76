/*
 * GGUF files with general.alignment = 1 (the spec allows any power of two):
 * tensor data then starts at odd addresses, and every load of a weight must
 * cope (under the sanitizer build a misaligned load aborts). Each model of
 * ../shared/testdata/models is rewritten with alignment 1 and its data at an
 * odd offset, then loaded and decoded: the logits must equal the aligned
 * file's exactly (the same numbers, only their addresses differ).
 */
#include "test.h"

#include "common/alloc.h"
#include "engine/engine.h"
#include "engine/gguf/gguf.h"
#include "engine/kernels/kernels.h"

/* Rewrites src into path with alignment 1, padding the header so that the
 * first tensor's data lies at an odd offset. Returns that offset. */
static size_t rewrite_unaligned(const char *src, const char *path)
{
    char err[RG_ERR_SIZE];
    struct rg_gguf *g = rg_gguf_open(src, NULL, err);
    if (!g) fail_msg("%s: %s", src, err);
    for (int pad = 0; pad < 8; pad++) {
        struct rg_gguf_writer *w = rg_gguf_writer_new();
        assert_non_null(w);
        assert_int_equal(rg_gguf_writer_copy_kv(w, g), RG_OK);
        assert_int_equal(rg_gguf_writer_set_u32(w, "general.alignment", 1), RG_OK);
        char padding[8] = "xxxxxxx";
        padding[pad] = '\0';
        assert_int_equal(rg_gguf_writer_set_str(w, "rustygpt.test.padding", padding), RG_OK);
        for (int64_t i = 0; i < rg_gguf_n_tensors(g); i++) {
            const struct rg_gguf_tensor *t = rg_gguf_tensor(g, i);
            assert_int_equal(
                rg_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data), RG_OK);
        }
        if (rg_gguf_writer_write(w, path, err) != RG_OK) fail_msg("%s", err);
        rg_gguf_writer_free(w);
        struct rg_gguf *u = rg_gguf_open(path, NULL, err);
        if (!u) fail_msg("%s", err);
        assert_int_equal(rg_gguf_alignment(u), 1);
        size_t off = (size_t)((uintptr_t)rg_gguf_tensor(u, 0)->data % 8);
        rg_gguf_close(u);
        if (off % 2) {
            rg_gguf_close(g);
            return off;
        }
    }
    rg_gguf_close(g);
    fail_msg("could not place the tensor data at an odd offset");
    return 0;
}

/* Logits of every position of a fixed prompt, batched and then one token
 * at a time (the two paths of the forward pass). */
static float *decode_all(const char *path, int32_t n_tok, int32_t *n_vocab)
{
    char err[RG_ERR_SIZE];
    struct rg_model_params mp = rg_model_default_params();
    struct rg_model *m = rg_model_load(path, &mp, err);
    if (!m) fail_msg("%s: %s", path, err);
    int32_t nv = rg_model_info(m)->n_vocab;
    struct rg_ctx_params cp = rg_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 2;
    struct rg_ctx *c = rg_ctx_new(m, &cp, err);
    if (!c) fail_msg("%s", err);
    int32_t toks[16];
    for (int32_t i = 0; i < n_tok; i++)
        toks[i] = (int32_t)((i * 37 + 1) % nv);
    float *logits = rg_malloc_array((size_t)(2 * n_tok) * (size_t)nv, sizeof *logits);
    assert_non_null(logits);
    if (rg_decode(c, toks, n_tok, logits, true, err) != RG_OK) fail_msg("%s", err);
    assert_int_equal(rg_ctx_truncate(c, 0), RG_OK);
    for (int32_t i = 0; i < n_tok; i++)
        if (rg_decode(c, &toks[i], 1, logits + (size_t)(n_tok + i) * (size_t)nv, false, err))
            fail_msg("%s", err);
    rg_ctx_free(c);
    rg_model_free(m);
    *n_vocab = nv;
    return logits;
}

static void check_model(const char *rel)
{
    char src[512];
    if (!rg_test_data_path(src, sizeof src, rel)) {
        fprintf(stderr, "SKIP: ../shared/testdata/%s is absent\n", rel);
        skip();
    }
    char path[] = "/tmp/rg-align1-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    size_t off = rewrite_unaligned(src, path);
    enum { N = 6 };
    int32_t nv_a = 0, nv_u = 0;
    float *a = decode_all(src, N, &nv_a);
    float *u = decode_all(path, N, &nv_u);
    unlink(path);
    assert_int_equal(nv_a, nv_u);
    for (size_t i = 0; i < (size_t)(2 * N) * (size_t)nv_a; i++)
        if (a[i] != u[i])
            fail_msg("%s (data at offset %zu mod 8): logit %zu is %g, aligned file %g", rel, off, i,
                     (double)u[i], (double)a[i]);
    fprintf(stderr, "%s: alignment 1, data at offset %zu mod 8: same logits\n", rel, off);
    rg_free(a);
    rg_free(u);
}

static void test_f32(void **state)
{
    (void)state;
    check_model("models/tiny-f32.gguf");
}
static void test_f16(void **state)
{
    (void)state;
    check_model("models/tiny-f16.gguf");
}
static void test_q8_0(void **state)
{
    (void)state;
    check_model("models/tiny-q8_0.gguf");
}
static void test_q4_0(void **state)
{
    (void)state;
    check_model("models/tiny-q4_0.gguf");
}
static void test_q4_k_m(void **state)
{
    (void)state;
    check_model("models/tiny256-q4_k_m.gguf");
}
static void test_stories(void **state)
{
    (void)state;
    check_model("models/stories260K.gguf");
}

/* The kernel helpers themselves: a matrix at an odd address gives exactly
 * the products, rows and packed form of the same matrix aligned. */
static void test_kernels_misaligned(void **state)
{
    (void)state;
    rg_quant_init();
    rg_vec_init();
    struct rg_pool *pool = NULL;
    assert_int_equal(rg_pool_create(2, &pool), RG_OK);
    enum { K = 512, ROWS = 16, TOK = 5 };
    static const enum rg_type types[] = {RG_TYPE_F32,  RG_TYPE_F16,  RG_TYPE_Q8_0,
                                         RG_TYPE_Q4_0, RG_TYPE_Q4_K, RG_TYPE_Q6_K};
    float *src = rg_malloc_array((size_t)K * ROWS, sizeof *src);
    float *x = rg_malloc_array((size_t)K * TOK, sizeof *x);
    assert_true(src && x);
    for (size_t i = 0; i < (size_t)K * ROWS; i++)
        src[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    for (size_t i = 0; i < (size_t)K * TOK; i++)
        x[i] = (float)((i * 104729) % 1000) / 700.0f - 0.7f;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        enum rg_type t = types[ti];
        const struct rg_type_traits *tr = rg_type_traits(t);
        size_t row = rg_type_row_size(t, K), bytes = row * ROWS;
        uint8_t *al = rg_aligned_alloc(64, bytes), *raw = rg_aligned_alloc(64, bytes + 1);
        assert_true(al && raw);
        for (int r = 0; r < ROWS; r++)
            tr->from_float(src + (size_t)r * K, al + (size_t)r * row, K);
        uint8_t *mis = raw + 1; /* odd address */
        memcpy(mis, al, bytes);
        float ya[TOK * ROWS], ym[TOK * ROWS], ra[K], rm[K];
        assert_int_equal(rg_matmul(pool, t, al, ROWS, K, x, TOK, ya), RG_OK);
        assert_int_equal(rg_matmul(pool, t, mis, ROWS, K, x, TOK, ym), RG_OK);
        assert_memory_equal(ya, ym, sizeof ya);
        assert_int_equal(rg_get_row(t, al, K, 3, ra), RG_OK);
        assert_int_equal(rg_get_row(t, mis, K, 3, rm), RG_OK);
        assert_memory_equal(ra, rm, sizeof ra);
        size_t ps = rg_pack_size(t, ROWS, K);
        if (ps) {
            uint8_t *pa = rg_aligned_alloc(64, ps), *pm = rg_aligned_alloc(64, ps);
            assert_true(pa && pm);
            assert_int_equal(rg_pack(t, al, ROWS, K, pa), RG_OK);
            assert_int_equal(rg_pack(t, mis, ROWS, K, pm), RG_OK);
            assert_memory_equal(pa, pm, ps);
            rg_free(pa);
            rg_free(pm);
        }
        rg_free(al);
        rg_free(raw);
    }
    rg_free(src);
    rg_free(x);
    rg_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32),
        cmocka_unit_test(test_f16),
        cmocka_unit_test(test_q8_0),
        cmocka_unit_test(test_q4_0),
        cmocka_unit_test(test_q4_k_m),
        cmocka_unit_test(test_stories),
        cmocka_unit_test(test_kernels_misaligned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
