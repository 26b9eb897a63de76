/*
 * GGUF reader and writer: real files from llama.cpp, a write/read round trip,
 * and a malformed corpus (every truncation of a valid file, lying counts and
 * sizes, bad types) that must give an error naming the problem, never a crash
 * (this binary also runs under ASan/UBSan).
 */
#include "test.h"

#include <math.h>

#include "common/alloc.h"
#include "common/err.h"
#include "engine/gguf/gguf.h"

/* ---- a tiny byte builder for hand-made files ---- */
struct bb {
    uint8_t *p;
    size_t n, cap;
};
static void bb_put(struct bb *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void bb_u32(struct bb *b, uint32_t v)
{
    bb_put(b, &v, 4);
}
static void bb_u64(struct bb *b, uint64_t v)
{
    bb_put(b, &v, 8);
}
static void bb_str(struct bb *b, const char *s)
{
    bb_u64(b, strlen(s));
    bb_put(b, s, strlen(s));
}
static void bb_pad(struct bb *b, size_t a)
{
    uint8_t z = 0;
    while (b->n % a)
        bb_put(b, &z, 1);
}

/* Offsets of interesting fields in the file built by build_valid(). */
struct layout {
    size_t n_tensors, n_kv, key1_len, kv1_type, arr_type, arr_count, t_ndims, t_ne0, t_type,
        t_offset, data;
};

/* A valid v3 file: 3 keys (u32, string array, string), 2 F32 tensors [4] and [8,2]. */
static struct bb build_valid(struct layout *L)
{
    struct bb b = {0};
    bb_put(&b, "GGUF", 4);
    bb_u32(&b, 3);
    L->n_tensors = b.n;
    bb_u64(&b, 2);
    L->n_kv = b.n;
    bb_u64(&b, 3);
    L->key1_len = b.n;
    bb_str(&b, "test.count");
    L->kv1_type = b.n;
    bb_u32(&b, RG_GGUF_UINT32);
    bb_u32(&b, 42);
    bb_str(&b, "test.words");
    bb_u32(&b, RG_GGUF_ARRAY);
    L->arr_type = b.n;
    bb_u32(&b, RG_GGUF_STRING);
    L->arr_count = b.n;
    bb_u64(&b, 2);
    bb_str(&b, "hello");
    bb_str(&b, "");
    bb_str(&b, "general.name");
    bb_u32(&b, RG_GGUF_STRING);
    bb_str(&b, "tiny");
    bb_str(&b, "a");
    L->t_ndims = b.n;
    bb_u32(&b, 1);
    L->t_ne0 = b.n;
    bb_u64(&b, 4);
    L->t_type = b.n;
    bb_u32(&b, RG_TYPE_F32);
    L->t_offset = b.n;
    bb_u64(&b, 0);
    bb_str(&b, "b");
    bb_u32(&b, 2);
    bb_u64(&b, 8);
    bb_u64(&b, 2);
    bb_u32(&b, RG_TYPE_F32);
    bb_u64(&b, 32);
    bb_pad(&b, 32);
    L->data = b.n;
    for (int i = 0; i < 4; i++) {
        float f = (float)i;
        bb_put(&b, &f, 4);
    }
    bb_pad(&b, 32);
    for (int i = 0; i < 16; i++) {
        float f = (float)(100 + i);
        bb_put(&b, &f, 4);
    }
    return b;
}

static void test_valid_hand_made(void **state)
{
    (void)state;
    struct layout L;
    struct bb b = build_valid(&L);
    char err[RG_ERR_SIZE] = "";
    struct rg_gguf *g = rg_gguf_open_memory(b.p, b.n, NULL, err);
    if (!g) fail_msg("valid file refused: %s", err);
    assert_int_equal(rg_gguf_version(g), 3);
    assert_int_equal(rg_gguf_n_kv(g), 3);
    uint32_t u;
    assert_int_equal(rg_gguf_get_u32(g, "test.count", &u), RG_OK);
    assert_int_equal(u, 42);
    int64_t i64;
    assert_int_equal(rg_gguf_get_i64(g, "test.count", &i64), RG_OK);
    assert_int_equal(i64, 42);
    const char *s;
    assert_int_equal(rg_gguf_get_str(g, "general.name", &s), RG_OK);
    assert_string_equal(s, "tiny");
    assert_int_equal(rg_gguf_get_str(g, "test.count", &s), RG_EFORMAT);
    assert_int_equal(rg_gguf_get_u32(g, "missing", &u), RG_ENOTFOUND);
    float f;
    assert_int_equal(rg_gguf_get_f32(g, "test.count", &f), RG_EFORMAT);
    enum rg_gguf_type et;
    uint64_t n;
    assert_int_equal(rg_gguf_get_arr(g, "test.words", &et, &n), RG_OK);
    assert_int_equal(et, RG_GGUF_STRING);
    assert_int_equal(n, 2);
    size_t len;
    assert_int_equal(rg_gguf_arr_str(g, "test.words", 1, &s, &len), RG_OK);
    assert_int_equal(len, 0);
    assert_int_equal(rg_gguf_arr_str(g, "test.words", 2, &s, &len), RG_ERANGE);
    const struct rg_gguf_tensor *t = rg_gguf_find_tensor(g, "b");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 8);
    assert_int_equal(t->ne[1], 2);
    assert_int_equal(t->size, 64);
    assert_true(((const float *)t->data)[15] == 115.0f);
    assert_null(rg_gguf_find_tensor(g, "c"));
    rg_gguf_close(g);
    free(b.p);
}

