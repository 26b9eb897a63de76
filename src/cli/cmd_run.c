/*
 * `rustygpt run MODEL [PROMPT] [-n N] [--temp T] [--seed S] [--raw]`
 * One-shot: only the generated text goes to stdout, streamed as whole UTF-8
 * characters; diagnostics go to stderr. Without PROMPT: an interactive chat on
 * the terminal, reusing the cached prefix of the conversation every turn.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/str.h"
#include "engine/engine.h"
#include "engine/sample/sample.h"
#include "engine/template/template.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: rustygpt run MODEL [PROMPT] [options]\n\n"
        "One-shot completion when PROMPT is given (only the generated text on stdout),\n"
        "else an interactive chat. MODEL is a .gguf path or a model id in the models dir.\n"
        "  -n N               most tokens to generate (default 256; -1 = until the context is "
        "full)\n"
        "  --temp T           temperature (default 0.8; 0 = greedy)\n"
        "  --seed S           random seed (default: time)\n"
        "  --top-k K          (default 40)   --top-p P (default 0.95)   --min-p P (default 0.05)\n"
        "  --repeat-penalty R (default 1.0, off)\n"
        "  --raw              no chat template: plain completion of PROMPT\n"
        "  --system TEXT      system prompt for the chat template\n"
        "  -t, --threads N    compute threads (default: one per core)\n"
        "  -c, --ctx-size N   context length (default: the model's, at most 4096)\n"
        "  --models-dir DIR   where model ids are looked up (default ./models)\n");
}

struct opts {
    const char *model, *prompt, *system, *models_dir;
    long n_predict;
    int threads, ctx;
    bool raw;
    struct rg_sample_params sp;
};

static int parse_num(const char *flag, const char *v, double min, double max, double *out)
{
    if (!v || rg_parse_double(v, min, max, out) != RG_OK) {
        fprintf(stderr, "rustygpt run: %s: expected a number %g-%g, got '%s'\n", flag, min, max,
                v ? v : "");
        return -1;
    }
    return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->n_predict = 256;
    o->sp = rg_sample_default_params();
    o->sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
#define NUM(flag, lo, hi)                                                                          \
    (strcmp(a, flag) ? 0 : parse_num(flag, v, lo, hi, &d) == 0 ? (i++, 1) : -1)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        if (!strcmp(a, "--raw")) {
            o->raw = true;
            continue;
        }
        int r;
        if ((r = NUM("-n", -1, 1e9)) != 0) {
            if (r < 0) return -1;
            o->n_predict = (long)d;
        } else if ((r = NUM("--temp", 0, 100)) != 0) {
            if (r < 0) return -1;
            o->sp.temperature = (float)d;
        } else if ((r = NUM("--seed", 0, 1.8e19)) != 0) {
            if (r < 0) return -1;
            o->sp.seed = (uint64_t)d;
        } else if ((r = NUM("--top-k", 0, 1e9)) != 0) {
            if (r < 0) return -1;
            o->sp.top_k = (int32_t)d;
        } else if ((r = NUM("--top-p", 0, 1)) != 0) {
            if (r < 0) return -1;
            o->sp.top_p = (float)d;
        } else if ((r = NUM("--min-p", 0, 1)) != 0) {
            if (r < 0) return -1;
            o->sp.min_p = (float)d;
        } else if ((r = NUM("--repeat-penalty", 0, 10)) != 0) {
            if (r < 0) return -1;
            o->sp.repeat_penalty = (float)d;
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) &&
                   (r = parse_num(a, v, 0, 1024, &d)) == 0) {
            o->threads = (int)d;
            i++;
        } else if ((!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) &&
                   (r = parse_num(a, v, 0, 1 << 24, &d)) == 0) {
            o->ctx = (int)d;
            i++;
        } else if (!strcmp(a, "--system") && v) {
            o->system = v;
            i++;
        } else if (!strcmp(a, "--models-dir") && v) {
            o->models_dir = v;
            i++;
        } else if (r < 0) {
            return -1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "rustygpt run: unknown option %s (see --help)\n", a);
            return -1;
        } else if (!o->model) {
            o->model = a;
        } else if (!o->prompt) {
            o->prompt = a;
        } else {
            fprintf(stderr, "rustygpt run: unexpected argument '%s'\n", a);
            return -1;
        }
#undef NUM
    }
    if (!o->model) {
        fprintf(stderr, "rustygpt run: MODEL is missing (see --help)\n");
        return -1;
    }
    return 0;
}

struct session {
    struct rg_model *m;
    struct rg_ctx *c;
    struct rg_sampler *s;
    int32_t *cached; /* tokens in the KV cache */
    int32_t n_cached;
    float *logits;
};

