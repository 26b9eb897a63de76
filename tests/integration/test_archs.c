/*
 * Every supported architecture, written by tools/gguf_gen in several types,
 * loads and generates; an unknown architecture is refused by name. (Logits of these files were
 * compared by hand with llama.cpp's: llama, qwen2 and phi3 agree to 2.4e-7 in F32 and exactly in
 * Q8_0/Q4_0; gemma2 to 2.7e-4 in F32 (half-precision GELU) and exactly in
 * Q8_0; bert embeddings to 6e-8 in F32, F16, Q8_0 and Q4_0; qwen3 postdates
 * the llama.cpp build available here.)
 */
#include "test.h"

#include "harness.h"

static char dir[] = "/tmp/rg-archs-XXXXXX";

static const char *gen_bin(char *buf, size_t n)
{
    const char *b = getenv("RG_BUILD_DIR");
    snprintf(buf, n, "%s/gguf_gen", b ? b : "build");
    return buf;
}

static int sh(const char *cmd)
{
    return system(cmd);
}

static void test_all_archs_generate(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    char gen[512];
    gen_bin(gen, sizeof gen);
    const char *archs[] = {"llama", "qwen2", "qwen3", "phi3", "gemma2"};
    const char *types[] = {"F16", "Q8_0", "Q4_0", "Q4_K_M"};
    for (size_t a = 0; a < 5; a++)
        for (size_t t = 0; t < 4; t++) {
            char out[600], cmd[1400];
            snprintf(out, sizeof out, "%s/%s-%s.gguf", dir, archs[a], types[t]);
            /* n_embd 256 so that the K-quants apply */
            snprintf(cmd, sizeof cmd,
                     "'%s' --arch %s --n-embd 256 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 512 "
                     "--n-vocab 512 --type %s -o '%s'",
                     gen, archs[a], types[t], out);
            assert_int_equal(sh(cmd), 0);
            struct rg_run r;
            const char *args[] = {"run",    out, "hello world", "-n", "8",
                                  "--temp", "0", "--raw",       NULL};
            assert_int_equal(rg_run_cli(args, NULL, NULL, 60, &r), 0);
            if (r.status != 0) fail_msg("%s %s: %s", archs[a], types[t], r.err);
            rg_run_free(&r);
            unlink(out);
        }
}

/* A vocabulary without '▁' spells each space with three byte tokens, so a
 * text can need more tokens than it has bytes: tokenize, run and serve all
 * take it. */
static void test_more_tokens_than_bytes(void **state)
{
    (void)state;
    char gen[512], out[600], cmd[1400];
    gen_bin(gen, sizeof gen);
    snprintf(out, sizeof out, "%s/spaces.gguf", dir);
    snprintf(cmd, sizeof cmd,
             "'%s' --arch llama --n-embd 64 --n-layer 1 --n-head 2 --n-head-kv 2 --n-ff 128 "
             "--n-vocab 300 --type F32 -o '%s'",
             gen, out);
    assert_int_equal(sh(cmd), 0);
    char text[201];
    memset(text, ' ', 200);
    text[200] = '\0';
    struct rg_run r;
    const char *tok[] = {"tokenize", out, text, "--ids", NULL};
    assert_int_equal(rg_run_cli(tok, NULL, NULL, 60, &r), 0);
    if (r.status != 0) fail_msg("tokenize: %s", r.err);
    size_t ids = 0;
    for (char *p = strtok(r.out, " \n"); p; p = strtok(NULL, " \n"))
        ids++;
    assert_true(ids >= 3 * 200); /* three byte tokens per space */
    rg_run_free(&r);
    const char *run[] = {"run", out, text, "-n", "2", "--temp", "0", "--raw", NULL};
    assert_int_equal(rg_run_cli(run, NULL, NULL, 60, &r), 0);
    if (r.status != 0) fail_msg("run: %s", r.err);
    rg_run_free(&r);
    unlink(out);
}

static void test_unknown_arch_is_refused(void **state)
{
    (void)state;
    char gen[512], out[600], cmd[1400], patched[700];
    gen_bin(gen, sizeof gen);
    snprintf(out, sizeof out, "%s/phi3.gguf", dir);
    snprintf(cmd, sizeof cmd,
             "'%s' --arch phi3 --n-embd 64 --n-head 4 --n-head-kv 2 --type F32 -o '%s'", gen, out);
    assert_int_equal(sh(cmd), 0);
    /* the same bytes with the architecture renamed (same length, so the file stays valid) */
    snprintf(patched, sizeof patched, "%s/renamed.gguf", dir);
    snprintf(cmd, sizeof cmd, "sed 's/phi3/zzz9/g' '%s' > '%s'", out, patched);
    assert_int_equal(sh(cmd), 0);
    struct rg_run r;
    const char *args[] = {"run", patched, "hi", "-n", "2", "--raw", NULL};
    assert_int_equal(rg_run_cli(args, NULL, NULL, 30, &r), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "architecture 'zzz9' is not supported"));
    rg_run_free(&r);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(sh(cmd), 0);
}

/* A BERT encoder serves /v1/embeddings and refuses to generate. */
static void test_bert_embeddings(void **state)
{
    (void)state;
    struct rg_server srv;
    assert_int_equal(rg_server_start(&srv, NULL, NULL), 0);
    char gen[512], cmd[1400];
    gen_bin(gen, sizeof gen);
    snprintf(cmd, sizeof cmd,
             "'%s' --arch bert --n-embd 64 --n-layer 2 --n-head 4 --n-ff 128 --type Q8_0 -o "
             "'%s/models/enc.gguf'",
             gen, srv.dir);
    assert_int_equal(sh(cmd), 0);
    const char body[] = "{\"model\":\"enc\",\"input\":[\"hello\",\"world\"]}";
    struct rg_resp r;
    assert_int_equal(rg_http(&srv, "POST", "/v1/embeddings", NULL, body, sizeof body - 1, &r), 0);
    if (r.status != 200) fail_msg("status %ld: %s", r.status, r.body);
    assert_int_equal(rg_count(r.body, "\"object\":\"embedding\""), 2);
    rg_resp_free(&r);
    const char chat[] = "{\"model\":\"enc\",\"prompt\":\"hello\",\"max_tokens\":2}";
    assert_int_equal(rg_http(&srv, "POST", "/v1/completions", NULL, chat, sizeof chat - 1, &r), 0);
    assert_non_null(strstr(r.body, "embedding model"));
    rg_resp_free(&r);
    assert_int_equal(rg_server_stop(&srv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_archs_generate),
        cmocka_unit_test(test_more_tokens_than_bytes),
        cmocka_unit_test(test_unknown_arch_is_refused),
        cmocka_unit_test(test_bert_embeddings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