static void expect_bad(const uint8_t *p, size_t n, const char *needle, const char *what)
{
    char err[RG_ERR_SIZE] = "";
    struct rg_gguf *g = rg_gguf_open_memory(p, n, NULL, err);
    if (g) {
        rg_gguf_close(g);
        fail_msg("%s: accepted", what);
    }
    if (!err[0]) fail_msg("%s: no error message", what);
    if (needle && !strstr(err, needle)) fail_msg("%s: error '%s' lacks '%s'", what, err, needle);
}

static void test_every_truncation_fails(void **state)
{
    (void)state;
    struct layout L;
    struct bb b = build_valid(&L);
    for (size_t n = 0; n < b.n; n++) {
        /* a fresh copy of exactly n bytes, so ASan sees any read past it */
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, b.p, n);
        char what[48];
        snprintf(what, sizeof what, "truncated to %zu", n);
        expect_bad(p, n, NULL, what);
        free(p);
    }
    free(b.p);
}

static void patch32(struct bb *b, size_t off, uint32_t v)
{
    memcpy(b->p + off, &v, 4);
}
static void patch64(struct bb *b, size_t off, uint64_t v)
{
    memcpy(b->p + off, &v, 8);
}

static void test_lying_files(void **state)
{
    (void)state;
    struct layout L;
    struct {
        const char *what, *needle;
        int field; /* which patch */
        uint64_t value;
    } cases[] = {
        {"bad magic", "magic", 0, 0},
        {"version 1", "version 1", 1, 1},
        {"version 4", "version 4", 1, 4},
        {"big-endian", "big-endian", 1, 0x03000000},
        {"huge kv count", "metadata keys", 2, UINT64_MAX},
        {"kv count past file", "cannot fit", 2, 10000},
        {"huge tensor count", "tensors", 3, UINT64_MAX / 2},
        {"huge key length", "string length", 4, UINT64_MAX - 3},
        {"key length past end", "truncated", 4, 1u << 20},
        {"bad value type", "unknown value type", 5, 77},
        {"nested array", "nested", 6, RG_GGUF_ARRAY},
        {"bad array type", "element type", 6, 99},
        {"array count lies", "cannot fit", 7, 1000000},
        {"array count huge", "exceeds the limit", 7, UINT64_MAX / 16},
        {"n_dims 0", "dimensions", 8, 0},
        {"n_dims 5", "dimensions", 8, 5},
        {"huge dim", "dimension", 9, UINT64_MAX},
        {"data past end", "past end", 9, 1u << 30},
        {"bad tensor type", "unknown type", 10, 1000},
        {"removed type id 4", "unknown type", 10, 4},
        {"Q4_0 row of 4", "block size", 10, RG_TYPE_Q4_0},
        {"unaligned offset", "alignment", 11, 4},
        {"offset past end", "past end", 11, 1u << 20},
        {"offset overflow", "past end", 11, UINT64_MAX - 31},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct bb b = build_valid(&L);
        uint64_t v = cases[i].value;
        switch (cases[i].field) {
        case 0: memcpy(b.p, "GGML", 4); break;
        case 1: patch32(&b, 4, (uint32_t)v); break;
        case 2: patch64(&b, L.n_kv, v); break;
        case 3: patch64(&b, L.n_tensors, v); break;
        case 4: patch64(&b, L.key1_len, v); break;
        case 5: patch32(&b, L.kv1_type, (uint32_t)v); break;
        case 6: patch32(&b, L.arr_type, (uint32_t)v); break;
        case 7: patch64(&b, L.arr_count, v); break;
        case 8: patch32(&b, L.t_ndims, (uint32_t)v); break;
        case 9: patch64(&b, L.t_ne0, v); break;
        case 10: patch32(&b, L.t_type, (uint32_t)v); break;
        case 11: patch64(&b, L.t_offset, v); break;
        }
        expect_bad(b.p, b.n, cases[i].needle, cases[i].what);
        free(b.p);
    }
}

