/*
 * Vocabularies that hostile or careless GGUF files carry: empty token texts.
 * An empty <unk> and an empty control token once made tokenization loop
 * forever (the empty string matched at every position without advancing).
 * Each test builds its vocabulary with the project's GGUF writer.
 */
#include "test.h"

#include <signal.h>

#include "common/alloc.h"
#include "engine/engine.h"
#include "engine/gguf/gguf.h"
#include "engine/tokenizer/tokenizer.h"

enum { NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER = 4 };

#define SP "\xe2\x96\x81" /* U+2581, SentencePiece's space */

/* Writes a vocab-only GGUF with these tokens/types (scores: longer is better)
 * and unknown_token_id unk (-1: no such key) and loads its vocabulary. */
static struct rg_vocab *build_vocab_unk(const char *model, const char *const *toks,
                                        const int32_t *types, size_t n, int unk,
                                        struct rg_gguf **gout)
{
    struct rg_gguf_writer *w = rg_gguf_writer_new();
    assert_non_null(w);
    float scores[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        scores[i] = (float)strlen(toks[i]);
    assert_int_equal(rg_gguf_writer_set_str(w, "general.architecture", "llama"), RG_OK);
    assert_int_equal(rg_gguf_writer_set_str(w, "tokenizer.ggml.model", model), RG_OK);
    if (!strcmp(model, "gpt2"))
        assert_int_equal(rg_gguf_writer_set_str(w, "tokenizer.ggml.pre", "default"), RG_OK);
    assert_int_equal(rg_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, n), RG_OK);
    assert_int_equal(rg_gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores, n), RG_OK);
    assert_int_equal(rg_gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, n), RG_OK);
    if (unk >= 0)
        assert_int_equal(
            rg_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)unk), RG_OK);
    char path[] = "/tmp/rg-vocab-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[RG_ERR_SIZE];
    if (rg_gguf_writer_write(w, path, err) != RG_OK) fail_msg("%s", err);
    rg_gguf_writer_free(w);
    struct rg_gguf_params gp = rg_gguf_default_params();
    gp.vocab_only = true;
    struct rg_gguf *g = rg_gguf_open(path, &gp, err);
    unlink(path);
    if (!g) fail_msg("%s", err);
    struct rg_vocab *v = NULL;
    if (rg_vocab_load(g, &v, err) != RG_OK) fail_msg("%s", err);
    *gout = g;
    return v;
}

static struct rg_vocab *build_vocab(const char *model, const char *const *toks,
                                    const int32_t *types, size_t n, struct rg_gguf **gout)
{
    return build_vocab_unk(model, toks, types, n, 0, gout);
}

static int32_t id_of(const struct rg_vocab *v, const char *text)
{
    int32_t id = rg_vocab_find(v, text);
    if (id < 0) fail_msg("'%s' is not in the test vocabulary", text);
    return id;
}

static void expect_tokens(const struct rg_vocab *v, const char *text, bool parse_special,
                          const int32_t *want, size_t n_want)
{
    int32_t *t = NULL;
    size_t n = 0;
    assert_int_equal(rg_tokenize_alloc(v, text, strlen(text), false, parse_special, &t, &n), RG_OK);
    for (size_t i = 0; i < n && i < n_want; i++)
        if (t[i] != want[i]) fail_msg("'%s': token %zu is %d, want %d", text, i, t[i], want[i]);
    assert_int_equal(n, n_want);
    rg_free(t);
}

/* The vocabulary of the attack: <unk> (id 0) and one control token are "". */
static void test_spm_empty_unk_and_control(void **state)
{
    (void)state;
    const char *toks[] = {"",  "<s>", "</s>", "",  "<|im_start|>", "<|im_end|>", "u", "s",
                          "e", "r",   "h",    "i", "hi",           "\n",         SP};
    int32_t types[] = {UNKNOWN, CONTROL, CONTROL, CONTROL, CONTROL, CONTROL, NORMAL, NORMAL,
                       NORMAL,  NORMAL,  NORMAL,  NORMAL,  NORMAL,  NORMAL,  NORMAL};
    struct rg_gguf *g;
    struct rg_vocab *v = build_vocab("llama", toks, types, RG_ARRAY_LEN(toks), &g);
    int32_t im_start = id_of(v, "<|im_start|>"), im_end = id_of(v, "<|im_end|>");
    int32_t want[] = {im_start,      id_of(v, "u"),  id_of(v, "s"),  id_of(v, "e"),
                      id_of(v, "r"), id_of(v, "\n"), id_of(v, "hi"), im_end};
    /* a hang here is the bug (the alarm ends the test as a failure) */
    expect_tokens(v, "<|im_start|>user\nhi<|im_end|>", true, want, RG_ARRAY_LEN(want));
    /* parse_special off: the markers are text; unknown characters become
     * <unk> (empty, but a token), each once */
    int32_t *t = NULL;
    size_t n = 0;
    const char *txt = "<|im_start|>hi";
    assert_int_equal(rg_tokenize_alloc(v, txt, strlen(txt), false, false, &t, &n), RG_OK);
    assert_true(n > 0 && n <= strlen(SP) + strlen(txt)); /* at most a <unk> per byte */
    for (size_t i = 0; i < n; i++)
        assert_true(t[i] != im_start && t[i] >= 0 && t[i] < rg_vocab_n_tokens(v));
    rg_free(t);
    /* text with no special at all, and the empty text */
    int32_t want2[] = {id_of(v, SP), id_of(v, "hi")};
    expect_tokens(v, "hi", true, want2, 2);
    expect_tokens(v, "", true, NULL, 0);
    rg_vocab_free(v);
    rg_gguf_close(g);
}

