/*
 * `rustygpt run MODEL [PROMPT] [-n N] [--temp T] [--seed S] [--raw]`
 * One-shot: only the generated text goes to stdout, streamed as whole UTF-8
 * characters; diagnostics go to stderr. Without PROMPT: an interactive chat on
 * the terminal, reusing the cached prefix of the conversation every turn.
 */
#include <math.h>
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
#include "chat/chat.h"
#include "common/log.h"

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

/*
 * The model served by the engine's runtime (one slot), as the server serves
 * it: each turn of a chat goes to the same slot, whose cache still holds the
 * conversation so far, so only the new turn is decoded.
 */
struct session {
    struct rg_engine *e;
    struct rg_engine_model *m;
    struct rg_sample_params sp;
    long n_predict;
};

/* Generates from toks, streaming the text to out and appending it to reply
 * (may be NULL). */
static int generate(struct session *S, const int32_t *toks, int32_t n, FILE *out,
                    struct rg_buf *reply, char *err)
{
    struct rg_engine_request req = {.kind = RG_ENGINE_GENERATE,
                                    .log_id = "run",
                                    .tokens = &toks,
                                    .n_tokens = &n,
                                    .n_inputs = 1,
                                    .n = 1,
                                    .sp = S->sp,
                                    .max_tokens = S->n_predict};
    int rc;
    uint64_t id = rg_engine_submit(S->m, &req, NULL, NULL, &rc, err);
    if (!id) return rc;
    struct rg_engine_event ev;
    long made = 0;
    bool full = false;
    while (rg_engine_next(S->e, id, &ev, -1) == 1) {
        if (ev.type == RG_ENGINE_EV_TEXT && ev.len) {
            fwrite(ev.text, 1, ev.len, out);
            fflush(out);
            if (reply) rg_buf_append(reply, ev.text, ev.len);
        }
        if (ev.type == RG_ENGINE_EV_TEXT) made += ev.n_tok;
        if (ev.type == RG_ENGINE_EV_CHOICE_END)
            full = !strcmp(ev.finish, "length") && (S->n_predict < 0 || made < S->n_predict);
        bool end = ev.type == RG_ENGINE_EV_END;
        if (end) {
            rc = ev.rc;
            if (rc != RG_OK) snprintf(err, RG_ERR_SIZE, "%s", ev.err);
        }
        rg_engine_event_clear(&ev);
        if (end) break;
    }
    fflush(out);
    if (rc == RG_OK && full)
        fprintf(stderr, "\nrustygpt run: the context of %d tokens is full\n",
                rg_engine_model_n_ctx(S->m));
    return rc;
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
    rg_log_set_level(RG_LOG_WARN); /* the engine's info lines are for servers */
    char pbuf[4096], err[RG_ERR_SIZE], id[128];
    const char *path = rg_cli_model_path(o.model, o.models_dir, pbuf, sizeof pbuf);
    struct rg_engine_params ep = rg_engine_default_params();
    ep.models = &path; /* named by its path: the registry finds it as a -m model */
    ep.n_models = 1;
    ep.preload = false; /* loaded below, on this thread, so a bad file is reported once */
    ep.n_ctx = o.ctx;
    ep.n_slots = 1;
    ep.n_threads = o.threads;
    ep.keep_alive = -1;
    struct session S = {.sp = o.sp, .n_predict = o.n_predict};
    int exit_code = RG_EXIT_FAIL;
    S.e = rg_engine_new(&ep, err);
    if (!S.e) {
        fprintf(stderr, "rustygpt run: %s\n", err);
        return RG_EXIT_FAIL;
    }
    rg_engine_model_id_of(path, id, sizeof id);
    if (rg_engine_acquire(S.e, id, &S.m, err) != RG_OK) {
        fprintf(stderr, "rustygpt run: %s\n", err);
        rg_engine_free(S.e);
        return RG_EXIT_FAIL;
    }
    const struct rg_model *model = rg_engine_model_get(S.m);
    const struct rg_model_info *I = rg_model_info(model);
    const struct rg_vocab *v = rg_model_vocab(model);
    enum rg_chat_format fmt = rg_engine_model_chat_format(S.m);
    int32_t n_ctx = rg_engine_model_n_ctx(S.m);
    struct rg_chat_msg msgs[512];
    size_t n_msgs = 0;
    char *owned[512] = {0};
    if (o.system) msgs[n_msgs++] = (struct rg_chat_msg){"system", o.system};

    if (o.prompt) {
        int32_t *toks = NULL;
        size_t n = 0;
        int rc;
        if (o.raw) {
            rc = rg_tokenize_alloc(v, o.prompt, strlen(o.prompt), true, false, &toks, &n);
        } else {
            msgs[n_msgs++] = (struct rg_chat_msg){"user", o.prompt};
            rc = rg_chat_tokenize_msgs(v, fmt, msgs, n_msgs, &toks, &n, err);
        }
        if (rc) {
            fprintf(stderr, "rustygpt run: cannot tokenize the prompt: %s\n", rg_strerror(rc));
            goto out;
        }
        if ((int64_t)n >= n_ctx) {
            fprintf(stderr,
                    "rustygpt run: the prompt (%zu tokens) does not fit the context of %d\n", n,
                    n_ctx);
            rg_free(toks);
            goto out;
        }
        rc = generate(&S, toks, (int32_t)n, stdout, NULL, err);
        rg_free(toks);
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
        struct rg_buf reply;
        rg_buf_init(&reply, 64u << 20);
        int32_t *toks = NULL;
        size_t n = 0;
        int rc = rg_chat_tokenize_msgs(v, fmt, msgs, n_msgs, &toks, &n, err);
        if (rc == RG_OK && (int64_t)n >= n_ctx) rc = RG_EOVERFLOW;
        if (rc == RG_OK) rc = generate(&S, toks, (int32_t)n, stdout, &reply, err);
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
    rg_engine_release(S.m, NAN);
    rg_engine_free(S.e);
    return exit_code;
}