static void test_duplicates_and_alignment(void **state)
{
    (void)state;
    char err[RG_ERR_SIZE];
    /* duplicate key */
    struct bb b = {0};
    bb_put(&b, "GGUF", 4);
    bb_u32(&b, 3);
    bb_u64(&b, 0);
    bb_u64(&b, 2);
    for (int i = 0; i < 2; i++) {
        bb_str(&b, "k");
        bb_u32(&b, RG_GGUF_UINT8);
        uint8_t v = 1;
        bb_put(&b, &v, 1);
    }
    expect_bad(b.p, b.n, "duplicate key", "duplicate key");
    free(b.p);
    /* bool that is neither 0 nor 1; alignment not a power of two; NUL in a string */
    struct {
        uint32_t type;
        const char *key;
        uint32_t v;
        const char *needle;
    } c[] = {{RG_GGUF_BOOL, "b", 2, "bool"},
             {RG_GGUF_UINT32, "general.alignment", 24, "alignment"},
             {RG_GGUF_UINT32, "general.alignment", 0, "alignment"}};
    for (size_t i = 0; i < 3; i++) {
        memset(&b, 0, sizeof b);
        bb_put(&b, "GGUF", 4);
        bb_u32(&b, 3);
        bb_u64(&b, 0);
        bb_u64(&b, 1);
        bb_str(&b, c[i].key);
        bb_u32(&b, c[i].type);
        bb_put(&b, &c[i].v, c[i].type == RG_GGUF_BOOL ? 1 : 4);
        expect_bad(b.p, b.n, c[i].needle, c[i].key);
        free(b.p);
    }
    memset(&b, 0, sizeof b);
    bb_put(&b, "GGUF", 4);
    bb_u32(&b, 3);
    bb_u64(&b, 0);
    bb_u64(&b, 1);
    bb_u64(&b, 3);
    bb_put(&b, "a\0b", 3);
    bb_u32(&b, RG_GGUF_UINT8);
    bb_put(&b, "x", 1);
    expect_bad(b.p, b.n, "NUL", "NUL in key");
    free(b.p);
    /* v2 with zero tensors and zero keys is valid */
    memset(&b, 0, sizeof b);
    bb_put(&b, "GGUF", 4);
    bb_u32(&b, 2);
    bb_u64(&b, 0);
    bb_u64(&b, 0);
    struct rg_gguf *g = rg_gguf_open_memory(b.p, b.n, NULL, err);
    assert_non_null(g);
    assert_int_equal(rg_gguf_version(g), 2);
    rg_gguf_close(g);
    free(b.p);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct rg_gguf_writer *w = rg_gguf_writer_new();
    assert_non_null(w);
    assert_int_equal(rg_gguf_writer_set_str(w, "general.architecture", "llama"), RG_OK);
    assert_int_equal(rg_gguf_writer_set_u32(w, "llama.block_count", 2), RG_OK);
    assert_int_equal(rg_gguf_writer_set_u32(w, "llama.block_count", 3), RG_OK); /* replaces */
    assert_int_equal(rg_gguf_writer_set_f32(w, "llama.rope.freq_base", 500000.0f), RG_OK);
    assert_int_equal(rg_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true), RG_OK);
    assert_int_equal(rg_gguf_writer_set_i32(w, "x.neg", -5), RG_OK);
    assert_int_equal(rg_gguf_writer_set_u64(w, "x.big", UINT64_C(1) << 40), RG_OK);
    const char *toks[] = {"<s>", "</s>", "\xe2\x96\x81hi"};
    assert_int_equal(rg_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3), RG_OK);
    float scores[] = {0.0f, -1.5f, 2.25f};
    assert_int_equal(rg_gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores, 3), RG_OK);
    int32_t types[] = {3, 3, 1};
    assert_int_equal(rg_gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, 3), RG_OK);
    float data[64];
    for (int i = 0; i < 64; i++)
        data[i] = (float)i * 0.5f;
    int64_t ne[2] = {32, 2};
    assert_int_equal(rg_gguf_writer_add_tensor(w, "t.weight", RG_TYPE_F32, 2, ne, data), RG_OK);
    int64_t ne1[1] = {3};
    assert_int_equal(rg_gguf_writer_add_tensor(w, "t.bias", RG_TYPE_F32, 1, ne1, data), RG_OK);
    assert_int_equal(rg_gguf_writer_add_tensor(w, "t.bias", RG_TYPE_F32, 1, ne1, data), RG_EEXISTS);
    int64_t bad[1] = {33};
    assert_int_equal(rg_gguf_writer_add_tensor(w, "q", RG_TYPE_Q8_0, 1, bad, data), RG_EINVAL);
    char path[] = "/tmp/rg-gguf-rt-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_gguf_writer_write(w, path, err), RG_OK);
    rg_gguf_writer_free(w);

    struct rg_gguf *g = rg_gguf_open(path, NULL, err);
    if (!g) fail_msg("%s", err);
    uint32_t u;
    assert_int_equal(rg_gguf_get_u32(g, "llama.block_count", &u), RG_OK);
    assert_int_equal(u, 3);
    float f;
    assert_int_equal(rg_gguf_get_f32(g, "llama.rope.freq_base", &f), RG_OK);
    assert_true(f == 500000.0f);
    bool b;
    assert_int_equal(rg_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b), RG_OK);
    assert_true(b);
    int64_t i64;
    assert_int_equal(rg_gguf_get_i64(g, "x.neg", &i64), RG_OK);
    assert_int_equal(i64, -5);
    assert_int_equal(rg_gguf_get_u64(g, "x.neg", (uint64_t *)&i64), RG_EFORMAT);
    assert_int_equal(rg_gguf_get_u32(g, "x.big", &u), RG_EFORMAT);
    const char *s;
    size_t len;
    assert_int_equal(rg_gguf_arr_str(g, "tokenizer.ggml.tokens", 2, &s, &len), RG_OK);
    assert_string_equal(s, "\xe2\x96\x81hi");
    float sc[3];
    assert_int_equal(rg_gguf_arr_f32(g, "tokenizer.ggml.scores", sc, 3), RG_OK);
    assert_true(sc[2] == 2.25f);
    int32_t ty[3];
    assert_int_equal(rg_gguf_arr_i32(g, "tokenizer.ggml.token_type", ty, 3), RG_OK);
    assert_int_equal(ty[2], 1);
    assert_int_equal(rg_gguf_arr_i32(g, "tokenizer.ggml.scores", ty, 3),
                     RG_EFORMAT); /* 2.25 not an int */
    assert_int_equal(rg_gguf_arr_f32(g, "tokenizer.ggml.scores", sc, 4), RG_ERANGE);
    const struct rg_gguf_tensor *t = rg_gguf_find_tensor(g, "t.weight");
    assert_non_null(t);
    assert_int_equal((uintptr_t)t->data % rg_gguf_alignment(g), 0);
    assert_memory_equal(t->data, data, sizeof data);
    t = rg_gguf_find_tensor(g, "t.bias");
    assert_memory_equal(t->data, data, 12);

    /* copy_kv: every key survives a second round trip */
    struct rg_gguf_writer *w2 = rg_gguf_writer_new();
    assert_int_equal(rg_gguf_writer_copy_kv(w2, g), RG_OK);
    char path2[] = "/tmp/rg-gguf-rt2-XXXXXX";
    fd = mkstemp(path2);
    close(fd);
    assert_int_equal(rg_gguf_writer_write(w2, path2, err), RG_OK);
    rg_gguf_writer_free(w2);
    struct rg_gguf *g2 = rg_gguf_open(path2, NULL, err);
    assert_non_null(g2);
    assert_int_equal(rg_gguf_n_kv(g2), rg_gguf_n_kv(g));
    assert_int_equal(rg_gguf_arr_str(g2, "tokenizer.ggml.tokens", 0, &s, &len), RG_OK);
    assert_string_equal(s, "<s>");
    assert_int_equal(rg_gguf_get_i64(g2, "x.neg", &i64), RG_OK);
    assert_int_equal(i64, -5);
    rg_gguf_close(g2);
    rg_gguf_close(g);
    unlink(path);
    unlink(path2);

    assert_null(rg_gguf_open("/nonexistent/x.gguf", NULL, err));
    assert_non_null(strstr(err, "/nonexistent/x.gguf"));
}

