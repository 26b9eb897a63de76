/*
 * Tokenizers against llama.cpp's test vectors (../shared/testdata/vocab):
 * every case of every vocabulary (SentencePiece, byte-level BPE with each
 * family's pre-tokenizer, WordPiece) must give exactly the expected ids, and
 * BPE pieces must decode back to the exact bytes.
 */
#include "test.h"

#include "common/alloc.h"
#include "common/str.h"
#include "engine/engine.h"

static const char SEP[] = "\n__ggml_vocab_test__\n";

static void check_vocab(const char *name, bool expect_supported)
{
    char rel[128], rel_inp[140], rel_out[140];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    snprintf(rel_inp, sizeof rel_inp, "%s.inp", rel);
    snprintf(rel_out, sizeof rel_out, "%s.out", rel);
    char p[512], pi[512], po[512];
    if (!rg_test_data_path(p, sizeof p, rel) || !rg_test_data_path(pi, sizeof pi, rel_inp) ||
        !rg_test_data_path(po, sizeof po, rel_out)) {
        fprintf(stderr, "SKIP: %s or its vectors are absent\n", rel);
        skip();
    }
    char err[RG_ERR_SIZE];
    struct rg_model_params mp = {.vocab_only = true};
    struct rg_model *m = rg_model_load(p, &mp, err);
    if (!m) fail_msg("%s: %s", name, err);
    const struct rg_vocab *v = rg_model_vocab(m);
    size_t li, lo;
    char *inp = rg_test_read_file(pi, &li), *out = rg_test_read_file(po, &lo);
    char *cur = inp, *line = out;
    int cases = 0;
    int32_t toks[4096];
    while (cur && cur < inp + li) {
        char *end = strstr(cur, SEP);
        size_t len = end ? (size_t)(end - cur) : (size_t)(inp + li - cur);
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        size_t n = 0;
        int rc = rg_tokenize(v, cur, len, false, false, toks, 4096, &n);
        if (!expect_supported) {
            assert_int_equal(rc, RG_EUNSUPPORTED);
            break;
        }
        assert_int_equal(rc, RG_OK);
        char got[16384] = "";
        size_t gl = 0;
        for (size_t i = 0; i < n && gl < sizeof got - 16; i++)
            gl += (size_t)snprintf(got + gl, sizeof got - gl, i ? " %d" : "%d", toks[i]);
        const char *want = line;
        while (*want == ' ')
            want++;
        char wbuf[16384];
        snprintf(wbuf, sizeof wbuf, "%s", want);
        size_t wl = strlen(wbuf);
        while (wl && (wbuf[wl - 1] == ' ' || wbuf[wl - 1] == '\r'))
            wbuf[--wl] = '\0';
        if (strcmp(got, wbuf))
            fail_msg("%s case %d '%.*s':\n got  %s\n want %s", name, cases, (int)len, cur, got,
                     wbuf);
        cases++;
        line = nl ? nl + 1 : line + strlen(line);
        if (!end) break;
        cur = end + sizeof SEP - 1;
    }
    if (expect_supported) {
        assert_true(cases > 10);
        fprintf(stderr, "%s: %d cases match\n", name, cases);
    }
    free(inp);
    free(out);
    rg_model_free(m);
}

static void test_llama_spm(void **state)
{
    (void)state;
    check_vocab("llama-spm", true);
}
static void test_phi3(void **state)
{
    (void)state;
    check_vocab("phi-3", true);
}
static void test_gpt2(void **state)
{
    (void)state;
    check_vocab("gpt-2", true);
}
static void test_starcoder(void **state)
{
    (void)state;
    check_vocab("starcoder", true);
}
static void test_refact(void **state)
{
    (void)state;
    check_vocab("refact", true);
}
static void test_mpt(void **state)
{
    (void)state;
    check_vocab("mpt", true);
}
static void test_falcon(void **state)
{
    (void)state;
    check_vocab("falcon", true);
}
static void test_deepseek_coder(void **state)
{
    (void)state;
    check_vocab("deepseek-coder", true);
}
static void test_deepseek_llm(void **state)
{
    (void)state;
    check_vocab("deepseek-llm", true);
}
static void test_bert_wordpiece(void **state)
{
    (void)state;
    check_vocab("bert-bge", true);
}

