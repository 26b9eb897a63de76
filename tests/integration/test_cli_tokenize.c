/*
 * `rustygpt tokenize VOCAB.gguf - --ids` reproduces llama.cpp's tokenizer
 * test vectors for every vocabulary in ../shared/testdata/vocab, reading
 * each case byte-exact from standard input.
 */
#include "test.h"

#include "harness.h"

static const char SEP[] = "\n__ggml_vocab_test__\n";

static void check(const char *name)
{
    char rel[128], p[512], pi[600], po[600];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    if (!rg_test_data_path(p, sizeof p, rel)) {
        fprintf(stderr, "SKIP: %s is absent\n", rel);
        skip();
    }
    snprintf(pi, sizeof pi, "%s.inp", p);
    snprintf(po, sizeof po, "%s.out", p);
    size_t li = 0, lo = 0;
    char *inp = rg_test_read_file(pi, &li), *out = rg_test_read_file(po, &lo);
    assert_non_null(inp);
    assert_non_null(out);
    char *cur = inp, *line = out;
    int cases = 0;
    while (cur < inp + li) {
        char *end = strstr(cur, SEP);
        size_t len = end ? (size_t)(end - cur) : (size_t)(inp + li - cur);
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        char *text = strndup(cur, len);
        struct rg_run r;
        const char *args[] = {"tokenize", p, "-", "--ids", NULL};
        assert_int_equal(rg_run_cli(args, NULL, text, 30, &r), 0);
        if (r.status != 0) fail_msg("%s case %d: exit %d: %s", name, cases, r.status, r.err);
        char *got = r.out;
        size_t gl = strlen(got);
        while (gl && (got[gl - 1] == '\n' || got[gl - 1] == ' '))
            got[--gl] = '\0';
        const char *want = line;
        while (*want == ' ')
            want++;
        size_t wl = strlen(want);
        while (wl && (want[wl - 1] == ' ' || want[wl - 1] == '\r'))
            wl--;
        if (gl != wl || memcmp(got, want, wl))
            fail_msg("%s case %d:\n got  %s\n want %.*s", name, cases, got, (int)wl, want);
        rg_run_free(&r);
        free(text);
        cases++;
        line = nl ? nl + 1 : line + strlen(line);
        if (!end) break;
        cur = end + sizeof SEP - 1;
    }
    assert_true(cases > 10);
    free(inp);
    free(out);
}

#define V(fn, name)                                                                                \
    static void fn(void **state)                                                                   \
    {                                                                                              \
        (void)state;                                                                               \
        check(name);                                                                               \
    }
V(t_llama_spm, "llama-spm")
V(t_phi3, "phi-3")
V(t_gpt2, "gpt-2")
V(t_starcoder, "starcoder")
V(t_refact, "refact")
V(t_mpt, "mpt")
V(t_falcon, "falcon")
V(t_deepseek_coder, "deepseek-coder")
V(t_deepseek_llm, "deepseek-llm")
V(t_bert, "bert-bge")

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_llama_spm),    cmocka_unit_test(t_phi3),
        cmocka_unit_test(t_gpt2),         cmocka_unit_test(t_starcoder),
        cmocka_unit_test(t_refact),       cmocka_unit_test(t_mpt),
        cmocka_unit_test(t_falcon),       cmocka_unit_test(t_deepseek_coder),
        cmocka_unit_test(t_deepseek_llm), cmocka_unit_test(t_bert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