static void test_reference_model(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(path, "models/stories260K.gguf");
    char err[RG_ERR_SIZE];
    struct rg_gguf *g = rg_gguf_open(path, NULL, err);
    if (!g) fail_msg("%s", err);
    const char *arch;
    assert_int_equal(rg_gguf_get_str(g, "general.architecture", &arch), RG_OK);
    assert_string_equal(arch, "llama");
    uint32_t v;
    assert_int_equal(rg_gguf_get_u32(g, "llama.embedding_length", &v), RG_OK);
    assert_int_equal(v, 64);
    assert_int_equal(rg_gguf_get_u32(g, "llama.block_count", &v), RG_OK);
    assert_int_equal(v, 5);
    uint64_t n;
    assert_int_equal(rg_gguf_get_arr(g, "tokenizer.ggml.tokens", NULL, &n), RG_OK);
    assert_int_equal(n, 512);
    const struct rg_gguf_tensor *t = rg_gguf_find_tensor(g, "token_embd.weight");
    assert_non_null(t);
    assert_int_equal(t->type, RG_TYPE_F32);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    assert_non_null(rg_gguf_find_tensor(g, "blk.4.ffn_down.weight"));
    /* the whole file is tensors + metadata: the last tensor ends inside it */
    size_t end = 0;
    for (int64_t i = 0; i < rg_gguf_n_tensors(g); i++) {
        const struct rg_gguf_tensor *x = rg_gguf_tensor(g, i);
        size_t e =
            (size_t)((const uint8_t *)x->data - (const uint8_t *)rg_gguf_tensor(g, 0)->data) +
            x->size;
        if (e > end) end = e;
    }
    assert_true(end <= rg_gguf_file_size(g));
    rg_gguf_close(g);
}

static void test_vocab_files_open(void **state)
{
    (void)state;
    const char *names[] = {"llama-spm",      "phi-3",        "baichuan", "gpt-2",
                           "starcoder",      "refact",       "mpt",      "falcon",
                           "deepseek-coder", "deepseek-llm", "gpt-neox", "bert-bge"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", names[i]);
        RG_SKIP_WITHOUT_TESTDATA(path, rel);
        char err[RG_ERR_SIZE];
        struct rg_gguf_params p = rg_gguf_default_params();
        p.vocab_only = true;
        struct rg_gguf *g = rg_gguf_open(path, &p, err);
        if (!g) fail_msg("%s: %s", names[i], err);
        const char *model;
        assert_int_equal(rg_gguf_get_str(g, "tokenizer.ggml.model", &model), RG_OK);
        uint64_t n;
        assert_int_equal(rg_gguf_get_arr(g, "tokenizer.ggml.tokens", NULL, &n), RG_OK);
        assert_true(n > 1000);
        rg_gguf_close(g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_hand_made),  cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_lying_files),      cmocka_unit_test(test_duplicates_and_alignment),
        cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_reference_model),
        cmocka_unit_test(test_vocab_files_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
