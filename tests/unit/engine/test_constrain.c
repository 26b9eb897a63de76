/*
 * Constrained sampling over real vocabularies (../shared/testdata/vocab):
 * the trie walk (rg_jg_mask) must give exactly the brute-force answer --
 * every token's bytes fed to the automaton one token at a time -- at many
 * states reached by feeding valid documents of several schemas; the tokens
 * of a document's own tokenization are never masked; end-of-generation
 * tokens only where the document may end; a cancel flag stops the walk.
 */
#include "test.h"

#include <jansson.h>
#include <math.h>

#include "common/alloc.h"
#include "common/err.h"
#include "engine/constrain/constrain.h"
#include "engine/engine.h"

static struct rg_jg *compile(const char *schema_text)
{
    char err[256];
    json_t *s = schema_text ? json_loads(schema_text, 0, NULL) : NULL;
    if (schema_text && !s) fail_msg("test schema does not parse: %s", schema_text);
    struct rg_jg *g = NULL;
    if (rg_jg_compile(s, &g, err, sizeof err) != RG_OK)
        fail_msg("compile %s: %s", schema_text, err);
    json_decref(s);
    return g;
}

struct pieces {
    int32_t n;
    char **p;
    int *len;
    bool *eog;
};

/* Every token's bytes, read here independently of the trie. */
static struct pieces read_pieces(const struct rg_vocab *v)
{
    struct pieces ps = {.n = rg_vocab_n_tokens(v)};
    ps.p = calloc((size_t)ps.n, sizeof *ps.p);
    ps.len = calloc((size_t)ps.n, sizeof *ps.len);
    ps.eog = calloc((size_t)ps.n, sizeof *ps.eog);
    assert_non_null(ps.p);
    char buf[RG_JG_MAX_PIECE];
    for (int32_t i = 0; i < ps.n; i++) {
        int n = rg_token_to_piece(v, i, false, buf, sizeof buf);
        ps.eog[i] = rg_vocab_is_eog(v, i);
        ps.len[i] = n > 0 && n <= (int)sizeof buf ? n : 0;
        ps.p[i] = malloc((size_t)ps.len[i] + 1);
        memcpy(ps.p[i], buf, (size_t)ps.len[i]);
    }
    return ps;
}

static void free_pieces(struct pieces *ps)
{
    for (int32_t i = 0; i < ps->n; i++)
        free(ps->p[i]);
    free(ps->p);
    free(ps->len);
    free(ps->eog);
}

/* The brute force: each token's bytes fed to a copy of the state. */
static bool brute(const struct rg_jg *g, const struct rg_jg_state *st, const struct pieces *ps,
                  int32_t t)
{
    if (ps->eog[t]) return rg_jg_can_end(g, st);
    if (ps->len[t] == 0) return false;
    struct rg_jg_state tmp;
    rg_jg_copy(&tmp, st);
    return rg_jg_feed(g, &tmp, ps->p[t], (size_t)ps->len[t]);
}

static uint64_t n_states_checked, n_allowed_seen;

/* rg_jg_mask against rg_jg_allows and the brute force, token by token. */
static void check_state(const struct rg_jg *g, const struct rg_jg_state *st,
                        const struct rg_jg_vocab *tv, const struct pieces *ps, float *logits,
                        const char *what)
{
    /* every 11th token masked by the caller already (as ignore_eos does) */
    for (int32_t i = 0; i < ps->n; i++)
        logits[i] = i % 11 == 5 ? -INFINITY : (float)(i % 97) * 0.25f;
    int32_t left = rg_jg_mask(g, st, tv, logits, NULL);
    assert_true(left >= 0);
    int32_t want = 0;
    for (int32_t i = 0; i < ps->n; i++) {
        bool b = brute(g, st, ps, i), a = rg_jg_allows(g, st, tv, i, NULL);
        bool pre = i % 11 == 5, m = logits[i] != -INFINITY;
        if (a != b || (!pre && m != b) || (pre && m))
            fail_msg("%s: token %d '%.*s': brute force %d, rg_jg_allows %d, mask %d", what, i,
                     ps->len[i], ps->p[i], b, a, m);
        if (m && logits[i] != (float)(i % 97) * 0.25f)
            fail_msg("%s: token %d's logit changed", what, i);
        want += b && !pre;
    }
    assert_int_equal(left, want);
    n_states_checked++;
    n_allowed_seen += (uint64_t)want;
}

