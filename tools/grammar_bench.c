/*
 * grammar_bench: what constrained sampling (response_format) costs per token
 * on a real vocabulary. For a few automaton states reached by feeding the
 * start of a document, it times rg_jg_mask (the trie walk) against the
 * brute-force scans it replaces: every token's bytes fed from a copy of the
 * state, and the same after a first-byte filter (what the API's scheduler
 * did before the trie). Prints a markdown table (scripts/bench.sh, section
 * "Constrained output").
 *
 *   grammar_bench [--vocab FILE.gguf] [--reps N]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/alloc.h"
#include "common/err.h"
#include "engine/constrain/constrain.h"
#include "engine/engine.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const struct {
    const char *what, *schema, *fed;
} CASES[] = {
    {"any object, at the start", NULL, ""},
    {"any object, inside a string value", NULL, "{\"name\": \""},
    {"any object, a value starts", NULL, "{\"a\": "},
    {"any object, inside a number", NULL, "{\"n\": 12"},
    {"properties, a key starts",
     "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":"
     "\"integer\"},\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\"]}}},"
     "\"required\":[\"name\"]}",
     "{\""},
    {"issue-23 attack ($ref into a 16-way anyOf of itself)",
     "{\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":"
     "\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},"
     "{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},{\"$ref\":\"#\"},"
     "{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}]}",
     "[[["},
};

int main(int argc, char **argv)
{
    const char *path = "../shared/testdata/vocab/ggml-vocab-deepseek-llm.gguf";
    int reps = 40;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vocab") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = (int)RG_MAX(1L, RG_MIN(10000L, strtol(argv[++i], NULL, 10)));
        else {
            fprintf(stderr, "usage: grammar_bench [--vocab FILE.gguf] [--reps N]\n");
            return 2;
        }
    }
    char err[RG_ERR_SIZE];
    struct rg_model_params mp = {.vocab_only = true};
    struct rg_model *m = rg_model_load(path, &mp, err);
    if (!m) {
        fprintf(stderr, "grammar_bench: %s: %s\n", path, err);
        return 1;
    }
    const struct rg_vocab *v = rg_model_vocab(m);
    double t0 = now_s();
    struct rg_jg_vocab *tv = rg_jg_vocab_new(v, err);
    double t_index = now_s() - t0;
    if (!tv) {
        fprintf(stderr, "grammar_bench: %s\n", err);
        return 1;
    }
    int32_t n = rg_jg_vocab_size(tv);
    float *logits = rg_malloc_array((size_t)n, sizeof *logits);
    char *first_piece = rg_malloc((size_t)n); /* first byte of each piece, for the filter */
    bool *has_piece = rg_calloc((size_t)n, sizeof *has_piece);
    if (!logits || !first_piece || !has_piece) return 1;
    for (int32_t i = 0; i < n; i++) {
        char buf[RG_JG_MAX_PIECE];
        int k = rg_token_to_piece(v, i, false, buf, sizeof buf);
        has_piece[i] = k > 0 && k <= (int)sizeof buf;
        first_piece[i] = has_piece[i] ? buf[0] : 0;
    }
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    printf("Vocabulary %s: %d tokens, %d trie nodes, indexed in %.1f ms (once per model).\n\n",
           name, n, rg_jg_vocab_nodes(tv), t_index * 1e3);
    printf(
        "| State | Tokens allowed | rg_jg_mask (trie) | Every token scanned | First-byte filter + "
        "scan | Speed-up over the filtered scan |\n");
    printf("| --- | --- | --- | --- | --- | --- |\n");
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        json_t *s = CASES[c].schema ? json_loads(CASES[c].schema, 0, NULL) : NULL;
        struct rg_jg *g = NULL;
        if (rg_jg_compile(s, &g, err, RG_ERR_SIZE) != RG_OK) {
            fprintf(stderr, "grammar_bench: %s: %s\n", CASES[c].what, err);
            return 1;
        }
        json_decref(s);
        struct rg_jg_state st;
        rg_jg_start(g, &st);
        if (!rg_jg_feed(g, &st, CASES[c].fed, strlen(CASES[c].fed))) return 1;
        /* the fastest of the repetitions: the machine is shared, and other
         * work only ever adds time */
        int32_t left = 0;
        double t_mask = INFINITY, t_all = INFINITY, t_f = INFINITY;
        for (int r = 0; r < reps; r++) {
            for (int32_t i = 0; i < n; i++)
                logits[i] = 0;
            t0 = now_s();
            left = rg_jg_mask(g, &st, tv, logits, NULL);
            t_mask = fmin(t_mask, now_s() - t0);
        }
        int32_t left_all = 0;
        int breps = reps / 4 > 0 ? reps / 4 : 1;
        for (int r = 0; r < breps; r++) {
            t0 = now_s();
            left_all = 0;
            for (int32_t i = 0; i < n; i++)
                left_all += rg_jg_allows(g, &st, tv, i, NULL);
            t_all = fmin(t_all, now_s() - t0);
        }
        int32_t left_f = 0;
        for (int r = 0; r < breps; r++) {
            t0 = now_s();
            bool first[256];
            for (int b = 0; b < 256; b++) {
                char ch = (char)b;
                struct rg_jg_state tmp;
                first[b] = rg_jg_feed_from(g, &st, &ch, 1, &tmp);
            }
            left_f = 0;
            for (int32_t i = 0; i < n; i++)
                if (!has_piece[i] || first[(unsigned char)first_piece[i]])
                    left_f += rg_jg_allows(g, &st, tv, i, NULL);
            t_f = fmin(t_f, now_s() - t0);
        }
        if (left != left_all || left != left_f) {
            fprintf(stderr, "grammar_bench: %s: the mask leaves %d tokens, the scans %d and %d\n",
                    CASES[c].what, left, left_all, left_f);
            return 1;
        }
        printf("| %s | %d | %.2f ms | %.2f ms | %.2f ms | %.1fx |\n", CASES[c].what, left,
               t_mask * 1e3, t_all * 1e3, t_f * 1e3, t_f / t_mask);
        rg_jg_free(g);
    }
    rg_free(logits);
    rg_free(first_piece);
    rg_free(has_piece);
    rg_jg_vocab_free(tv);
    rg_model_free(m);
    return 0;
}