/* An empty user-defined token (matched even without parse_special) and
 * empty tokens in every slot a special could take. */
static void test_empty_user_tokens(void **state)
{
    (void)state;
    const char *toks[] = {"", "", "", "<|x|>", "h", "i", "hi", SP};
    int32_t types[] = {UNKNOWN, USER, CONTROL, USER, NORMAL, NORMAL, NORMAL, NORMAL};
    struct rg_gguf *g;
    struct rg_vocab *v = build_vocab("llama", toks, types, RG_ARRAY_LEN(toks), &g);
    int32_t want[] = {id_of(v, SP), id_of(v, "hi"), id_of(v, "<|x|>"), id_of(v, "hi")};
    expect_tokens(v, "hi<|x|>hi", false, want, RG_ARRAY_LEN(want));
    expect_tokens(v, "hi<|x|>hi", true, want, RG_ARRAY_LEN(want));
    rg_vocab_free(v);
    rg_gguf_close(g);
}

/* The same for the other tokenizer kinds. */
static void test_bpe_wpm_empty_specials(void **state)
{
    (void)state;
    const char *toks[] = {"", "", "<|e|>", "a", "b", "ab"};
    int32_t types[] = {UNKNOWN, CONTROL, CONTROL, NORMAL, NORMAL, NORMAL};
    struct rg_gguf *g;
    struct rg_vocab *v = build_vocab("gpt2", toks, types, RG_ARRAY_LEN(toks), &g);
    int32_t *t = NULL;
    size_t n = 0;
    assert_int_equal(rg_tokenize_alloc(v, "a<|e|>b", 7, false, true, &t, &n), RG_OK);
    assert_true(n >= 3);
    bool seen = false;
    for (size_t i = 0; i < n; i++)
        seen |= t[i] == id_of(v, "<|e|>");
    assert_true(seen);
    rg_free(t);
    rg_vocab_free(v);
    rg_gguf_close(g);

    const char *wtoks[] = {"", "", "[CLS]", SP "a", SP "b"};
    int32_t wtypes[] = {UNKNOWN, CONTROL, CONTROL, NORMAL, NORMAL};
    v = build_vocab("bert", wtoks, wtypes, RG_ARRAY_LEN(wtoks), &g);
    int32_t want[] = {id_of(v, SP "a"), id_of(v, "[CLS]"), id_of(v, SP "b")};
    expect_tokens(v, "a[CLS]b", true, want, RG_ARRAY_LEN(want));
    rg_vocab_free(v);
    rg_gguf_close(g);
}

/* A WordPiece vocabulary that names no <unk>: a word no token covers gives
 * no token, never the id -1 (found by fuzz_tokenizer). */
static void test_wpm_without_unk(void **state)
{
    (void)state;
    const char *toks[] = {"[UNK]", "[CLS]", SP "he"};
    int32_t types[] = {CONTROL, CONTROL, NORMAL};
    struct rg_gguf *g;
    struct rg_vocab *v = build_vocab_unk("bert", toks, types, RG_ARRAY_LEN(toks), -1, &g);
    int32_t want[] = {id_of(v, SP "he"), id_of(v, SP "he")};
    expect_tokens(v, "he zz he", false, want, RG_ARRAY_LEN(want));
    rg_vocab_free(v);
    rg_gguf_close(g);
}

int main(void)
{
    alarm(60); /* the bug under test is an endless loop: fail rather than hang */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spm_empty_unk_and_control),
        cmocka_unit_test(test_empty_user_tokens),
        cmocka_unit_test(test_bpe_wpm_empty_specials),
        cmocka_unit_test(test_wpm_without_unk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