static const struct {
    const char *schema, *doc;
} DOCS[] = {
    {NULL,
     "{\"name\": \"Ann\", \"tags\": [1, 2.5e3, true, null], \"k\": {\"v\": \"x\\n\\u00e9\"}}"},
    {"{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":8},"
     "\"color\":{\"enum\":[\"red\",\"green\",\"blue\"]},\"n\":{\"type\":\"integer\"}},"
     "\"required\":[\"name\",\"color\"]}",
     "{\"name\":\"Bob\",\"color\":\"green\",\"n\":-12}"},
    {"{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"number\"},{\"type\":\"object\","
     "\"properties\":{\"x\":{\"const\":\"y\"}},\"required\":[\"x\"]}]},\"maxItems\":3}",
     "[1, {\"x\": \"y\"}, -0.5]"},
    /* the attack of issue 23: a $ref back into a 16-way anyOf of itself */
    {"{\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":"
     "\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},"
     "{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},"
     "{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}]}",
     "[[], [[]]]"},
    {"{\"type\":\"number\"}", "-42.5"},
};

static void check_vocab(const char *name, int stride)
{
    char rel[128];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    RG_SKIP_WITHOUT_TESTDATA(path, rel);
    char err[RG_ERR_SIZE];
    struct rg_model_params mp = {.vocab_only = true};
    struct rg_model *m = rg_model_load(path, &mp, err);
    if (!m) fail_msg("%s: %s", name, err);
    const struct rg_vocab *v = rg_model_vocab(m);
    struct rg_jg_vocab *tv = rg_jg_vocab_new(v, err);
    assert_non_null(tv);
    assert_int_equal(rg_jg_vocab_size(tv), rg_vocab_n_tokens(v));
    assert_true(rg_jg_vocab_nodes(tv) > 0);
    struct pieces ps = read_pieces(v);
    float *logits = malloc((size_t)ps.n * sizeof *logits);
    for (size_t d = 0; d < sizeof DOCS / sizeof DOCS[0]; d++) {
        struct rg_jg *g = compile(DOCS[d].schema);
        struct rg_jg_state st;
        rg_jg_start(g, &st);
        const char *doc = DOCS[d].doc;
        size_t len = strlen(doc);
        char what[256];
        /* states after every stride-th byte of the document, and after all of it */
        for (size_t i = 0; i <= len; i++) {
            if (i % (size_t)stride == 0 || i == len) {
                snprintf(what, sizeof what, "%s, doc %zu after %zu bytes", name, d, i);
                check_state(g, &st, tv, &ps, logits, what);
            }
            if (i < len) assert_true(rg_jg_feed(g, &st, doc + i, 1));
        }
        /* complete: only end-of-generation tokens are left (a number may still grow) */
        assert_true(rg_jg_can_end(g, &st));
        if (rg_jg_complete(&st)) {
            for (int32_t i = 0; i < ps.n; i++)
                logits[i] = 0;
            int32_t left = rg_jg_mask(g, &st, tv, logits, NULL), n_eog = 0;
            for (int32_t i = 0; i < ps.n; i++) {
                n_eog += ps.eog[i];
                assert_true((logits[i] != -INFINITY) == ps.eog[i]);
            }
            assert_int_equal(left, n_eog);
        }
        /* the document's own tokens: none is masked, each feeds like its bytes */
        int32_t *toks = NULL;
        size_t nt = 0;
        assert_int_equal(rg_tokenize_alloc(v, doc, len, false, false, &toks, &nt), RG_OK);
        char joined[512];
        size_t jl = 0;
        for (size_t k = 0; k < nt && jl + (size_t)ps.len[toks[k]] < sizeof joined; k++) {
            memcpy(joined + jl, ps.p[toks[k]], (size_t)ps.len[toks[k]]);
            jl += (size_t)ps.len[toks[k]];
        }
        /* pieces give the text back only for byte-exact tokenizers (not WordPiece) */
        /* (SentencePiece adds a leading space, which the automaton allows) */
        bool exact = (jl == len && memcmp(joined, doc, len) == 0) ||
                     (jl == len + 1 && joined[0] == ' ' && memcmp(joined + 1, doc, len) == 0);
        if (strcmp(name, "bert-bge") != 0) assert_true(exact);
        rg_jg_start(g, &st);
        for (size_t k = 0; exact && k < nt; k++) {
            for (int32_t i = 0; i < ps.n; i++)
                logits[i] = 1;
            assert_true(rg_jg_mask(g, &st, tv, logits, NULL) > 0);
            if (logits[toks[k]] == -INFINITY)
                fail_msg("%s, doc %zu: its token %zu (%d '%.*s') is masked", name, d, k, toks[k],
                         ps.len[toks[k]], ps.p[toks[k]]);
            struct rg_jg_state by_bytes;
            rg_jg_copy(&by_bytes, &st);
            assert_true(rg_jg_feed(g, &by_bytes, ps.p[toks[k]], (size_t)ps.len[toks[k]]));
            assert_true(rg_jg_allows(g, &st, tv, toks[k], &st)); /* next == st */
            assert_int_equal(rg_jg_complete(&st), rg_jg_complete(&by_bytes));
            assert_int_equal(rg_jg_can_end(g, &st), rg_jg_can_end(g, &by_bytes));
        }
        if (exact) assert_true(rg_jg_can_end(g, &st));
        rg_free(toks);
        rg_jg_free(g);
    }
    /* a refused token leaves next as it was; ids out of range are refused */
    struct rg_jg *g = compile(NULL);
    struct rg_jg_state st, keep;
    rg_jg_start(g, &st);
    assert_true(rg_jg_feed(g, &st, "{\"a\":", 5));
    rg_jg_copy(&keep, &st);
    int32_t close = rg_vocab_find(v, "}");
    if (close >= 0) {
        assert_false(rg_jg_allows(g, &st, tv, close, &st));
        assert_true(rg_jg_allows(g, &st, tv, close, NULL) == false);
        assert_true(rg_jg_feed(g, &st, "1}", 2)); /* st was not spoilt */
        assert_true(rg_jg_complete(&st));
    }
    assert_false(rg_jg_allows(g, &keep, tv, -1, NULL));
    assert_false(rg_jg_allows(g, &keep, tv, ps.n, NULL));
    rg_jg_free(g);
    free(logits);
    free_pieces(&ps);
    rg_jg_vocab_free(tv);
    rg_model_free(m);
}