/* byte-level BPE pieces decode back to the exact bytes, including invalid UTF-8 */
static void test_bpe_round_trip(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(p, "vocab/ggml-vocab-gpt-2.gguf");
    char err[RG_ERR_SIZE];
    struct rg_model_params mp = {.vocab_only = true};
    struct rg_model *m = rg_model_load(p, &mp, err);
    assert_non_null(m);
    const struct rg_vocab *v = rg_model_vocab(m);
    const char text[] = "Hello  world!\n\tcaf\xc3\xa9 \xff\xfe 12345 \xf0\x9f\x98\x80";
    int32_t t[128];
    size_t n;
    assert_int_equal(rg_tokenize(v, text, sizeof text - 1, false, false, t, 128, &n), RG_OK);
    char out[256];
    size_t ol = 0;
    for (size_t i = 0; i < n; i++) {
        int k = rg_token_to_piece(v, t[i], false, out + ol, sizeof out - ol);
        assert_true(k >= 0);
        ol += (size_t)k;
    }
    assert_int_equal(ol, sizeof text - 1);
    assert_memory_equal(out, text, ol);
    rg_model_free(m);
}

static void test_special_and_detok(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(p, "vocab/ggml-vocab-llama-spm.gguf");
    char err[RG_ERR_SIZE];
    struct rg_model_params mp = {.vocab_only = true};
    struct rg_model *m = rg_model_load(p, &mp, err);
    assert_non_null(m);
    const struct rg_vocab *v = rg_model_vocab(m);
    int32_t t[64];
    size_t n;
    /* BOS added; "</s>" parsed as EOS only with parse_special */
    const char *s = "Hi</s>";
    assert_int_equal(rg_tokenize(v, s, strlen(s), true, true, t, 64, &n), RG_OK);
    assert_int_equal(t[0], rg_vocab_bos(v));
    assert_int_equal(t[n - 1], rg_vocab_eos(v));
    assert_true(rg_vocab_is_eog(v, t[n - 1]));
    size_t n2;
    assert_int_equal(rg_tokenize(v, s, strlen(s), false, false, t, 64, &n2), RG_OK);
    assert_int_not_equal(t[n2 - 1], rg_vocab_eos(v));
    /* too small an output buffer is an error, with the size needed */
    assert_int_equal(rg_tokenize(v, "a b c d e f", 11, false, false, t, 2, &n), RG_ETOOBIG);
    assert_true(n > 2);
    /* streaming detokenization never splits a UTF-8 character */
    const char *text = "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80 ok";
    assert_int_equal(rg_tokenize(v, text, strlen(text), false, false, t, 64, &n), RG_OK);
    struct rg_detok d;
    rg_detok_init(&d, v, false);
    char out[256];
    size_t ol = 0;
    for (size_t i = 0; i < n; i++) {
        char piece[64];
        int k = rg_detok_push(&d, t[i], piece, sizeof piece);
        assert_true(k >= 0);
        /* every chunk handed out is valid UTF-8 on its own */
        if (k > 0) assert_true(rg_utf8_valid_prefix(piece, (size_t)k) == (size_t)k);
        memcpy(out + ol, piece, (size_t)k);
        ol += (size_t)k;
    }
    ol += (size_t)rg_detok_flush(&d, out + ol, sizeof out - ol);
    out[ol] = '\0';
    assert_string_equal(out,
                        " caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80 ok"); /* SPM's leading space */
    rg_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_spm),      cmocka_unit_test(test_phi3),
        cmocka_unit_test(test_gpt2),           cmocka_unit_test(test_starcoder),
        cmocka_unit_test(test_refact),         cmocka_unit_test(test_mpt),
        cmocka_unit_test(test_falcon),         cmocka_unit_test(test_deepseek_coder),
        cmocka_unit_test(test_deepseek_llm),   cmocka_unit_test(test_bert_wordpiece),
        cmocka_unit_test(test_bpe_round_trip), cmocka_unit_test(test_special_and_detok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