/* Decodes toks, reusing the longest cached prefix; leaves the last logits. */
static int feed(struct session *S, const int32_t *toks, int32_t n, char *err)
{
    int32_t keep = 0;
    while (keep < n && keep < S->n_cached && S->cached[keep] == toks[keep])
        keep++;
    if (keep == n && n > 0) keep--; /* recompute the last token to get its logits */
    rg_ctx_truncate(S->c, keep);
    S->n_cached = keep;
    int rc = rg_decode(S->c, toks + keep, n - keep, S->logits, false, err);
    if (rc) return rc;
    memcpy(S->cached + keep, toks + keep, (size_t)(n - keep) * sizeof *toks);
    S->n_cached = n;
    return RG_OK;
}

/* Generates until EOG, n_predict or the context end; streams to out and
 * appends the text to reply (may be NULL). */
static int generate(struct session *S, long n_predict, FILE *out, struct rg_buf *reply, char *err)
{
    const struct rg_vocab *v = rg_model_vocab(S->m);
    struct rg_detok d;
    rg_detok_init(&d, v, false);
    char text[512];
    int32_t n_ctx = rg_ctx_n_ctx(S->c);
    for (long i = 0; n_predict < 0 || i < n_predict; i++) {
        int32_t t = rg_sampler_sample(S->s, S->logits);
        if (rg_vocab_is_eog(v, t)) break;
        rg_sampler_accept(S->s, t);
        int n = rg_detok_push(&d, t, text, sizeof text);
        if (n > 0) {
            fwrite(text, 1, (size_t)n, out);
            fflush(out);
            if (reply) rg_buf_append(reply, text, (size_t)n);
        }
        if (S->n_cached >= n_ctx) {
            fprintf(stderr, "\nrustygpt run: the context of %d tokens is full\n", n_ctx);
            break;
        }
        int rc = rg_decode(S->c, &t, 1, S->logits, false, err);
        if (rc) return rc;
        S->cached[S->n_cached++] = t;
    }
    int n = rg_detok_flush(&d, text, sizeof text);
    if (n > 0) {
        fwrite(text, 1, (size_t)n, out);
        if (reply) rg_buf_append(reply, text, (size_t)n);
    }
    fflush(out);
    return RG_OK;
}

static int tokenize_all(const struct rg_vocab *v, const char *text, bool special, int32_t **out,
                        int32_t *n)
{
    size_t got = 0;
    int32_t *t = NULL;
    int rc = rg_tokenize_alloc(v, text, strlen(text), true, special, &t, &got);
    if (rc) return rc;
    *out = t;
    *n = (int32_t)got;
    return RG_OK;
}