static void test_mask_llama_spm(void **state)
{
    (void)state;
    check_vocab("llama-spm", 2);
}

static void test_mask_gpt2(void **state)
{
    (void)state;
    check_vocab("gpt-2", 3);
}

static void test_mask_deepseek_llm(void **state)
{
    (void)state;
    check_vocab("deepseek-llm", 5);
}

static void test_mask_bert(void **state)
{
    (void)state;
    check_vocab("bert-bge", 5);
}

/* A cancel flag set before or during the walk stops it with RG_ECANCELED. */
static void test_cancel(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(path, "vocab/ggml-vocab-gpt-2.gguf");
    char err[RG_ERR_SIZE];
    struct rg_model_params mp = {.vocab_only = true};
    struct rg_model *m = rg_model_load(path, &mp, err);
    assert_non_null(m);
    struct rg_jg_vocab *tv = rg_jg_vocab_new(rg_model_vocab(m), err);
    assert_non_null(tv);
    assert_true(rg_jg_vocab_nodes(tv) > 4 * RG_JG_CANCEL_EVERY);
    struct rg_jg *g = compile(NULL);
    struct rg_jg_state st;
    rg_jg_start(g, &st);
    assert_true(rg_jg_feed(g, &st, "{\"a\":\"", 6)); /* inside a string: most tokens fit */
    float *logits = calloc((size_t)rg_jg_vocab_size(tv), sizeof *logits);
    atomic_bool cancel = true;
    assert_int_equal(rg_jg_mask(g, &st, tv, logits, &cancel), RG_ECANCELED);
    for (int32_t i = 0; i < rg_jg_vocab_size(tv); i++) /* canceled: nothing was masked */
        assert_true(logits[i] == 0.0f);
    atomic_store(&cancel, false);
    int32_t left = rg_jg_mask(g, &st, tv, logits, &cancel);
    assert_true(left > rg_jg_vocab_size(tv) / 2);
    /* a dead state: nothing is left */
    struct rg_jg_state dead;
    rg_jg_start(g, &dead);
    assert_false(rg_jg_feed(g, &dead, "]", 1));
    assert_int_equal(rg_jg_mask(g, &dead, tv, logits, &cancel), 0);
    free(logits);
    rg_jg_free(g);
    rg_jg_vocab_free(tv);
    rg_model_free(m);
}

