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
            fail_msg("%s (data at offset %zu mod 8): logit %zu is %g, aligned file %g", rel, off,
                     i, (double)u[i], (double)a[i]);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32),  cmocka_unit_test(test_f16),    cmocka_unit_test(test_q8_0),
        cmocka_unit_test(test_q4_0), cmocka_unit_test(test_q4_k_m), cmocka_unit_test(test_stories),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