int rg_cmd_run(int argc, char **argv)
{
    struct opts o;
    int pr = parse(argc, argv, &o);
    if (pr > 0) {
        usage(stdout);
        return RG_EXIT_OK;
    }
    if (pr < 0) return RG_EXIT_USAGE;
    char pbuf[4096], err[RG_ERR_SIZE];
    struct session S = {0};
    int exit_code = RG_EXIT_FAIL;
    S.m = rg_model_load(rg_cli_model_path(o.model, o.models_dir, pbuf, sizeof pbuf), NULL, err);
    if (!S.m) {
        fprintf(stderr, "rustygpt run: %s\n", err);
        return RG_EXIT_FAIL;
    }
    const struct rg_model_info *I = rg_model_info(S.m);
    struct rg_ctx_params cp = rg_ctx_default_params();
    cp.n_ctx = o.ctx > 0 ? o.ctx : RG_MIN(I->n_ctx_train, 4096);
    cp.n_threads = o.threads;
    S.c = rg_ctx_new(S.m, &cp, err);
    S.s = rg_sampler_new(&o.sp, I->n_vocab);
    S.cached = rg_malloc_array((size_t)cp.n_ctx + 1, sizeof *S.cached);
    S.logits = rg_malloc_array((size_t)I->n_vocab, sizeof *S.logits);
    if (!S.c || !S.s || !S.cached || !S.logits) {
        fprintf(stderr, "rustygpt run: %s\n", S.c ? "out of memory" : err);
        goto out;
    }
    const struct rg_vocab *v = rg_model_vocab(S.m);
    const char *jinja = NULL;
    rg_gguf_get_str(rg_model_gguf(S.m), "tokenizer.chat_template", &jinja);
    enum rg_chat_format fmt = rg_chat_detect(jinja);
    struct rg_chat_msg msgs[512];
    size_t n_msgs = 0;
    char *owned[512] = {0};
    if (o.system) msgs[n_msgs++] = (struct rg_chat_msg){"system", o.system};

    if (o.prompt) {
        struct rg_buf text;
        rg_buf_init(&text, 64u << 20);
        if (o.raw) {
            rg_buf_append_str(&text, o.prompt);
        } else {
            msgs[n_msgs++] = (struct rg_chat_msg){"user", o.prompt};
            rg_chat_render(fmt, msgs, n_msgs, true, &text);
        }
        int32_t *toks = NULL, n = 0;
        int rc = tokenize_all(v, text.data ? text.data : "", !o.raw, &toks, &n);
        rg_buf_free(&text);
        if (rc) {
            fprintf(stderr, "rustygpt run: cannot tokenize the prompt: %s\n", rg_strerror(rc));
            goto out;
        }
        if (n >= cp.n_ctx) {
            fprintf(stderr, "rustygpt run: the prompt (%d tokens) does not fit the context of %d\n",
                    n, cp.n_ctx);
            rg_free(toks);
            goto out;
        }
        for (int32_t i = 0; i < n; i++)
            rg_sampler_accept(S.s, toks[i]);
        rc = feed(&S, toks, n, err);
        rg_free(toks);
        if (rc == RG_OK) rc = generate(&S, o.n_predict, stdout, NULL, err);
        if (rc) {
            fprintf(stderr, "rustygpt run: %s\n", err);
            goto out;
        }
        if (!o.raw) putchar('\n');
        exit_code = RG_EXIT_OK;
        goto out;
    }

    /* interactive chat */
    bool tty = isatty(0);
    if (tty)
        fprintf(stderr, "%s (%s, chat format %s). Type a message; Ctrl-D quits.\n", I->name,
                I->arch, rg_chat_format_name(fmt));
    char line[8192];
    exit_code = RG_EXIT_OK;
    while (n_msgs + 2 < RG_ARRAY_LEN(msgs)) {
        if (tty) fputs("> ", stderr);
        if (!fgets(line, sizeof line, stdin)) break;
        line[strcspn(line, "\n")] = '\0';
        if (!line[0]) continue;
        owned[n_msgs] = rg_strdup(line);
        msgs[n_msgs] = (struct rg_chat_msg){"user", owned[n_msgs]};
        n_msgs++;
        struct rg_buf text, reply;
        rg_buf_init(&text, 64u << 20);
        rg_buf_init(&reply, 64u << 20);
        int32_t *toks = NULL, n = 0;
        int rc = rg_chat_render(fmt, msgs, n_msgs, true, &text);
        if (rc == RG_OK) rc = tokenize_all(v, text.data, true, &toks, &n);
        rg_buf_free(&text);
        if (rc == RG_OK && n >= cp.n_ctx) rc = RG_EOVERFLOW;
        if (rc == RG_OK) rc = feed(&S, toks, n, err);
        if (rc == RG_OK) rc = generate(&S, o.n_predict, stdout, &reply, err);
        rg_free(toks);
        if (rc) {
            fprintf(stderr, "rustygpt run: %s\n",
                    rc == RG_EOVERFLOW ? "the conversation no longer fits the context" : err);
            rg_buf_free(&reply);
            exit_code = RG_EXIT_FAIL;
            break;
        }
        fputc('\n', stdout);
        owned[n_msgs] = rg_buf_steal(&reply);
        msgs[n_msgs] = (struct rg_chat_msg){"assistant", owned[n_msgs] ? owned[n_msgs] : ""};
        n_msgs++;
    }
    for (size_t i = 0; i < RG_ARRAY_LEN(owned); i++)
        rg_free(owned[i]);
out:
    rg_free(S.cached);
    rg_free(S.logits);
    rg_sampler_free(S.s);
    rg_ctx_free(S.c);
    rg_model_free(S.m);
    return exit_code;
}