/* Bytes that are not valid UTF-8 and control bytes: SentencePiece's byte
 * tokens (<0x00>..<0xFF>) follow the automaton exactly, byte by byte. */
static void test_byte_tokens(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(path, "vocab/ggml-vocab-llama-spm.gguf");
    char err[RG_ERR_SIZE];
    struct rg_model_params mp = {.vocab_only = true};
    struct rg_model *m = rg_model_load(path, &mp, err);
    assert_non_null(m);
    const struct rg_vocab *v = rg_model_vocab(m);
    struct rg_jg_vocab *tv = rg_jg_vocab_new(v, err);
    assert_non_null(tv);
    struct rg_jg *g = compile(NULL);
    struct rg_jg_state st;
    rg_jg_start(g, &st);
    assert_true(rg_jg_feed(g, &st, "{\"a\":\"", 6));
    int32_t nl = rg_vocab_find(v, "<0x0A>"), e9 = rg_vocab_find(v, "<0xC3>");
    assert_true(nl >= 0 && e9 >= 0);
    assert_false(rg_jg_allows(g, &st, tv, nl, NULL)); /* a raw newline inside a string */
    assert_true(rg_jg_allows(g, &st, tv, e9, NULL));
    /* control tokens (BOS) are never allowed, EOS only at the end */
    int32_t bos = rg_vocab_bos(v), eos = rg_vocab_eos(v);
    assert_false(rg_jg_allows(g, &st, tv, bos, NULL));
    assert_false(rg_jg_allows(g, &st, tv, eos, NULL));
    assert_true(rg_jg_feed(g, &st, "\"}", 2));
    assert_false(rg_jg_allows(g, &st, tv, bos, NULL));
    assert_true(rg_jg_allows(g, &st, tv, eos, NULL));
    rg_jg_free(g);
    rg_jg_vocab_free(tv);
    rg_model_free(m);
}

/* Out of memory at every allocation: NULL with a message (and no leak, under
 * ASan), or RG_ENOMEM from the walk with the logits untouched. */
static void test_out_of_memory(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(path, "vocab/ggml-vocab-llama-spm.gguf");
    char err[RG_ERR_SIZE];
    struct rg_model_params mp = {.vocab_only = true};
    struct rg_model *m = rg_model_load(path, &mp, err);
    assert_non_null(m);
    struct rg_jg_vocab *tv = NULL;
    int failures = 0;
    for (long n = 0; !tv && n < 1000; n++) {
        err[0] = '\0';
        rg_alloc_fail_after(n);
        tv = rg_jg_vocab_new(rg_model_vocab(m), err);
        rg_alloc_fail_after(-1);
        if (!tv) {
            assert_non_null(strstr(err, "out of memory"));
            failures++;
        }
    }
    assert_non_null(tv);
    assert_true(failures > 5);
    struct rg_jg *g = compile(NULL);
    struct rg_jg_state st;
    rg_jg_start(g, &st);
    assert_true(rg_jg_feed(g, &st, "{\"a\":\"", 6));
    float *logits = calloc((size_t)rg_jg_vocab_size(tv), sizeof *logits);
    rg_alloc_fail_after(0);
    int32_t rc = rg_jg_mask(g, &st, tv, logits, NULL);
    rg_alloc_fail_after(-1);
    assert_int_equal(rc, RG_ENOMEM);
    for (int32_t i = 0; i < rg_jg_vocab_size(tv); i++)
        assert_true(logits[i] == 0.0f);
    assert_true(rg_jg_mask(g, &st, tv, logits, NULL) > 0);
    free(logits);
    rg_jg_free(g);
    rg_jg_vocab_free(tv);
    rg_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_llama_spm),
        cmocka_unit_test(test_mask_gpt2),
        cmocka_unit_test(test_mask_deepseek_llm),
        cmocka_unit_test(test_mask_bert),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_byte_tokens),
        cmocka_unit_test(test_out_of_memory),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fprintf(stderr, "states checked: %llu, tokens allowed in all: %llu\n",
            (unsigned long long)n_states_checked, (unsigned long long)n_allowed_seen);
    return rc;
}
