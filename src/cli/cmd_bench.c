/*
 * `rustygpt bench -m FILE [-p 512] [-n 128] [-t N] [-r REPS] [--json]`:
 * prompt processing (one batch of p tokens into an empty cache) and
 * generation (n single-token steps into an empty cache), as llama-bench
 * measures pp512 and tg128, plus the process's peak resident memory.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/alloc.h"
#include "common/str.h"
#include "engine/engine.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: rustygpt bench -m FILE [-p 512] [-n 128] [-t N] [-r REPS] [--parallel N] "
        "[--json]\n\n"
        "Prompt processing and generation speed in tokens/s, and peak memory.\n"
        "--parallel N generates N sequences decoded together; tg is then their total tokens/s.\n");
}

int rg_cmd_bench(int argc, char **argv)
{
    const char *model = NULL;
    int64_t pp = 512, tg = 128, threads = 0, reps = 3, par = 1;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t *num = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return RG_EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            json = true;
            continue;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!v) goto missing;
            model = v;
            i++;
            continue;
        } else if (!strcmp(a, "-p"))
            num = &pp;
        else if (!strcmp(a, "-n"))
            num = &tg;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
            num = &threads;
        else if (!strcmp(a, "-r"))
            num = &reps;
        else if (!strcmp(a, "--parallel"))
            num = &par;
        else {
            fprintf(stderr, "rustygpt bench: unknown option %s\n", a);
            return RG_EXIT_USAGE;
        }
        if (!v) goto missing;
        if (rg_parse_i64(v, 0, 1 << 20, num) != RG_OK) {
            fprintf(stderr, "rustygpt bench: %s: expected a count, got '%s'\n", a, v);
            return RG_EXIT_USAGE;
        }
        i++;
        continue;
    missing:
        fprintf(stderr, "rustygpt bench: %s: missing value\n", a);
        return RG_EXIT_USAGE;
    }
    if (!model) {
        usage(stderr);
        return RG_EXIT_USAGE;
    }
    if (reps < 1) reps = 1;
    char pbuf[4096], err[RG_ERR_SIZE];
    struct rg_model *m =
        rg_model_load(rg_cli_model_path(model, NULL, pbuf, sizeof pbuf), NULL, err);
    if (!m) {
        fprintf(stderr, "rustygpt bench: %s\n", err);
        return RG_EXIT_FAIL;
    }
    const struct rg_model_info *I = rg_model_info(m);
    struct rg_ctx_params cp = rg_ctx_default_params();
    cp.n_ctx = (int32_t)(RG_MAX(pp, tg) + 8);
    cp.n_batch = (int32_t)RG_MAX(RG_MAX(pp, 1), 64);
    cp.n_threads = (int32_t)threads;
    if (par < 1 || par > 64) par = 1;
    cp.n_seq = (int32_t)par;
    struct rg_ctx *c = rg_ctx_new(m, &cp, err);
    if (!c) {
        fprintf(stderr, "rustygpt bench: %s\n", err);
        rg_model_free(m);
        return RG_EXIT_FAIL;
    }
    int32_t *toks = rg_malloc_array((size_t)RG_MAX(pp, 1), sizeof *toks);
    float *logits = rg_malloc_array((size_t)I->n_vocab, sizeof *logits);
    float *batch_logits = rg_malloc_array((size_t)I->n_vocab * 64, sizeof *batch_logits);
    if (!toks || !logits || !batch_logits) {
        fprintf(stderr, "rustygpt bench: out of memory\n");
        return RG_EXIT_FAIL;
    }
    uint64_t x = 1234567;
    for (int64_t i = 0; i < RG_MAX(pp, 1); i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (int32_t)((x >> 33) % (uint64_t)I->n_vocab);
    }
    /* warm-up: pages of the mapping, caches, thread start */
    int rc = rg_decode(c, toks, 1, logits, false, err);
    double t_pp = 0, t_tg = 0;
    for (int64_t r = 0; rc == RG_OK && r < reps; r++) {
        if (pp > 0) {
            rg_ctx_truncate(c, 0);
            double t0 = now();
            rc = rg_decode(c, toks, (int32_t)pp, logits, false, err);
            t_pp += now() - t0;
        }
        if (rc == RG_OK && tg > 0) {
            /* par sequences, each generating tg tokens, one batched step at a time */
            for (int32_t sq = 0; sq < (int32_t)par; sq++)
                rg_ctx_seq_truncate(c, sq, 0);
            struct rg_batch_item items[64];
            double t0 = now();
            for (int64_t i = 0; rc == RG_OK && i < tg; i++) {
                for (int32_t sq = 0; sq < (int32_t)par; sq++)
                    items[sq] = (struct rg_batch_item){toks[(i + sq) % RG_MAX(pp, 1)], sq, true};
                rc = par == 1 ? rg_decode(c, &items[0].token, 1, logits, false, err)
                              : rg_decode_batch(c, items, (int32_t)par, batch_logits, err);
            }
            t_tg += now() - t0;
        }
    }
    if (rc) {
        fprintf(stderr, "rustygpt bench: %s\n", err);
        return RG_EXIT_FAIL;
    }
    double pp_s = pp > 0 ? (double)(pp * reps) / t_pp : 0,
           tg_s = tg > 0 ? (double)(tg * reps * par) / t_tg : 0;
    double rss_mb = (double)rg_peak_rss() / (1024.0 * 1024.0);
    const struct rg_type_traits *tt = rg_type_traits(I->ftype);
    if (json)
        printf("{\"model\": \"%s\", \"type\": \"%s\", \"n_params\": %llu, \"file_size\": %zu, "
               "\"pp\": %lld, \"tg\": %lld, "
               "\"pp_tok_s\": %.2f, \"tg_tok_s\": %.2f, \"peak_rss_mb\": %.1f, \"threads\": %d, "
               "\"isa\": \"%s\", "
               "\"reps\": %lld, \"parallel\": %lld}\n",
               I->name, tt && tt->name ? tt->name : "?", (unsigned long long)I->n_params,
               I->file_size, (long long)pp, (long long)tg, pp_s, tg_s, rss_mb,
               threads ? (int)threads : 0, rg_quant_isa(), (long long)reps, (long long)par);
    else
        printf("model %s (%s, %.2f GB)  threads %lld  isa %s\n  pp%lld: %.2f tok/s\n  tg%lld: %.2f "
               "tok/s\n  peak RSS: %.1f MB\n",
               I->name, tt && tt->name ? tt->name : "?", (double)I->file_size / 1e9,
               (long long)threads, rg_quant_isa(), (long long)pp, pp_s, (long long)tg, tg_s,
               rss_mb);
    rg_free(toks);
    rg_free(logits);
    rg_free(batch_logits);
    rg_ctx_free(c);
    rg_model_free(m);
    return RG_EXIT_OK;
}
