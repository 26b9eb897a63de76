/*
 * OpenAI-compatible endpoints: /v1/models, /v1/chat/completions and
 * /v1/completions, streamed (SSE) or not, on the engine.
 *
 * Models are loaded on first use from -m files or the models dir and stay
 * loaded. Each model has --parallel slots; a slot is a context (KV cache)
 * that remembers the tokens it holds, so a request that extends an earlier
 * conversation only decodes what is new. A request waits for a free slot
 * (the queue depth in /metrics), then generates on its own thread and writes
 * to the client through an HTTP stream, so no HTTP thread ever blocks on
 * inference; a client that leaves stops its generation at the next token.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/str.h"
#include "engine/constrain/grammar.h"
#include "api/tools.h"
#include "engine/catalog/catalog.h"
#include "engine/engine.h"
#include "engine/sample/sample.h"
#include "engine/template/template.h"
#include "http/metrics.h"

#ifndef RG_VERSION
#define RG_VERSION "0.0.0"
#endif

#define MAX_MODELS 64
#define MAX_STOPS 4
#define MAX_CHOICES 16

struct job;

struct slot {
    int32_t *cached; /* tokens this sequence of the model's context holds */
    int32_t n_cached;
    uint64_t last_used; /* admission count when its last job arrived; 0 = never */
    bool busy;
    struct job *job;
};

/*
 * A loaded model: one context whose --parallel sequences are the slots, and
 * one scheduler thread that decodes every active slot's next token in a
 * single batched step (continuous batching: a new request joins the next
 * step without waiting for the others to finish).
 */
struct served {
    char id[128];
    char path[4096];
    struct rg_model *m;
    enum rg_chat_format fmt;
    int32_t n_ctx;
    struct slot *slots;
    int n_slots;
    struct rg_ctx *ctx;   /* n_seq = n_slots; created with the scheduler */
    pthread_mutex_t lock; /* slots, queue, stop */
    pthread_cond_t work;  /* a job was queued, or stop */
    struct job *queue, *queue_tail;
    uint64_t admitted; /* jobs given a slot so far (the slots' last_used clock) */
    bool sched_started, stop;
    pthread_t sched;
    char *pieces;             /* every token's bytes, for response_format (scheduler thread) */
    uint32_t *piece_off;      /* n_vocab + 1 offsets into pieces */
    struct rg_ctx *embed_ctx; /* embeddings run apart from the generations */
    pthread_mutex_t embed_lock;
    struct rg_openai *oa;
    /* under oa->lock: requests holding the model, when the last one left,
     * and what it costs (weights + KV cache) against --max-memory */
    int users;
    double last_used;
    size_t mem;
    bool pinned; /* named with -m: loaded at start, never unloaded */
    double keep; /* Ollama's keep_alive of the last request that set one; NAN: --keep-alive */
};

struct rg_openai {
    const struct rg_config *cfg;
    pthread_mutex_t lock; /* guards models[] while loading */
    struct served *models[MAX_MODELS];
    int n_models;
    atomic_long waiting, busy, total_slots;
    atomic_long embedding; /* embedding threads running */
    atomic_ullong next_id;
    pthread_t reaper; /* unloads models idle longer than --keep-alive */
    pthread_cond_t reap;
    bool reaper_started, stopping;
    pthread_t preload; /* loads the -m models at start */
    bool preload_started;
};

/* ---- model registry ---- */

static void model_id_of(const char *path, char *id, size_t n)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t l = strlen(b);
    if (rg_str_ends_with(b, ".gguf")) l -= 5;
    snprintf(id, n, "%.*s", (int)RG_MIN(l, n - 1), b);
}

/* Path of a model id: a -m file with that id, else <models_dir>/<id>.gguf. */
static bool path_of(const struct rg_config *cfg, const char *id, char *out, size_t n)
{
    for (size_t i = 0; i < cfg->models.n; i++) {
        char mid[128];
        model_id_of(cfg->models.v[i], mid, sizeof mid);
        if (!strcmp(mid, id)) {
            snprintf(out, n, "%s", cfg->models.v[i]);
            return true;
        }
    }
    if (!*id || strchr(id, '/') || strstr(id, ".."))
        return false; /* ids never walk the filesystem */
    int w = snprintf(out, n, "%s/%s.gguf", cfg->models_dir, id);
    return w > 0 && (size_t)w < n && access(out, R_OK) == 0;
}

static double mono(void);
static void served_free(struct served *s);

/* Weights (their file, mapped) plus the KV cache of every slot. */
static size_t model_mem(const struct rg_model_info *I, int32_t n_ctx, int n_slots, bool f16)
{
    size_t kv = (size_t)n_slots * (size_t)I->n_layer * (size_t)n_ctx * (size_t)I->n_head_kv *
                (size_t)I->head_dim * 2 * (f16 ? sizeof(uint16_t) : sizeof(float));
    return (size_t)I->file_size + kv;
}

/* Takes the least recently used idle model out of the table (oa->lock
 * held); NULL when every loaded model is in use. */
static struct served *take_idle(struct rg_openai *oa, bool expired_only)
{
    int best = -1;
    double now = mono();
    for (int i = 0; i < oa->n_models; i++) {
        struct served *s = oa->models[i];
        if (s->users > 0 || s->pinned) continue;
        double keep = isnan(s->keep) ? (double)oa->cfg->keep_alive : s->keep;
        if (expired_only && (keep < 0 || now - s->last_used < keep)) continue;
        if (best < 0 || s->last_used < oa->models[best]->last_used) best = i;
    }
    if (best < 0) return NULL;
    struct served *s = oa->models[best];
    oa->models[best] = oa->models[--oa->n_models];
    atomic_fetch_sub(&oa->total_slots, s->n_slots);
    rg_metrics_set_slots(atomic_load(&oa->busy), atomic_load(&oa->total_slots));
    return s;
}

static void unload(struct served *s, const char *why)
{
    rg_log(RG_LOG_INFO, "model unloaded", "id", 's', s->id, "reason", 's', why, RG_LOG_END);
    served_free(s);
}

/* A request is done with the model it got from get_model(). */
static void put_model_keep(struct rg_openai *oa, struct served *s, double keep)
{
    pthread_mutex_lock(&oa->lock);
    if (!isnan(keep)) s->keep = keep; /* Ollama's keep_alive for what follows */
    s->users--;
    s->last_used = mono();
    if (s->users == 0) pthread_cond_signal(&oa->reap);
    pthread_mutex_unlock(&oa->lock);
}

static void put_model(struct rg_openai *oa, struct served *s)
{
    put_model_keep(oa, s, NAN);
}

static void *reaper(void *arg)
{
    struct rg_openai *oa = arg;
    pthread_mutex_lock(&oa->lock);
    while (!oa->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&oa->reap, &oa->lock, &ts);
        struct served *s;
        while (!oa->stopping && (s = take_idle(oa, true)) != NULL) {
            pthread_mutex_unlock(&oa->lock); /* its scheduler is joined outside the lock */
            unload(s, "idle");
            pthread_mutex_lock(&oa->lock);
        }
    }
    pthread_mutex_unlock(&oa->lock);
    return NULL;
}

/* The loaded model id, loading it if needed; the caller holds it until
 * put_model(). NULL with an HTTP status and a message. */
/* The context a model is served with (per slot): --ctx-size, else the
 * model's own up to 4096. Clients are told this one, not the training
 * length, since it is what a prompt must fit (Copilot sizes its prompts by
 * what /api/show says). */
static int32_t served_ctx(const struct rg_config *cfg, int64_t n_ctx_train)
{
    if (cfg->ctx_size > 0) return cfg->ctx_size;
    if (n_ctx_train <= 0) n_ctx_train = 2048; /* the engine's default when the file has none */
    return (int32_t)RG_MIN(n_ctx_train, 4096);
}

static struct served *get_model(struct rg_openai *oa, const char *id, int *status, char *err)
{
    pthread_mutex_lock(&oa->lock);
    for (int i = 0; i < oa->n_models; i++) {
        if (!strcmp(oa->models[i]->id, id)) {
            struct served *s = oa->models[i];
            s->users++;
            s->last_used = mono();
            pthread_mutex_unlock(&oa->lock);
            return s;
        }
    }
    struct served *s = NULL;
    char path[4096];
    if (!path_of(oa->cfg, id, path, sizeof path)) {
        *status = 404;
        rg_err_set(err, RG_ENOTFOUND, "The model '%.100s' does not exist (see GET /v1/models)", id);
        goto out;
    }
    if (oa->n_models == MAX_MODELS) {
        *status = 503;
        rg_err_set(err, RG_EBUSY, "too many models loaded");
        goto out;
    }
    s = rg_calloc(1, sizeof *s);
    if (!s) goto nomem;
    snprintf(s->id, sizeof s->id, "%s", id);
    snprintf(s->path, sizeof s->path, "%s", path);
    char lerr[RG_ERR_SIZE];
    s->m = rg_model_load(path, NULL, lerr);
    if (!s->m) {
        *status = 500;
        rg_err_set(err, RG_EFORMAT, "cannot load model '%.60s': %.160s", id, lerr);
        rg_free(s);
        s = NULL;
        goto out;
    }
    const struct rg_model_info *I = rg_model_info(s->m);
    const char *jinja = NULL;
    rg_gguf_get_str(rg_model_gguf(s->m), "tokenizer.chat_template", &jinja);
    s->fmt = rg_chat_detect(jinja);
    s->n_ctx = served_ctx(oa->cfg, I->n_ctx_train);
    s->n_slots = oa->cfg->parallel > 0 ? oa->cfg->parallel : 1;
    s->mem = model_mem(I, s->n_ctx, s->n_slots, oa->cfg->cache_f16);
    if (oa->cfg->max_memory > 0) { /* make room: idle models go, least recently used first */
        size_t used = 0;
        for (int i = 0; i < oa->n_models; i++)
            used += oa->models[i]->mem;
        struct served *old;
        while (used + s->mem > oa->cfg->max_memory && (old = take_idle(oa, false)) != NULL) {
            used -= old->mem;
            unload(old, "memory budget");
        }
        if (used + s->mem > oa->cfg->max_memory) {
            *status = 503;
            rg_err_set(err, RG_EBUSY,
                       "model '%.60s' needs %zu MiB (weights and KV cache) and %zu MiB of the "
                       "%zu MiB --max-memory budget are held by models in use; try again when "
                       "they are idle, or lower --ctx-size/--parallel",
                       id, s->mem >> 20, used >> 20, oa->cfg->max_memory >> 20);
            rg_model_free(s->m);
            rg_free(s);
            s = NULL;
            goto out;
        }
    }
    s->users = 1;
    s->last_used = mono();
    s->keep = NAN;
    for (size_t i = 0; i < oa->cfg->models.n; i++) /* a -m model stays */
        s->pinned |= !strcmp(oa->cfg->models.v[i], path);
    s->slots = rg_calloc((size_t)s->n_slots, sizeof *s->slots);
    if (!s->slots) {
        rg_model_free(s->m);
        rg_free(s);
        s = NULL;
        goto nomem;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_mutex_init(&s->embed_lock, NULL);
    s->oa = oa;
    oa->models[oa->n_models++] = s;
    atomic_fetch_add(&oa->total_slots, s->n_slots);
    rg_metrics_set_slots(atomic_load(&oa->busy), atomic_load(&oa->total_slots));
    rg_log(RG_LOG_INFO, "model loaded", "id", 's', id, "arch", 's', I->arch, "n_ctx", 'i',
           (long long)s->n_ctx, "slots", 'i', (long long)s->n_slots, "chat_format", 's',
           rg_chat_format_name(s->fmt), RG_LOG_END);
    goto out;
nomem:
    *status = 500;
    rg_err_set(err, RG_ENOMEM, "out of memory");
out:
    pthread_mutex_unlock(&oa->lock);
    return s;
}

/* ---- request parsing ---- */

struct gen_req {
    bool chat, stream, include_usage;
    bool ollama;         /* Ollama's /api/chat and /api/generate: NDJSON, its field names */
    bool ollama_message; /* answer in "message" (/api/chat) rather than "response" */
    bool logprobs;       /* chat: report each token's log probability */
    bool tools;          /* chat: tool definitions were given; parse <tool_call> blocks */
    int top_logprobs;    /* and this many alternatives (0-20) */
    int n_choices;       /* "n": answers to the same prompt, one after the other */
    bool ignore_eos;     /* llama.cpp's extension: generate max_tokens whatever the model says */
    char *prompt_text;   /* rendered */
    struct rg_sample_params sp;
    long max_tokens; /* -1: until the context is full */
    char *stops[MAX_STOPS];
    int n_stops;
    struct rg_logit_bias *bias;
    size_t n_bias;
    struct rg_jg *jg;  /* response_format: the output must be a document of this */
    json_t *tool_defs; /* the request's tools, for the names a bare call may use */
    double keep_alive; /* Ollama's keep_alive for the model after this request; NAN: none */
    bool one_call;     /* parallel_tool_calls: false: at most one call per answer */
};

static void gen_req_free(struct gen_req *g)
{
    rg_free(g->prompt_text);
    for (int i = 0; i < g->n_stops; i++)
        rg_free(g->stops[i]);
    rg_free(g->bias);
    rg_jg_free(g->jg);
    json_decref(g->tool_defs);
}

#define BAD(param, ...)                                                                            \
    do {                                                                                           \
        rg_http_reply_error(r, 400, "invalid_request_error", NULL, param, __VA_ARGS__);            \
        return false;                                                                              \
    } while (0)

static bool get_number(struct rg_http_req *r, json_t *body, const char *key, double lo, double hi,
                       double *out)
{
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_number(v)) BAD(key, "'%s' must be a number", key);
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) BAD(key, "'%s' must be between %g and %g, got %g", key, lo, hi, d);
    *out = d;
    return true;
}

/* response_format: text, json_object (any object) or json_schema (a document
 * of the schema). llama.cpp's top-level "json_schema" is accepted too. */
static bool parse_format(struct rg_http_req *r, json_t *body, struct gen_req *g)
{
    json_t *rf = json_object_get(body, "response_format");
    json_t *schema = json_object_get(body, "json_schema");
    bool want = schema && !json_is_null(schema);
    if (rf && !json_is_null(rf)) {
        const char *type = json_string_value(json_object_get(rf, "type"));
        if (!json_is_object(rf) || !type)
            BAD("response_format", "'response_format' must be an object with a 'type'");
        if (!strcmp(type, "json_object")) {
            want = true;
            schema = NULL;
        } else if (!strcmp(type, "json_schema")) {
            json_t *js = json_object_get(rf, "json_schema");
            if (!json_is_object(js))
                BAD("response_format", "'response_format.json_schema' must be an object");
            schema = json_object_get(js, "schema");
            if (!schema) BAD("response_format", "'response_format.json_schema.schema' is required");
            want = true;
        } else if (strcmp(type, "text") != 0) {
            BAD("response_format",
                "'response_format.type' must be 'text', 'json_object' or 'json_schema', got "
                "'%.40s'",
                type);
        }
    }
    if (!want) return true;
    char err[RG_ERR_SIZE];
    int rc = rg_jg_compile(schema, &g->jg, err, sizeof err);
    if (rc == RG_EINVAL) BAD("response_format", "invalid JSON schema: %s", err);
    if (rc != RG_OK) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "%s", rg_strerror(rc));
        return false;
    }
    return true;
}

static bool parse_common(struct rg_http_req *r, json_t *body, struct gen_req *g, int32_t n_vocab)
{
    g->sp = rg_sample_default_params();
    g->sp.temperature = 1.0f; /* OpenAI's defaults */
    g->sp.top_p = 1.0f;
    g->sp.top_k = 0;
    g->sp.min_p = 0;
    g->sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)g << 16);
    g->max_tokens = -1;
    double d;
    d = g->sp.temperature;
    if (!get_number(r, body, "temperature", 0, 2, &d)) return false;
    g->sp.temperature = (float)d;
    d = g->sp.top_p;
    if (!get_number(r, body, "top_p", 0, 1, &d)) return false;
    g->sp.top_p = (float)d;
    d = 0;
    if (!get_number(r, body, "top_k", 0, 1e6, &d)) return false;
    g->sp.top_k = (int32_t)d;
    d = 0;
    if (!get_number(r, body, "min_p", 0, 1, &d)) return false;
    g->sp.min_p = (float)d;
    d = 0;
    if (!get_number(r, body, "frequency_penalty", -2, 2, &d)) return false;
    g->sp.frequency_penalty = (float)d;
    d = 0;
    if (!get_number(r, body, "presence_penalty", -2, 2, &d)) return false;
    g->sp.presence_penalty = (float)d;
    d = 1;
    if (!get_number(r, body, "repeat_penalty", 0, 10, &d)) return false;
    g->sp.repeat_penalty = (float)d;
    d = -1;
    if (!get_number(r, body, "seed", -9.2e18, 9.2e18, &d)) return false;
    if (d >= 0) g->sp.seed = (uint64_t)d;
    const char *mt_key =
        json_object_get(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    d = -1;
    if (!get_number(r, body, mt_key, 1, 1e9, &d)) return false;
    g->max_tokens = (long)d;
    d = 1;
    if (!get_number(r, body, "n", 1, MAX_CHOICES, &d)) return false;
    g->n_choices = (int)d;
    if (d != (int)d) BAD("n", "'n' must be a whole number");
    json_t *ie = json_object_get(body, "ignore_eos");
    if (ie && !json_is_null(ie) && !json_is_boolean(ie))
        BAD("ignore_eos", "'ignore_eos' must be true or false");
    g->ignore_eos = json_is_true(ie);
    json_t *ka = json_object_get(body, "rg_keep_alive"); /* set by the Ollama handlers */
    g->keep_alive = json_is_number(ka) ? json_number_value(ka) : NAN;
    /* "cache_prompt" (llama.cpp) is accepted and always true here: a slot
     * keeps its tokens and the next request reuses the common prefix */
    json_t *st = json_object_get(body, "stream");
    if (st && !json_is_null(st) && !json_is_boolean(st))
        BAD("stream", "'stream' must be true or false");
    g->stream = json_is_true(st);
    json_t *so = json_object_get(body, "stream_options");
    g->include_usage = so && json_is_true(json_object_get(so, "include_usage"));
    json_t *lp = json_object_get(body, "logprobs");
    if (lp && !json_is_null(lp) && !json_is_boolean(lp))
        BAD("logprobs", "'logprobs' must be true or false");
    g->logprobs = json_is_true(lp);
    d = 0;
    if (!get_number(r, body, "top_logprobs", 0, 20, &d)) return false;
    g->top_logprobs = (int)d;
    if (g->top_logprobs > 0 && !g->logprobs)
        BAD("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    json_t *stop = json_object_get(body, "stop");
    if (json_is_string(stop)) {
        if (json_string_length(stop)) g->stops[g->n_stops++] = rg_strdup(json_string_value(stop));
    } else if (json_is_array(stop)) {
        size_t i;
        json_t *s;
        if (json_array_size(stop) > MAX_STOPS) BAD("stop", "at most %d stop sequences", MAX_STOPS);
        json_array_foreach(stop, i, s)
        {
            if (!json_is_string(s)) BAD("stop", "'stop' must be a string or an array of strings");
            if (json_string_length(s)) g->stops[g->n_stops++] = rg_strdup(json_string_value(s));
        }
    } else if (stop && !json_is_null(stop)) {
        BAD("stop", "'stop' must be a string or an array of strings");
    }
    json_t *lb = json_object_get(body, "logit_bias");
    if (lb && !json_is_null(lb)) {
        if (!json_is_object(lb)) BAD("logit_bias", "'logit_bias' must map token ids to numbers");
        g->bias = rg_calloc(json_object_size(lb) + 1, sizeof *g->bias);
        const char *k;
        json_t *v;
        json_object_foreach(lb, k, v)
        {
            int64_t id;
            if (rg_parse_i64(k, 0, n_vocab - 1, &id) != RG_OK || !json_is_number(v))
                BAD("logit_bias", "'logit_bias' key '%.20s' is not a token id of this model", k);
            double b = json_number_value(v);
            g->bias[g->n_bias++] =
                (struct rg_logit_bias){(int32_t)id, b <= -100 ? -INFINITY : (float)b};
        }
        g->sp.bias = g->bias;
        g->sp.n_bias = g->n_bias;
    }
    return parse_format(r, body, g);
}

/* Message content: a string, or an array of parts of which the text ones count. */
static bool content_text(struct rg_http_req *r, json_t *c, size_t idx, struct rg_buf *out)
{
    if (json_is_string(c))
        return rg_buf_append(out, json_string_value(c), json_string_length(c)) == RG_OK;
    if (json_is_null(c)) return true;
    if (json_is_array(c)) {
        size_t i;
        json_t *p;
        json_array_foreach(c, i, p)
        {
            const char *type = json_string_value(json_object_get(p, "type"));
            if (!type || strcmp(type, "text") != 0) {
                char param[48];
                snprintf(param, sizeof param, "messages[%zu].content", idx);
                BAD(param, "content part type '%.20s' is not supported (text only)",
                    type ? type : "?");
            }
            json_t *t = json_object_get(p, "text");
            if (!json_is_string(t)) BAD("messages", "a text part needs 'text'");
            rg_buf_append(out, json_string_value(t), json_string_length(t));
        }
        return true;
    }
    char param[48];
    snprintf(param, sizeof param, "messages[%zu].content", idx);
    BAD(param, "'content' must be a string or an array of parts");
}

/* tool_choice "required" or {"type":"function","function":{"name":...}}: the
 * answer is constrained to one <tool_call> of the allowed tools, its
 * arguments to the tool's parameter schema (keywords the automaton cannot
 * enforce, such as pattern, are left out; a schema that does not compile at
 * all becomes "any object"). "auto" and absent leave the choice to the
 * model. */
static bool force_tool_call(struct rg_http_req *r, json_t *body, json_t *tools, struct gen_req *g)
{
    json_t *tc = json_object_get(body, "tool_choice");
    const char *want = NULL;
    if (!tc || json_is_null(tc) || (json_is_string(tc) && !strcmp(json_string_value(tc), "auto")))
        return true;
    if (json_is_object(tc)) {
        want = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
        if (!want)
            BAD("tool_choice", "'tool_choice' must name a function: {\"type\":\"function\","
                               "\"function\":{\"name\":...}}");
    } else if (!json_is_string(tc) || strcmp(json_string_value(tc), "required") != 0) {
        BAD("tool_choice", "'tool_choice' must be 'none', 'auto', 'required' or a function");
    }
    json_t *alts = json_array(), *names = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        json_t *fn = json_object_get(t, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!name || (want && strcmp(name, want) != 0)) continue;
        json_t *params = json_object_get(fn, "parameters");
        struct rg_jg *probe = NULL;
        char perr[RG_ERR_SIZE];
        bool usable = params && rg_jg_compile_wrapped(params, NULL, NULL, true, &probe, perr,
                                                      sizeof perr) == RG_OK;
        rg_jg_free(probe);
        json_t *args = usable ? json_incref(params) : json_pack("{s:s}", "type", "object");
        json_array_append_new(names, json_string(name));
        json_array_append_new(alts, json_pack("{s:s, s:{s:{s:s}, s:o}, s:[s, s]}", "type", "object",
                                              "properties", "name", "const", name, "arguments",
                                              args, "required", "name", "arguments"));
    }
    if (json_array_size(names) == 0) {
        json_decref(alts);
        json_decref(names);
        BAD("tool_choice", "'tool_choice' names '%.60s', which is not in 'tools'", want);
    }
    json_t *schema = json_array_size(alts) <= 16
                         ? json_pack("{s:o}", "anyOf", alts)
                         : json_pack("{s:s, s:{s:{s:o}, s:{s:s}}, s:[s, s]}", "type", "object",
                                     "properties", "name", "enum", names, "arguments", "type",
                                     "object", "required", "name", "arguments");
    if (json_array_size(alts) > 16)
        json_decref(alts);
    else
        json_decref(names);
    char err[RG_ERR_SIZE];
    rg_jg_free(g->jg); /* a forced call wins over response_format */
    g->jg = NULL;
    int rc =
        rg_jg_compile_wrapped(schema, RG_TOOL_OPEN, RG_TOOL_CLOSE, true, &g->jg, err, sizeof err);
    json_decref(schema);
    if (rc != RG_OK) BAD("tool_choice", "cannot constrain the answer to a tool call: %s", err);
    return true;
}

static bool render_chat(struct rg_http_req *r, json_t *body, struct served *s, struct gen_req *g)
{
    json_t *msgs = json_object_get(body, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        BAD("messages", "'messages' must be a non-empty array");
    size_t n = json_array_size(msgs);
    if (n > 4096) BAD("messages", "too many messages");
    /* tools: definitions into the system message, unless tool_choice is "none" */
    json_t *tools = json_object_get(body, "tools");
    const char *choice = json_string_value(json_object_get(body, "tool_choice"));
    if (tools && json_is_null(tools)) tools = NULL;
    if (tools) {
        char err[RG_ERR_SIZE];
        if (rg_tools_validate(tools, err) != RG_OK) BAD("tools", "%s", err);
        if (json_array_size(tools) == 0 || (choice && !strcmp(choice, "none"))) tools = NULL;
    }
    g->tools = tools != NULL;
    g->tool_defs = tools ? json_incref(tools) : NULL;
    g->one_call = json_is_false(json_object_get(body, "parallel_tool_calls"));
    if (tools && !force_tool_call(r, body, tools, g)) return false;
    /* one more slot: a system message may be added for the tools */
    struct rg_chat_msg *cm = rg_calloc(n + 1, sizeof *cm);
    struct rg_buf *texts = rg_calloc(n + 1, sizeof *texts);
    bool ok = cm && texts;
    size_t k = 0;
    if (ok && tools) {
        json_t *first = json_array_get(msgs, 0);
        const char *r0 = json_string_value(json_object_get(first, "role"));
        if (!r0 || (strcmp(r0, "system") && strcmp(r0, "developer"))) {
            rg_buf_init(&texts[0], 16u << 20);
            rg_buf_append_str(&texts[0], "You are a helpful assistant.");
            rg_tools_system_text(tools, &texts[0]);
            cm[k++] = (struct rg_chat_msg){"system", texts[0].data};
        }
    }
    for (size_t i = 0; ok && i < n; i++, k++) {
        json_t *m = json_array_get(msgs, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        char param[48];
        snprintf(param, sizeof param, "messages[%zu].role", i);
        if (!role) {
            rg_http_reply_error(r, 400, NULL, NULL, param, "each message needs a 'role'");
            ok = false;
            break;
        }
        if (!strcmp(role, "developer")) role = "system";
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") &&
            strcmp(role, "tool")) {
            rg_http_reply_error(r, 400, NULL, NULL, param, "unknown role '%.20s'", role);
            ok = false;
            break;
        }
        struct rg_buf *t = &texts[k];
        rg_buf_init(t, 16u << 20);
        bool is_tool = !strcmp(role, "tool");
        if (is_tool) rg_buf_append_str(t, "<tool_response>\n");
        if (!content_text(r, json_object_get(m, "content"), i, t)) {
            ok = false;
            break;
        }
        if (is_tool) {
            rg_buf_append_str(t, "\n</tool_response>");
            role = "user"; /* the protocol carries results in the user's turn */
        }
        json_t *calls = json_object_get(m, "tool_calls");
        size_t ci;
        json_t *call;
        json_array_foreach(calls, ci, call)
        {
            json_t *fn = json_object_get(call, "function");
            rg_tools_call_text(json_string_value(json_object_get(fn, "name")),
                               json_string_value(json_object_get(fn, "arguments")), t);
        }
        if (tools && k == 0 && !strcmp(role, "system")) rg_tools_system_text(tools, t);
        cm[k] = (struct rg_chat_msg){role, t->data ? t->data : ""};
    }
    struct rg_buf out;
    rg_buf_init(&out, 64u << 20);
    if (ok && rg_chat_render(s->fmt, cm, k, true, &out) != RG_OK) {
        rg_http_reply_error(r, 400, NULL, NULL, "messages",
                            "the conversation could not be rendered");
        ok = false;
    }
    if (ok) g->prompt_text = rg_buf_steal(&out);
    rg_buf_free(&out);
    for (size_t i = 0; texts && i <= n; i++)
        rg_buf_free(&texts[i]);
    rg_free(texts);
    rg_free(cm);
    if (!cm || !texts) rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
    return ok;
}

/* ---- generation ---- */

/* A JSON string of generated text: the engine hands out whole characters,
 * but a model may still produce bytes that are not UTF-8 at all; those
 * become U+FFFD so the reply stays valid JSON. */
static json_t *json_text(const char *p, size_t n)
{
    if (rg_utf8_valid(p, n)) return json_stringn(p, n);
    struct rg_buf b;
    rg_buf_init(&b, SIZE_MAX);
    size_t i = 0;
    while (i < n) {
        size_t ok = rg_utf8_valid_prefix(p + i, n - i);
        rg_buf_append(&b, p + i, ok);
        i += ok;
        if (i < n) {
            rg_buf_append(&b, "\xef\xbf\xbd", 3);
            i++;
        }
    }
    json_t *j = json_stringn(b.data ? b.data : "", b.len);
    rg_buf_free(&b);
    return j;
}

/* QUEUED → PREFILL (set up, find the cached prefix) → PROMPT (the rest of
 * the prompt goes in, a chunk per step) → DECODE (a token per step) → DONE */
enum job_phase { PHASE_QUEUED, PHASE_PREFILL, PHASE_PROMPT, PHASE_DECODE, PHASE_DONE };

/* Tokens one scheduler step decodes at most: every generating sequence's
 * next token, then prompt chunks of new requests in what is left. Small
 * enough that streams keep flowing while a long prompt is read. */
#define STEP_TOKENS 128

struct job {
    struct rg_openai *oa;
    struct served *s;
    int slot;
    struct gen_req g;
    int32_t *toks;
    int32_t n_toks;
    struct rg_sse *out;
    char id[48];
    long created;
    /* generation state, owned by the scheduler thread */
    enum job_phase phase;
    struct rg_sampler *smp;
    struct rg_detok d;
    struct rg_buf all, pending;
    float *logits;
    int32_t next; /* token to decode in the next batched step */
    int32_t fed;  /* PHASE_PROMPT: prompt tokens in the cache so far */
    int32_t take; /* and in this step */
    long n_gen;
    const char *finish;
    bool first;
    int rc;
    char err[RG_ERR_SIZE];
    struct job *qnext;
    double t_queued, t_first, t_done; /* CLOCK_MONOTONIC seconds, for the completion log */
    float *raw;                       /* logits as the model gave them (for logprobs) */
    json_t *lp_all;                   /* logprobs.content of the whole answer */
    json_t *lp_unsent;                /* entries not yet attached to a streamed chunk */
    bool in_tool;        /* output from <tool_call> on goes to tool_buf, not to the client */
    bool answer_started; /* something other than whitespace went to the client */
    struct rg_buf tool_buf;
    struct rg_jg_state *jst; /* response_format: what the output has read so far */
    float *scratch;          /* logits to sample from before the grammar check */
    int choice;              /* which of the answers (prompts x n) is being generated */
    int32_t **ptoks;         /* each prompt's tokens (/v1/completions takes several) */
    int32_t *pn;
    int n_prompts;
    long n_prompt_total;
    long n_cached_total; /* of those, found in the slot's cache (first answer of each prompt) */
    long n_gen_total;    /* tokens of the answers before this one */
    json_t *choices;     /* non-streamed: the finished answers */
};

static void free_prompts(struct job *j)
{
    for (int i = 0; j->ptoks && i < j->n_prompts; i++)
        rg_free(j->ptoks[i]);
    rg_free(j->ptoks);
    rg_free(j->pn);
    j->ptoks = NULL;
    j->toks = NULL;
}

/* Longest suffix of text[0..n) that is a proper prefix of a stop string. */
static size_t held_back(const struct gen_req *g, const char *text, size_t n)
{
    size_t best = 0;
    for (int k = 0; k <= g->n_stops; k++) {
        const char *stop = k < g->n_stops ? g->stops[k] : g->tools ? RG_TOOL_OPEN : NULL;
        if (!stop) continue;
        size_t sl = strlen(stop);
        for (size_t l = RG_MIN(sl - 1, n); l > best; l--)
            if (!memcmp(text + n - l, stop, l)) {
                best = l;
                break;
            }
    }
    return best;
}

static json_t *chunk(const struct job *j, const char *text, size_t len, const char *finish,
                     bool first)
{
    json_t *choice;
    if (j->g.chat) {
        json_t *delta = json_object();
        if (first) json_object_set_new(delta, "role", json_string("assistant"));
        if (text) json_object_set_new(delta, "content", json_text(text, len));
        choice = json_pack("{s:i, s:o, s:n}", "index", j->choice, "delta", delta, "logprobs");
        if (j->lp_unsent && json_array_size(j->lp_unsent)) {
            json_object_set_new(choice, "logprobs",
                                json_pack("{s:o}", "content", json_copy(j->lp_unsent)));
            json_array_clear(j->lp_unsent);
        }
    } else {
        choice = json_pack("{s:i, s:o, s:n}", "index", j->choice, "text",
                           json_text(text ? text : "", text ? len : 0), "logprobs");
    }
    json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:[o]}", "id", j->id, "object",
                     j->g.chat ? "chat.completion.chunk" : "text_completion", "created",
                     (json_int_t)j->created, "model", j->s->id, "system_fingerprint",
                     "rustygpt-" RG_VERSION, "choices", choice);
}

/* OpenAI's usage object; cached_tokens is how much of the prompt came from
 * the cache (clients such as Copilot show it). */
static json_t *usage(long p, long c, long cached)
{
    return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)p,
                     "completion_tokens", (json_int_t)c, "total_tokens", (json_int_t)(p + c),
                     "prompt_tokens_details", "cached_tokens", (json_int_t)cached);
}

/* Sends text as a delta (stream) or keeps it (non-stream). RG_ECLOSED when the client left. */
static void iso_time(char *buf, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + k, n - k, ".%09ldZ", ts.tv_nsec);
}

/* One Ollama response object (a line of NDJSON when streaming). */
static json_t *ollama_obj(const struct job *j, const char *text, size_t len, bool done)
{
    char ts[64];
    iso_time(ts, sizeof ts);
    json_t *o = json_pack("{s:s, s:s, s:b}", "model", j->s->id, "created_at", ts, "done", done);
    if (j->g.ollama_message)
        json_object_set_new(o, "message",
                            json_pack("{s:s, s:o}", "role", "assistant", "content",
                                      json_text(text ? text : "", len)));
    else
        json_object_set_new(o, "response", json_text(text ? text : "", len));
    return o;
}

static int ollama_line(struct rg_sse *out, json_t *o)
{
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!txt) return RG_ENOMEM;
    size_t n = strlen(txt);
    txt[n] = '\n';
    int rc = rg_sse_write(out, txt, n + 1);
    free(txt);
    return rc;
}

static int emit_text(struct job *j, struct rg_buf *all, const char *text, size_t len, bool *first)
{
    if (!len) return RG_OK;
    if (!j->g.stream) return rg_buf_append(all, text, len);
    if (j->g.ollama) return ollama_line(j->out, ollama_obj(j, text, len, false));
    /* only whole UTF-8 characters go into JSON strings */
    json_t *c = chunk(j, text, len, NULL, *first);
    *first = false;
    int rc = c ? rg_sse_send_json(j->out, NULL, c) : RG_ENOMEM;
    json_decref(c);
    return rc;
}

static json_t *token_obj(const struct rg_vocab *v, int32_t id, float logprob)
{
    char piece[256];
    int n = rg_token_to_piece(v, id, false, piece, sizeof piece);
    if (n < 0) n = 0;
    if (n > (int)sizeof piece) n = (int)sizeof piece;
    json_t *bytes = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(bytes, json_integer((unsigned char)piece[i]));
    return json_pack("{s:o, s:f, s:o}", "token", json_text(piece, (size_t)n), "logprob",
                     (double)logprob, "bytes", bytes);
}

/* The chosen token's log probability and the top alternatives, from the
 * model's own distribution (before penalties, bias and temperature). */
static void record_logprobs(struct job *j, int32_t chosen)
{
    const struct rg_vocab *v = rg_model_vocab(j->s->m);
    int32_t n = rg_model_info(j->s->m)->n_vocab;
    const float *l = j->raw;
    float max = l[0];
    for (int32_t i = 1; i < n; i++)
        if (l[i] > max) max = l[i];
    double sum = 0;
    for (int32_t i = 0; i < n; i++)
        sum += exp((double)l[i] - max);
    float lse = max + (float)log(RG_MAX(sum, 1.0)); /* sum >= 1: it has exp(max - max) */
    json_t *e = token_obj(v, chosen, l[chosen] - lse), *top = json_array();
    int32_t best[20];
    int k = 0;
    for (; k < j->g.top_logprobs && k < n; k++) {
        int32_t b = -1;
        for (int32_t i = 0; i < n; i++) {
            bool taken = false;
            for (int q = 0; q < k; q++)
                taken |= best[q] == i;
            if (!taken && (b < 0 || l[i] > l[b])) b = i;
        }
        best[k] = b;
        json_array_append_new(top, token_obj(v, b, l[b] - lse));
    }
    json_object_set_new(e, "top_logprobs", top);
    json_array_append(j->lp_all, e);
    json_array_append_new(j->lp_unsent, e);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Every token's bytes, once per model, for checking tokens against a grammar. */
static bool build_pieces(struct served *s)
{
    if (s->pieces) return true;
    const struct rg_vocab *v = rg_model_vocab(s->m);
    int32_t n = rg_model_info(s->m)->n_vocab;
    uint32_t *off = rg_malloc_array((size_t)n + 1, sizeof *off);
    struct rg_buf b;
    rg_buf_init(&b, 64u << 20);
    bool ok = off != NULL;
    for (int32_t i = 0; ok && i < n; i++) {
        char piece[256];
        int pl = rg_token_to_piece(v, i, false, piece, sizeof piece);
        off[i] = (uint32_t)b.len;
        if (pl > 0 && pl <= (int)sizeof piece) ok = rg_buf_append(&b, piece, (size_t)pl) == RG_OK;
    }
    if (!ok) {
        rg_free(off);
        rg_buf_free(&b);
        return false;
    }
    off[n] = (uint32_t)b.len;
    s->piece_off = off;
    s->pieces = b.data ? b.data : rg_calloc(1, 1);
    return s->pieces != NULL;
}

/* Whether token t may come next under the job's grammar (the state after it
 * into *next when given; next may be the job's own state). End-of-generation tokens only where the
 * document may end; tokens with no bytes (control tokens) never, so the output always advances. */
static bool grammar_allows(struct job *j, int32_t t, struct rg_jg_state *next)
{
    struct served *s = j->s;
    if (rg_vocab_is_eog(rg_model_vocab(s->m), t)) return rg_jg_can_end(j->g.jg, j->jst);
    uint32_t a = s->piece_off[t], b = s->piece_off[t + 1];
    if (a == b) return false;
    if (next) {
        if (next != j->jst) rg_jg_copy(next, j->jst);
        return rg_jg_feed(j->g.jg, next, s->pieces + a, b - a);
    }
    struct rg_jg_state tmp;
    rg_jg_copy(&tmp, j->jst);
    return rg_jg_feed(j->g.jg, &tmp, s->pieces + a, b - a);
}

/* Samples under the grammar: the sampled token when it fits (the common
 * case), else every token that does not fit is masked and the sampler runs
 * again on what is left. -1 when no token can continue the document. */
static int32_t sample_constrained(struct job *j)
{
    struct served *s = j->s;
    int32_t n = rg_model_info(s->m)->n_vocab;
    memcpy(j->scratch, j->logits, (size_t)n * sizeof *j->scratch);
    int32_t t = rg_sampler_sample(j->smp, j->scratch);
    if (grammar_allows(j, t, NULL)) return t;
    bool first[256];
    for (int c = 0; c < 256; c++) {
        struct rg_jg_state tmp;
        char ch = (char)c;
        rg_jg_copy(&tmp, j->jst);
        first[c] = rg_jg_feed(j->g.jg, &tmp, &ch, 1);
    }
    const struct rg_vocab *v = rg_model_vocab(s->m);
    int32_t left = 0;
    for (int32_t i = 0; i < n; i++) {
        uint32_t a = s->piece_off[i];
        bool ok = rg_vocab_is_eog(v, i) ||
                  (a < s->piece_off[i + 1] && first[(unsigned char)s->pieces[a]]);
        if (ok) ok = grammar_allows(j, i, NULL);
        if (!ok) j->logits[i] = -INFINITY;
        left += ok;
    }
    if (!left) return -1;
    t = rg_sampler_sample(j->smp, j->logits);
    return j->logits[t] == -INFINITY ? -1 : t;
}

/* After a logits row: sample, stream the text, decide whether to go on. */
static void job_advance(struct job *j)
{
    struct served *s = j->s;
    struct slot *sl = &s->slots[j->slot];
    const struct rg_vocab *v = rg_model_vocab(s->m);
    j->phase = PHASE_DONE;
    if (j->g.max_tokens >= 0 && j->n_gen >= j->g.max_tokens) return;
    if (sl->n_cached >= s->n_ctx) return; /* context full: finish_reason "length" */
    if (rg_sse_closed(j->out)) {
        j->rc = RG_ECLOSED;
        return;
    }
    if (j->raw) memcpy(j->raw, j->logits, (size_t)rg_model_info(s->m)->n_vocab * sizeof *j->raw);
    if (j->g.ignore_eos)
        for (int32_t i = 0; i < rg_model_info(s->m)->n_vocab; i++)
            if (rg_vocab_is_eog(v, i)) j->logits[i] = -INFINITY;
    int32_t t = j->jst ? sample_constrained(j) : rg_sampler_sample(j->smp, j->logits);
    if (t < 0) {
        j->rc =
            rg_err_set(j->err, RG_EINVAL, "no token of this model can continue the JSON document");
        return;
    }
    if (rg_vocab_is_eog(v, t)) {
        j->finish = "stop";
        return;
    }
    if (j->raw) record_logprobs(j, t);
    rg_sampler_accept(j->smp, t);
    if (j->jst) grammar_allows(j, t, j->jst);
    if (j->n_gen++ == 0 && j->t_first == 0) j->t_first = mono();
    rg_metrics_add_generated(1);
    char piece[512];
    int pl = rg_detok_push(&j->d, t, piece, sizeof piece);
    if (pl > 0) rg_buf_append(&j->pending, piece, (size_t)pl);
    bool bare_hold = false; /* may still turn out to be a bare call: send nothing yet */
    if (j->g.tools && !j->in_tool && !j->answer_started && j->pending.len) {
        int b = rg_tools_bare_start(j->pending.data, j->pending.len);
        if (b == 1) { /* {"name": ...}, [{...}], <|python_tag|>, [TOOL_CALLS] */
            rg_buf_append(&j->tool_buf, j->pending.data, j->pending.len);
            j->pending.len = 0;
            j->pending.data[0] = '\0';
            j->in_tool = true;
        }
        bare_hold = b == -1;
    }
    if (j->g.tools && j->pending.len) { /* a tool call is not content: keep it apart */
        const char *hit = j->in_tool ? j->pending.data : strstr(j->pending.data, RG_TOOL_OPEN);
        if (hit) {
            size_t at = (size_t)(hit - j->pending.data);
            rg_buf_append(&j->tool_buf, j->pending.data + at, j->pending.len - at);
            j->pending.len = at;
            j->pending.data[at] = '\0';
            j->in_tool = true;
        }
    }
    /* stop strings never reach the client */
    bool stopped = false;
    for (int k = 0; k < j->g.n_stops && j->pending.len; k++) {
        const char *hit = strstr(j->pending.data, j->g.stops[k]);
        if (hit) {
            j->pending.len = (size_t)(hit - j->pending.data);
            stopped = true;
        }
    }
    size_t hold = stopped ? 0
                  : bare_hold
                      ? j->pending.len
                      : held_back(&j->g, j->pending.data ? j->pending.data : "", j->pending.len);
    size_t send = j->pending.len - hold;
    for (size_t i = 0; i < send && !j->answer_started; i++)
        j->answer_started = !strchr(" \n\r\t", j->pending.data[i]);
    j->rc = emit_text(j, &j->all, j->pending.data, send, &j->first);
    if (j->pending.data) {
        memmove(j->pending.data, j->pending.data + send, hold);
        j->pending.len = hold;
        j->pending.data[hold] = '\0';
    }
    if (stopped || (j->jst && rg_jg_complete(j->jst))) {
        j->finish = "stop";
        return;
    }
    if (j->rc != RG_OK) return;
    j->next = t;
    j->phase = PHASE_DECODE;
}

/* Decodes the prompt into the job's sequence, reusing what the slot holds. */
/* How many of j's prompt tokens the slot's cache starts with. */
static int32_t shared_prefix(const struct slot *sl, const struct job *j)
{
    int32_t n = 0;
    while (n < j->n_toks && n < sl->n_cached && sl->cached[n] == j->toks[n])
        n++;
    return n;
}

static void job_prefill(struct job *j)
{
    struct served *s = j->s;
    struct slot *sl = &s->slots[j->slot];
    int32_t n_vocab = rg_model_info(s->m)->n_vocab;
    if (j->choice == 0) { /* once per request; later answers reuse them */
        j->logits = rg_malloc_array((size_t)n_vocab, sizeof *j->logits);
        rg_buf_init(&j->all, 64u << 20);
        rg_buf_init(&j->pending, 1u << 20);
        rg_buf_init(&j->tool_buf, 1u << 20);
        if (j->g.logprobs && j->g.chat) j->raw = rg_malloc_array((size_t)n_vocab, sizeof *j->raw);
        if (j->g.jg) {
            j->jst = rg_malloc(sizeof *j->jst);
            j->scratch = rg_malloc_array((size_t)n_vocab, sizeof *j->scratch);
        }
        if (!j->g.stream && !j->g.ollama) j->choices = json_array();
    }
    /* each answer starts afresh, with its own seed */
    struct rg_sample_params sp = j->g.sp;
    sp.seed += (uint64_t)j->choice;
    rg_sampler_free(j->smp);
    j->smp = rg_sampler_new(&sp, n_vocab);
    j->all.len = j->pending.len = j->tool_buf.len = 0;
    rg_detok_init(&j->d, rg_model_vocab(s->m), false);
    j->finish = "length";
    j->first = true;
    j->in_tool = false;
    j->answer_started = false;
    j->n_gen = 0;
    if (j->g.logprobs && j->g.chat) {
        json_decref(j->lp_all);
        json_decref(j->lp_unsent);
        j->lp_all = json_array();
        j->lp_unsent = json_array();
    }
    if (j->jst) rg_jg_start(j->g.jg, j->jst);
    if (!j->smp || !j->logits || (!j->g.stream && !j->g.ollama && !j->choices) ||
        (j->g.jg && (!j->jst || !j->scratch || !build_pieces(s))) ||
        (j->g.logprobs && j->g.chat && (!j->raw || !j->lp_all || !j->lp_unsent))) {
        j->rc = rg_err_set(j->err, RG_ENOMEM, "out of memory");
        j->phase = PHASE_DONE;
        return;
    }
    int32_t keep = shared_prefix(sl, j);
    /* another slot may hold more of this prompt (the same long system prompt,
     * tool definitions, a conversation that moved): its K/V rows are copied,
     * far cheaper than computing them */
    int src = -1;
    int32_t more = keep;
    for (int i = 0; i < s->n_slots; i++) {
        int32_t k = i == j->slot ? 0 : shared_prefix(&s->slots[i], j);
        if (k > more) src = i, more = k;
    }
    if (src >= 0 && rg_ctx_seq_copy(s->ctx, src, j->slot, keep, more) == RG_OK) {
        memcpy(sl->cached + keep, s->slots[src].cached + keep,
               (size_t)(more - keep) * sizeof *sl->cached);
        sl->n_cached = keep = more;
    }
    if (keep == j->n_toks) keep--; /* decode the last one again for its logits */
    if (j->choice % j->g.n_choices == 0) j->n_cached_total += keep;
    rg_ctx_seq_truncate(s->ctx, j->slot, keep);
    sl->n_cached = keep;
    j->fed = keep;
    j->phase = PHASE_PROMPT; /* the scheduler feeds the rest, chunk by chunk */
}

/* The whole prompt is in: its logits row is in j->logits. */
static void job_prompt_done(struct job *j)
{
    for (int32_t i = 0; i < j->n_toks; i++)
        rg_sampler_accept(j->smp, j->toks[i]);
    job_advance(j);
}

/* The end of one answer: its last text, its tool calls and finish_reason
 * (streamed: the closing chunk of its index; otherwise kept in j->choices).
 * Returns the request's status. */
static int choice_end(struct job *j)
{
    int rc = j->rc;
    if (rc == RG_OK) {
        char tail[16];
        int tl = rg_detok_flush(&j->d, tail, sizeof tail);
        if (tl > 0 && !strcmp(j->finish, "length")) rg_buf_append(&j->pending, tail, (size_t)tl);
        rc = emit_text(j, &j->all, j->pending.data, j->pending.len, &j->first);
    }
    json_t *calls = NULL;
    if (rc == RG_OK && j->tool_buf.len) {
        calls = rg_tools_parse(j->tool_buf.data, j->tool_buf.len, j->id, j->g.tool_defs);
        if (calls && json_array_size(calls) == 0) { /* not a call after all: it was text */
            json_decref(calls);
            calls = NULL;
            rc = emit_text(j, &j->all, j->tool_buf.data, j->tool_buf.len, &j->first);
        } else if (calls) {
            j->finish = "tool_calls";
            while (j->g.one_call && json_array_size(calls) > 1) /* parallel_tool_calls: false */
                json_array_remove(calls, json_array_size(calls) - 1);
        }
    }
    if (!j->finish) j->finish = "length";
    j->n_gen_total += j->n_gen;
    if (rc != RG_OK || j->g.ollama) {
        json_decref(calls);
        return rc;
    }
    if (j->g.stream) {
        if (calls) {
            json_t *tc = chunk(j, NULL, 0, NULL, j->first);
            json_t *delta =
                json_object_get(json_array_get(json_object_get(tc, "choices"), 0), "delta");
            json_t *arr = json_array();
            size_t ci;
            json_t *call;
            json_array_foreach(calls, ci, call)
            {
                json_t *x = json_copy(call);
                json_object_set_new(x, "index", json_integer((json_int_t)ci));
                json_array_append_new(arr, x);
            }
            json_object_set_new(delta, "tool_calls", arr);
            rg_sse_send_json(j->out, NULL, tc);
            json_decref(tc);
            j->first = false;
        }
        json_t *c = chunk(j, NULL, 0, j->finish, j->first);
        rc = rg_sse_send_json(j->out, NULL, c);
        json_decref(c);
    } else {
        json_t *text = json_text(j->all.data ? j->all.data : "", j->all.len);
        json_t *choice = j->g.chat ? json_pack("{s:i, s:{s:s, s:o}, s:n, s:s}", "index", j->choice,
                                               "message", "role", "assistant", "content", text,
                                               "logprobs", "finish_reason", j->finish)
                                   : json_pack("{s:i, s:o, s:n, s:s}", "index", j->choice, "text",
                                               text, "logprobs", "finish_reason", j->finish);
        if (calls && choice && j->g.chat) {
            json_t *msg = json_object_get(choice, "message");
            json_object_set(msg, "tool_calls", calls);
            if (!j->all.len) json_object_set_new(msg, "content", json_null());
        }
        if (j->lp_all && choice)
            json_object_set_new(choice, "logprobs", json_pack("{s:O}", "content", j->lp_all));
        if (!choice || json_array_append_new(j->choices, choice) != 0) rc = RG_ENOMEM;
    }
    json_decref(calls);
    return rc;
}

/* The end of the request: usage, the log line, the end of the stream or the
 * whole body; then the job is freed. */
static void request_end(struct job *j, int rc)
{
    struct served *s = j->s;
    const char *err = j->err;
    long n_prompt = j->n_prompt_total, n_gen = j->n_gen_total, n_cached = j->n_cached_total;
    const char *finish = j->finish ? j->finish : "length";
    struct rg_buf *all = &j->all;
    rg_metrics_add_tokens(n_prompt, n_gen);
    j->t_done = mono();
    double ttft = j->t_first > 0 ? j->t_first - j->t_queued : 0,
           gen_s = j->t_first > 0 && n_gen > 1 ? (double)(n_gen - 1) / (j->t_done - j->t_first) : 0;
    rg_log(RG_LOG_INFO, "completion", "id", 's', j->id, "model", 's', s->id, "stream", 'b',
           (int)j->g.stream, "prompt_tokens", 'i', (long long)n_prompt, "cached_tokens", 'i',
           (long long)n_cached, "completion_tokens", 'i', (long long)n_gen, "finish", 's',
           rc == RG_OK        ? finish
           : rc == RG_ECLOSED ? "client_gone"
                              : "error",
           "ttft_ms", 'f', ttft * 1e3, "tokens_per_s", 'f', gen_s, "total_ms", 'f',
           (j->t_done - j->t_queued) * 1e3, RG_LOG_END);
    if (j->g.ollama) {
        if (rc == RG_OK) {
            json_t *o =
                j->g.stream ? ollama_obj(j, "", 0, true) : ollama_obj(j, all->data, all->len, true);
            double total = (double)((long)time(NULL) - j->created);
            json_object_set_new(o, "done_reason", json_string(finish));
            json_object_set_new(o, "total_duration", json_integer((json_int_t)(total * 1e9)));
            json_object_set_new(o, "prompt_eval_count", json_integer(n_prompt));
            json_object_set_new(o, "eval_count", json_integer(n_gen));
            if (j->g.stream) {
                ollama_line(j->out, o);
            } else {
                char *txt = json_dumps(o, JSON_COMPACT);
                json_decref(o);
                if (txt) rg_sse_write(j->out, txt, strlen(txt));
                free(txt);
            }
        } else if (rc != RG_ECLOSED) {
            json_t *e = json_pack("{s:s}", "error", err[0] ? err : rg_strerror(rc));
            if (j->g.stream) {
                ollama_line(j->out, e);
            } else {
                char *txt = json_dumps(e, JSON_COMPACT);
                json_decref(e);
                if (txt) rg_sse_write(j->out, txt, strlen(txt));
                free(txt);
            }
        }
    } else if (j->g.stream) {
        if (rc == RG_OK) {
            if (j->g.include_usage) {
                json_t *u = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", j->id, "object",
                                      j->g.chat ? "chat.completion.chunk" : "text_completion",
                                      "created", (json_int_t)j->created, "model", s->id, "choices",
                                      "usage", usage(n_prompt, n_gen, n_cached));
                rg_sse_send_json(j->out, NULL, u);
                json_decref(u);
            }
            rg_sse_send(j->out, NULL, "[DONE]", 6);
        } else if (rc != RG_ECLOSED) {
            char *e = rg_http_error_body(500, NULL, NULL, NULL, err[0] ? err : rg_strerror(rc));
            if (e) rg_sse_send(j->out, NULL, e, strlen(e));
            rg_free(e);
        }
    } else {
        json_t *body = NULL;
        if (rc == RG_OK)
            body = json_pack("{s:s, s:s, s:I, s:s, s:s, s:O, s:o}", "id", j->id, "object",
                             j->g.chat ? "chat.completion" : "text_completion", "created",
                             (json_int_t)j->created, "model", s->id, "system_fingerprint",
                             "rustygpt-" RG_VERSION, "choices", j->choices, "usage",
                             usage(n_prompt, n_gen, n_cached));
        char *txt = body
                        ? json_dumps(body, JSON_COMPACT)
                        : rg_http_error_body(500, NULL, NULL, NULL, err[0] ? err : rg_strerror(rc));
        if (txt) rg_sse_write(j->out, txt, strlen(txt));
        if (body)
            free(txt);
        else
            rg_free(txt);
        json_decref(body);
    }
    rg_sse_log_model(j->out, s->id, n_prompt, n_gen);
    /* released before the response ends, so that the client's next request
     * never finds the model still held (the budget counts on it) */
    put_model_keep(j->oa, s, j->g.keep_alive);
    rg_sse_end(j->out);
    rg_sampler_free(j->smp);
    rg_free(j->logits);
    rg_free(j->raw);
    rg_free(j->jst);
    rg_free(j->scratch);
    json_decref(j->choices);
    rg_buf_free(&j->tool_buf);
    json_decref(j->lp_all);
    json_decref(j->lp_unsent);
    rg_buf_free(&j->all);
    rg_buf_free(&j->pending);
    gen_req_free(&j->g);
    free_prompts(j);
    rg_free(j);
}

/* An answer is done: start the next one of "n" in the same slot (its prompt
 * is all cached), or end the request. True when the job is gone. */
static bool job_finish(struct job *j)
{
    int rc = choice_end(j);
    if (rc == RG_OK && j->choice + 1 < j->g.n_choices * j->n_prompts) {
        j->choice++;
        int p = j->choice / j->g.n_choices; /* prompt after prompt, n answers each */
        j->toks = j->ptoks[p];
        j->n_toks = j->pn[p];
        j->phase = PHASE_PREFILL;
        return false;
    }
    request_end(j, rc);
    return true;
}

static void publish_slots(struct rg_openai *oa)
{
    rg_metrics_set_slots(atomic_load(&oa->busy), atomic_load(&oa->total_slots));
    rg_metrics_set_queue_depth(atomic_load(&oa->waiting));
}

/*
 * The free slot for j: the one whose cached tokens share the longest prefix
 * with j's first prompt, so a conversation's next turn finds its own slot
 * rather than whichever is free first; where none shares more than a first
 * token (BOS), the one used least recently (an empty one first), so the
 * cache overwritten is the one least likely to be wanted. -1 if all are busy.
 */
static int pick_slot(const struct served *s, const struct job *j)
{
    int best = -1;
    int32_t best_keep = -1;
    uint64_t best_used = 0;
    for (int i = 0; i < s->n_slots; i++) {
        const struct slot *sl = &s->slots[i];
        if (sl->busy) continue;
        int32_t keep = shared_prefix(sl, j);
        if (keep <= 1) keep = 0;
        if (keep > best_keep || (keep == best_keep && sl->last_used < best_used))
            best = i, best_keep = keep, best_used = sl->last_used;
    }
    return best;
}

static void *scheduler(void *arg)
{
    struct served *s = arg;
    struct rg_openai *oa = s->oa;
    int32_t n_vocab = rg_model_info(s->m)->n_vocab;
    float *batch_logits =
        rg_malloc_array((size_t)s->n_slots * (size_t)n_vocab, sizeof *batch_logits);
    struct rg_batch_item *items =
        rg_calloc((size_t)s->n_slots + STEP_TOKENS + STEP_TOKENS / 4, sizeof *items);
    struct job **rows = rg_calloc((size_t)s->n_slots, sizeof *rows);
    struct job **prompting = rg_calloc((size_t)s->n_slots, sizeof *prompting);
    pthread_mutex_lock(&s->lock);
    for (;;) {
        /* admit queued requests into free slots, each into the one whose
         * cache shares the longest prefix with its prompt */
        for (int i; s->queue && (i = pick_slot(s, s->queue)) >= 0;) {
            struct job *j = s->queue;
            s->queue = j->qnext;
            if (!s->queue) s->queue_tail = NULL;
            j->slot = i;
            j->phase = PHASE_PREFILL;
            s->slots[i].last_used = ++s->admitted;
            s->slots[i].busy = true;
            s->slots[i].job = j;
            atomic_fetch_sub(&oa->waiting, 1);
            atomic_fetch_add(&oa->busy, 1);
            publish_slots(oa);
        }
        int active = 0;
        for (int i = 0; i < s->n_slots; i++)
            active += s->slots[i].job != NULL;
        if (!active) {
            if (s->stop) break;
            pthread_cond_wait(&s->work, &s->lock);
            continue;
        }
        pthread_mutex_unlock(&s->lock);
        /* new requests find what their slot already holds */
        for (int i = 0; i < s->n_slots; i++) {
            struct job *j = s->slots[i].job;
            if (j && j->phase == PHASE_PREFILL) job_prefill(j);
            if (j && j->phase == PHASE_PROMPT && rg_sse_closed(j->out)) {
                j->rc = RG_ECLOSED; /* left while its prompt was being read */
                j->phase = PHASE_DONE;
            }
        }
        /* one batched step: every generating sequence's next token, then
         * prompt chunks in the room left; one logits row per job that
         * needs one, in the order of the items that asked for it */
        int n = 0, n_rows = 0, n_prompt = 0;
        if (batch_logits && items && rows && prompting) {
            for (int i = 0; i < s->n_slots; i++) {
                struct job *j = s->slots[i].job;
                if (j && j->phase == PHASE_DECODE) {
                    items[n++] = (struct rg_batch_item){j->next, i, true};
                    rows[n_rows++] = j;
                }
            }
            int budget = RG_MAX(STEP_TOKENS - n, STEP_TOKENS / 4);
            for (int i = 0; i < s->n_slots && budget > 0; i++) {
                struct job *j = s->slots[i].job;
                if (!j || j->phase != PHASE_PROMPT) continue;
                j->take = RG_MIN(budget, j->n_toks - j->fed);
                for (int32_t t = 0; t < j->take; t++) {
                    int32_t pos = j->fed + t;
                    items[n++] = (struct rg_batch_item){j->toks[pos], i, pos == j->n_toks - 1};
                }
                budget -= j->take;
                if (j->fed + j->take == j->n_toks) rows[n_rows++] = j;
                prompting[n_prompt++] = j;
            }
        }
        if (n > 0) {
            char err[RG_ERR_SIZE];
            int rc = rg_decode_batch(s->ctx, items, n, batch_logits, err);
            for (int i = 0; i < s->n_slots; i++) {
                struct job *j = s->slots[i].job;
                if (!j || (j->phase != PHASE_DECODE && j->phase != PHASE_PROMPT)) continue;
                struct slot *sl = &s->slots[j->slot];
                bool in_step = j->phase == PHASE_DECODE;
                for (int k = 0; !in_step && k < n_prompt; k++)
                    in_step = prompting[k] == j;
                if (!in_step) continue;
                if (rc != RG_OK) {
                    j->rc = rc;
                    snprintf(j->err, sizeof j->err, "%s", err);
                    j->phase = PHASE_DONE;
                    sl->n_cached = 0;
                    rg_ctx_seq_truncate(s->ctx, j->slot, 0);
                } else if (j->phase == PHASE_DECODE) {
                    sl->cached[sl->n_cached++] = j->next;
                } else {
                    memcpy(sl->cached + j->fed, j->toks + j->fed,
                           (size_t)j->take * sizeof *j->toks);
                    j->fed += j->take;
                    sl->n_cached = j->fed;
                }
            }
            for (int k = 0; rc == RG_OK && k < n_rows; k++) {
                struct job *j = rows[k];
                memcpy(j->logits, batch_logits + (size_t)k * n_vocab,
                       (size_t)n_vocab * sizeof *j->logits);
                if (j->phase == PHASE_PROMPT)
                    job_prompt_done(j);
                else
                    job_advance(j);
            }
        }
        /* finished requests leave their slots */
        for (int i = 0; i < s->n_slots; i++) {
            struct job *j = s->slots[i].job;
            if (!j || j->phase != PHASE_DONE) continue;
            if (!job_finish(j)) continue; /* the next of its n answers */
            pthread_mutex_lock(&s->lock);
            s->slots[i].job = NULL;
            s->slots[i].busy = false;
            pthread_mutex_unlock(&s->lock);
            atomic_fetch_sub(&oa->busy, 1);
            publish_slots(oa);
        }
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    rg_free(batch_logits);
    rg_free(items);
    rg_free(rows);
    rg_free(prompting);
    return NULL;
}

/* True when every slot is busy and max requests already wait for one. */
static bool queue_full(struct served *s, int max)
{
    pthread_mutex_lock(&s->lock);
    int busy = 0, queued = 0;
    for (int i = 0; i < s->n_slots; i++)
        busy += s->slots[i].busy;
    for (struct job *q = s->queue; q; q = q->qnext)
        queued++;
    pthread_mutex_unlock(&s->lock);
    return busy + queued >= s->n_slots + max;
}

/* Queues a job for its model's scheduler (started on first use). */
static int submit(struct served *s, struct job *j, char *err)
{
    struct rg_openai *oa = s->oa;
    pthread_mutex_lock(&s->lock);
    int rc = RG_OK;
    if (!s->sched_started) {
        struct rg_ctx_params cp = rg_ctx_default_params();
        cp.n_ctx = s->n_ctx;
        cp.n_threads = oa->cfg->threads;
        cp.n_seq = s->n_slots;
        cp.kv_type = oa->cfg->cache_f16 ? RG_TYPE_F16 : RG_TYPE_F32;
        s->ctx = rg_ctx_new(s->m, &cp, err);
        for (int i = 0; s->ctx && i < s->n_slots; i++) {
            s->slots[i].cached = rg_malloc_array((size_t)s->n_ctx + 1, sizeof *s->slots[i].cached);
            if (!s->slots[i].cached) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
        }
        if (!s->ctx) rc = RG_ENOMEM;
        if (rc == RG_OK && pthread_create(&s->sched, NULL, scheduler, s) != 0)
            rc = rg_err_set(err, RG_ENOMEM, "cannot start the scheduler");
        if (rc == RG_OK) s->sched_started = true;
    }
    if (rc == RG_OK) {
        j->phase = PHASE_QUEUED;
        j->qnext = NULL;
        j->t_queued = mono();
        if (s->queue_tail)
            s->queue_tail->qnext = j;
        else
            s->queue = j;
        s->queue_tail = j;
        atomic_fetch_add(&oa->waiting, 1);
        publish_slots(oa);
        pthread_cond_signal(&s->work);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

enum api_mode { MODE_OPENAI, MODE_OLLAMA_CHAT, MODE_OLLAMA_GENERATE };

/* One prompt's tokens: text, or token ids as /v1/completions allows. */
static bool prompt_tokens(struct rg_http_req *r, struct served *s, struct job *j, json_t *p, int k)
{
    const struct rg_vocab *v = rg_model_vocab(s->m);
    int32_t n_vocab = rg_model_info(s->m)->n_vocab;
    size_t n = 0;
    int32_t *t = NULL;
    if (!p || json_is_string(p)) { /* NULL: the rendered chat */
        const char *text = p ? json_string_value(p) : j->g.prompt_text;
        size_t len = p ? json_string_length(p) : strlen(text);
        int rc = rg_tokenize_alloc(v, text, len, true, j->g.chat, &t, &n);
        if (rc) {
            rg_http_reply_error(r, rc == RG_EUNSUPPORTED ? 501 : 500, NULL, NULL, NULL,
                                "cannot tokenize the prompt: %s",
                                rc == RG_EUNSUPPORTED
                                    ? "this model's tokenizer is not implemented yet"
                                    : rg_strerror(rc));
            return false;
        }
    } else { /* an array of token ids */
        n = json_array_size(p);
        t = rg_malloc_array(n ? n : 1, sizeof *t);
        if (!t) BAD(NULL, "out of memory");
        for (size_t i = 0; i < n; i++) {
            json_t *x = json_array_get(p, i);
            json_int_t id = json_is_integer(x) ? json_integer_value(x) : -1;
            if (id < 0 || id >= n_vocab) {
                rg_free(t);
                BAD("prompt", "prompt token %zu is not a token id of this model", i);
            }
            t[i] = (int32_t)id;
        }
    }
    if (n == 0 || (int64_t)n >= s->n_ctx) {
        rg_free(t);
        if (n == 0) BAD("prompt", "the prompt is empty");
        rg_http_reply_error(
            r, 400, NULL, "context_length_exceeded", j->g.chat ? "messages" : "prompt",
            "This model's maximum context length is %d tokens; the prompt has %zu", s->n_ctx, n);
        return false;
    }
    j->ptoks[k] = t;
    j->pn[k] = (int32_t)n;
    j->n_prompt_total += (long)n;
    return true;
}

/* The prompt(s): the rendered chat, or /v1/completions' "prompt": a string,
 * token ids, or a list of either (each gets its n answers). */
static bool tokenize_prompts(struct rg_http_req *r, struct served *s, struct job *j, json_t *body)
{
    json_t *one = NULL, *list = NULL;
    if (!j->g.chat) {
        json_t *p = json_object_get(body, "prompt");
        bool ids =
            json_is_array(p) && json_array_size(p) > 0 && json_is_integer(json_array_get(p, 0));
        if (json_is_string(p) || ids)
            one = json_incref(p);
        else if (json_is_array(p) && json_array_size(p) > 0)
            list = p;
        else
            BAD("prompt", "'prompt' must be a string, a list of strings, or token ids");
    }
    int n = list ? (int)json_array_size(list) : 1;
    if (n > MAX_CHOICES || n * j->g.n_choices > MAX_CHOICES) {
        json_decref(one);
        BAD("prompt", "at most %d answers per request (prompts x n)", MAX_CHOICES);
    }
    j->ptoks = rg_calloc((size_t)n, sizeof *j->ptoks);
    j->pn = rg_calloc((size_t)n, sizeof *j->pn);
    j->n_prompts = n;
    bool ok = j->ptoks && j->pn;
    if (list) {
        ok = j->ptoks && j->pn;
        for (int k = 0; ok && k < n; k++) {
            json_t *p = json_array_get(list, (size_t)k);
            if (!json_is_string(p) && !json_is_array(p)) {
                rg_http_reply_error(r, 400, NULL, NULL, "prompt",
                                    "prompt %d must be a string or token ids", k);
                return false;
            }
            ok = prompt_tokens(r, s, j, p, k);
            if (!ok) return false;
        }
    } else if (ok) {
        ok = prompt_tokens(r, s, j, one, 0); /* one is NULL for a chat */
        json_decref(one);
        if (!ok) return false;
    } else {
        json_decref(one);
    }
    if (!ok) BAD(NULL, "out of memory");
    j->toks = j->ptoks[0];
    j->n_toks = j->pn[0];
    return true;
}

static void completions_body(struct rg_http_req *r, struct rg_openai *oa, json_t *body, bool chat,
                             enum api_mode mode)
{
    const char *model = json_string_value(json_object_get(body, "model"));
    if (!model) {
        rg_http_reply_error(r, 400, NULL, NULL, "model",
                            "'model' is required (see GET /v1/models)");
        return;
    }
    int status = 500;
    char err[RG_ERR_SIZE];
    struct served *s = get_model(oa, model, &status, err);
    if (!s) {
        rg_http_reply_error(r, status, NULL, status == 404 ? "model_not_found" : NULL, "model",
                            "%s", err);
        return;
    }
    struct job *j = rg_calloc(1, sizeof *j);
    if (!j) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        put_model(oa, s);
        return;
    }
    j->g.chat = chat;
    j->g.ollama = mode != MODE_OPENAI;
    j->g.ollama_message = mode == MODE_OLLAMA_CHAT;
    const struct rg_model_info *I = rg_model_info(s->m);
    bool ok = parse_common(r, body, &j->g, I->n_vocab);
    if (ok && chat) ok = render_chat(r, body, s, &j->g);
    if (ok) ok = tokenize_prompts(r, s, j, body);
    if (!ok) {
        gen_req_free(&j->g);
        free_prompts(j);
        rg_free(j);
        put_model(oa, s);
        return;
    }
    j->oa = oa;
    j->s = s;
    j->created = (long)time(NULL);
    snprintf(j->id, sizeof j->id, "%s-%llx%04llx", chat ? "chatcmpl" : "cmpl",
             (unsigned long long)j->created, (unsigned long long)atomic_fetch_add(&oa->next_id, 1));
    if (queue_full(s, oa->cfg->max_queue)) {
        rg_http_set_header(r, "Retry-After", "1");
        rg_http_reply_error(
            r, 429, NULL, "queue_full", NULL,
            "every slot of '%s' is busy and %d requests already wait; try again shortly", s->id,
            oa->cfg->max_queue);
        gen_req_free(&j->g);
        free_prompts(j);
        rg_free(j);
        put_model(oa, s);
        return;
    }
    rg_http_req_log_model(r, s->id, j->g.stream, j->n_prompt_total, 0);
    if (j->g.ollama)
        j->out =
            rg_http_stream_start(r, 200, j->g.stream ? "application/x-ndjson" : "application/json");
    else
        j->out =
            j->g.stream ? rg_http_sse_start(r) : rg_http_stream_start(r, 200, "application/json");
    if (!j->out || submit(s, j, err) != RG_OK) {
        if (j->out) {
            char *e = rg_http_error_body(503, NULL, NULL, NULL, err);
            if (e) rg_sse_write(j->out, e, strlen(e));
            rg_free(e);
            rg_sse_end(j->out);
        }
        gen_req_free(&j->g);
        free_prompts(j);
        rg_free(j);
        put_model(oa, s);
    }
}

static void completions(struct rg_http_req *r, struct rg_openai *oa, bool chat)
{
    json_t *body = rg_http_req_json(r);
    if (body) completions_body(r, oa, body, chat, MODE_OPENAI);
}

static void chat_completions(struct rg_http_req *r, void *ctx)
{
    completions(r, ctx, true);
}
static void text_completions(struct rg_http_req *r, void *ctx)
{
    completions(r, ctx, false);
}

/* ---- /v1/embeddings ---- */

struct embed_job {
    struct rg_openai *oa;
    struct served *s;
    int slot;
    char **inputs;
    size_t n_inputs;
    bool base64;
    struct rg_sse *out;
};

static void b64(const unsigned char *in, size_t n, struct rg_buf *out)
{
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        char q[4] = {T[v >> 18 & 63], T[v >> 12 & 63], i + 1 < n ? T[v >> 6 & 63] : '=',
                     i + 2 < n ? T[v & 63] : '='};
        rg_buf_append(out, q, 4);
    }
}

static void *run_embed(void *arg)
{
    struct embed_job *j = arg;
    struct served *s = j->s;
    const struct rg_model_info *I = rg_model_info(s->m);
    char err[RG_ERR_SIZE] = "";
    json_t *data = json_array();
    float *vec = rg_malloc_array((size_t)I->n_embd, sizeof *vec);
    long total = 0;
    int rc = vec ? RG_OK : RG_ENOMEM;
    /* one embedding context per model, apart from the generations' */
    pthread_mutex_lock(&s->embed_lock);
    if (rc == RG_OK && !s->embed_ctx) {
        struct rg_ctx_params cp = rg_ctx_default_params();
        cp.n_ctx = s->n_ctx;
        cp.n_threads = j->oa->cfg->threads;
        s->embed_ctx = rg_ctx_new(s->m, &cp, err);
        if (!s->embed_ctx) rc = RG_ENOMEM;
    }
    for (size_t i = 0; rc == RG_OK && i < j->n_inputs; i++) {
        size_t n = 0;
        int32_t *t = NULL;
        rc = rg_tokenize_alloc(rg_model_vocab(s->m), j->inputs[i], strlen(j->inputs[i]), true,
                               false, &t, &n);
        if (rc == RG_OK && n > (size_t)s->n_ctx) {
            rc = RG_EOVERFLOW;
            rg_err_set(err, rc, "input %zu has %zu tokens; the context holds %d", i, n, s->n_ctx);
        }
        if (rc == RG_OK) rc = rg_embed(s->embed_ctx, t, (int32_t)n, vec, err);
        total += (long)n;
        rg_free(t);
        if (rc) break;
        json_t *e;
        if (j->base64) {
            struct rg_buf b;
            rg_buf_init(&b, SIZE_MAX);
            b64((const unsigned char *)vec, (size_t)I->n_embd * sizeof *vec, &b);
            e = json_stringn(b.data ? b.data : "", b.len);
            rg_buf_free(&b);
        } else {
            e = json_array();
            for (int k = 0; k < I->n_embd; k++)
                json_array_append_new(e, json_real(vec[k]));
        }
        json_array_append_new(data, json_pack("{s:s, s:I, s:o}", "object", "embedding", "index",
                                              (json_int_t)i, "embedding", e));
    }
    pthread_mutex_unlock(&s->embed_lock);
    char *txt;
    if (rc == RG_OK) {
        json_t *body = json_pack("{s:s, s:o, s:s, s:{s:I, s:I}}", "object", "list", "data", data,
                                 "model", s->id, "usage", "prompt_tokens", (json_int_t)total,
                                 "total_tokens", (json_int_t)total);
        txt = json_dumps(body, JSON_COMPACT);
        json_decref(body);
    } else {
        json_decref(data);
        char *e = rg_http_error_body(rc == RG_EOVERFLOW ? 400 : 500, NULL, NULL, "input",
                                     err[0] ? err : rg_strerror(rc));
        txt = e ? strdup(e) : NULL;
        rg_free(e);
    }
    if (txt) rg_sse_write(j->out, txt, strlen(txt));
    free(txt);
    rg_sse_log_model(j->out, s->id, total, 0);
    rg_metrics_add_tokens(total, 0);
    put_model(j->oa, s); /* before the response ends, as for generations */
    rg_sse_end(j->out);
    atomic_fetch_sub(&j->oa->embedding, 1);
    for (size_t i = 0; i < j->n_inputs; i++)
        rg_free(j->inputs[i]);
    rg_free(j->inputs);
    rg_free(vec);
    rg_free(j);
    return NULL;
}

static void embeddings(struct rg_http_req *r, void *ctx)
{
    struct rg_openai *oa = ctx;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    const char *model = json_string_value(json_object_get(body, "model"));
    if (!model) {
        rg_http_reply_error(r, 400, NULL, NULL, "model", "'model' is required");
        return;
    }
    json_t *in = json_object_get(body, "input");
    size_t n = json_is_string(in) ? 1 : json_is_array(in) ? json_array_size(in) : 0;
    if (n == 0 || n > 2048) {
        rg_http_reply_error(r, 400, NULL, NULL, "input",
                            "'input' must be a string or a non-empty array of strings");
        return;
    }
    const char *fmt = json_string_value(json_object_get(body, "encoding_format"));
    if (fmt && strcmp(fmt, "float") && strcmp(fmt, "base64")) {
        rg_http_reply_error(r, 400, NULL, NULL, "encoding_format",
                            "'encoding_format' must be float or base64");
        return;
    }
    struct embed_job *j = rg_calloc(1, sizeof *j);
    if (j) j->inputs = rg_calloc(n, sizeof *j->inputs);
    if (!j || !j->inputs) {
        if (j) rg_free(j);
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return;
    }
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        json_t *x = json_is_string(in) ? in : json_array_get(in, i);
        if (!json_is_string(x) || json_string_length(x) == 0) {
            rg_http_reply_error(r, 400, NULL, NULL, "input", "input %zu must be a non-empty string",
                                i);
            ok = false;
        } else if (!(j->inputs[j->n_inputs++] = rg_strdup(json_string_value(x)))) {
            ok = false;
        }
    }
    int status = 500;
    char err[RG_ERR_SIZE];
    struct served *s = ok ? get_model(oa, model, &status, err) : NULL;
    if (ok && !s) {
        rg_http_reply_error(r, status, NULL, status == 404 ? "model_not_found" : NULL, "model",
                            "%s", err);
        ok = false;
    }
    if (ok) {
        j->oa = oa;
        j->s = s;
        j->base64 = fmt && !strcmp(fmt, "base64");
    }
    if (ok) {
        j->out = rg_http_stream_start(r, 200, "application/json");
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        atomic_fetch_add(&oa->embedding, 1);
        if (j->out && pthread_create(&t, &attr, run_embed, j) == 0) {
            pthread_attr_destroy(&attr);
            return;
        }
        atomic_fetch_sub(&oa->embedding, 1);
        pthread_attr_destroy(&attr);
        if (j->out) rg_sse_end(j->out);
        put_model(oa, s);
    }
    for (size_t i = 0; i < j->n_inputs; i++)
        rg_free(j->inputs[i]);
    rg_free(j->inputs);
    rg_free(j);
}

/* ---- Ollama's API (what Ollama clients and Copilot's Ollama provider use) ---- */

/* The Ollama API level we follow; clients such as Copilot require >= 0.6.4. */
#define OLLAMA_COMPAT_VERSION "0.9.0"

static void ollama_version(struct rg_http_req *r, void *ctx)
{
    (void)ctx;
    rg_http_reply_json(r, 200, json_pack("{s:s}", "version", OLLAMA_COMPAT_VERSION));
}

/* Ollama request -> the OpenAI-shaped body completions_body understands. */
static json_t *from_ollama(json_t *in, bool chat, bool *raw)
{
    json_t *out = json_object();
    json_t *model = json_object_get(in, "model");
    if (model) json_object_set(out, "model", model);
    json_t *st = json_object_get(in, "stream");
    json_object_set_new(out, "stream",
                        json_boolean(!st || json_is_true(st))); /* Ollama streams by default */
    json_t *opt = json_object_get(in, "options");
    static const char *const same[][2] = {{"temperature", "temperature"},
                                          {"top_p", "top_p"},
                                          {"top_k", "top_k"},
                                          {"min_p", "min_p"},
                                          {"seed", "seed"},
                                          {"stop", "stop"},
                                          {"repeat_penalty", "repeat_penalty"},
                                          {"frequency_penalty", "frequency_penalty"},
                                          {"presence_penalty", "presence_penalty"},
                                          {"num_predict", "max_tokens"}};
    for (size_t i = 0; json_is_object(opt) && i < RG_ARRAY_LEN(same); i++) {
        json_t *v = json_object_get(opt, same[i][0]);
        if (!v) continue;
        if (!strcmp(same[i][0], "num_predict") && json_is_integer(v) && json_integer_value(v) < 0)
            continue;
        json_object_set(out, same[i][1], v);
    }
    json_t *ka = json_object_get(in, "rg_keep_alive");
    if (ka) json_object_set(out, "rg_keep_alive", ka);
    json_t *fmt = json_object_get(in, "format"); /* "json" or a JSON schema */
    if (json_is_string(fmt) && !strcmp(json_string_value(fmt), "json"))
        json_object_set_new(out, "response_format", json_pack("{s:s}", "type", "json_object"));
    else if (json_is_object(fmt))
        json_object_set_new(out, "response_format",
                            json_pack("{s:s, s:{s:s, s:O}}", "type", "json_schema", "json_schema",
                                      "name", "format", "schema", fmt));
    *raw = json_is_true(json_object_get(in, "raw"));
    if (chat) {
        json_t *m = json_object_get(in, "messages");
        if (m) json_object_set(out, "messages", m);
    } else if (*raw) {
        json_t *p = json_object_get(in, "prompt");
        if (p) json_object_set(out, "prompt", p);
    } else {
        json_t *msgs = json_array();
        json_t *sys = json_object_get(in, "system");
        if (json_is_string(sys))
            json_array_append_new(msgs, json_pack("{s:s, s:O}", "role", "system", "content", sys));
        json_t *p = json_object_get(in, "prompt");
        json_array_append_new(
            msgs, json_pack("{s:s, s:O}", "role", "user", "content", p ? p : json_string("")));
        json_object_set_new(out, "messages", msgs);
    }
    return out;
}

/* Ollama's keep_alive: seconds (a number), a duration ("10m", "1h",
 * "30s", "-1"), negative for forever. false for a value it cannot read. */
static bool keep_alive_of(json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    const char *t = json_string_value(v);
    if (!t) return false;
    char *end;
    double d = strtod(t, &end);
    if (end == t) return false;
    double unit = !*end || !strcmp(end, "s") ? 1
                  : !strcmp(end, "m")        ? 60
                  : !strcmp(end, "h")        ? 3600
                  : !strcmp(end, "ms")       ? 1e-3
                                             : -1;
    if (unit < 0) return false;
    *out = d < 0 ? -1 : d * unit;
    return true;
}

/* A request with keep_alive: how long the model stays loaded after it. An
 * /api/generate or /api/chat with no prompt only loads the model, or with
 * keep_alive 0 unloads it (what Ollama clients send to manage memory).
 * True when the request was answered here. */
static bool ollama_keep_alive(struct rg_http_req *r, struct rg_openai *oa, json_t *body, bool chat)
{
    json_t *ka = json_object_get(body, "keep_alive");
    double keep = NAN;
    if (ka && !json_is_null(ka) && !keep_alive_of(ka, &keep)) {
        rg_http_reply_json(r, 400, json_pack("{s:s}", "error", "keep_alive: cannot read it"));
        return true;
    }
    json_t *p = json_object_get(body, chat ? "messages" : "prompt");
    bool empty = !p || json_is_null(p) || (json_is_string(p) && !json_string_length(p)) ||
                 (json_is_array(p) && !json_array_size(p));
    const char *id = json_string_value(json_object_get(body, "model"));
    if (!empty || !id) {
        if (!isnan(keep)) json_object_set_new(body, "rg_keep_alive", json_real(keep));
        return false;
    }
    int status = 500;
    char err[RG_ERR_SIZE];
    const char *reason = "load";
    if (keep == 0) { /* unload, if it is loaded and nobody uses it */
        reason = "unload";
        pthread_mutex_lock(&oa->lock);
        for (int i = 0; i < oa->n_models; i++) {
            struct served *s = oa->models[i];
            if (strcmp(s->id, id) != 0) continue;
            s->keep = 0;
            pthread_cond_signal(&oa->reap);
        }
        pthread_mutex_unlock(&oa->lock);
    } else {
        struct served *s = get_model(oa, id, &status, err);
        if (!s) {
            rg_http_reply_json(r, status, json_pack("{s:s}", "error", err));
            return true;
        }
        pthread_mutex_lock(&oa->lock);
        if (!isnan(keep)) s->keep = keep;
        pthread_mutex_unlock(&oa->lock);
        put_model(oa, s);
    }
    char ts[64];
    iso_time(ts, sizeof ts);
    json_t *o = json_pack("{s:s, s:s, s:b, s:s}", "model", id, "created_at", ts, "done", 1,
                          "done_reason", reason);
    json_object_set_new(o, chat ? "message" : "response",
                        chat ? json_pack("{s:s, s:s}", "role", "assistant", "content", "")
                             : json_string(""));
    rg_http_reply_json(r, 200, o);
    return true;
}

static void ollama_chat(struct rg_http_req *r, void *ctx)
{
    rg_http_req_plain_errors(r);
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    if (ollama_keep_alive(r, ctx, body, true)) return;
    bool raw;
    json_t *b = from_ollama(body, true, &raw);
    completions_body(r, ctx, b, true, MODE_OLLAMA_CHAT);
    json_decref(b);
}

static void ollama_generate(struct rg_http_req *r, void *ctx)
{
    rg_http_req_plain_errors(r);
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    if (ollama_keep_alive(r, ctx, body, false)) return;
    bool raw;
    json_t *b = from_ollama(body, false, &raw);
    completions_body(r, ctx, b, !raw, MODE_OLLAMA_GENERATE);
    json_decref(b);
}

static json_t *ollama_details(const struct rg_model_entry *e)
{
    char psize[32];
    double p = (double)e->n_params;
    if (p >= 1e9)
        snprintf(psize, sizeof psize, "%.1fB", p / 1e9);
    else if (p >= 1e6)
        snprintf(psize, sizeof psize, "%.0fM", p / 1e6);
    else
        snprintf(psize, sizeof psize, "%.0fK", p / 1e3);
    return json_pack("{s:s, s:s, s:[s], s:s, s:s}", "format", "gguf", "family",
                     e->arch ? e->arch : "", "families", e->arch ? e->arch : "", "parameter_size",
                     psize, "quantization_level", e->quant ? e->quant : "");
}

/* Every usable model: -m files first, then the models dir. */
static int all_models(struct rg_openai *oa, struct rg_model_list *out)
{
    out->v = NULL;
    out->n = 0;
    char err[RG_ERR_SIZE];
    struct rg_model_list dir = {0};
    if (rg_catalog_scan(oa->cfg->models_dir, &dir, err) != RG_OK) dir.n = 0;
    size_t cap = oa->cfg->models.n + dir.n + 1;
    out->v = rg_calloc(cap, sizeof *out->v);
    if (!out->v) {
        rg_catalog_free(&dir);
        return RG_ENOMEM;
    }
    for (size_t i = 0; i < oa->cfg->models.n; i++) {
        if (rg_catalog_inspect(oa->cfg->models.v[i], &out->v[out->n]) != RG_OK) break;
        if (out->v[out->n].error)
            rg_catalog_entry_free(&out->v[out->n]);
        else
            out->n++;
    }
    for (size_t i = 0; i < dir.n; i++) {
        bool dup = false;
        for (size_t k = 0; k < out->n; k++)
            dup |= !strcmp(out->v[k].name, dir.v[i].name);
        if (dup || dir.v[i].error || !dir.v[i].arch) {
            rg_catalog_entry_free(&dir.v[i]);
            continue;
        }
        out->v[out->n++] = dir.v[i];
        memset(&dir.v[i], 0, sizeof dir.v[i]);
    }
    rg_catalog_free(&dir);
    return RG_OK;
}

static void ollama_tags(struct rg_http_req *r, void *ctx)
{
    struct rg_model_list l;
    if (all_models(ctx, &l) != RG_OK) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++) {
        const struct rg_model_entry *e = &l.v[i];
        char digest[24];
        snprintf(digest, sizeof digest, "%016llx",
                 (unsigned long long)(e->size * 1099511628211ull ^ e->n_params));
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:s, s:o}", "name", e->name,
                                             "model", e->name, "modified_at",
                                             "1970-01-01T00:00:00Z", "size", (json_int_t)e->size,
                                             "digest", digest, "details", ollama_details(e)));
    }
    rg_catalog_free(&l);
    rg_http_reply_json(r, 200, json_pack("{s:o}", "models", arr));
}

static void ollama_show(struct rg_http_req *r, void *ctx)
{
    rg_http_req_plain_errors(r);
    struct rg_openai *oa = ctx;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    const char *id = json_string_value(json_object_get(body, "model"));
    if (!id) id = json_string_value(json_object_get(body, "name"));
    char path[4096];
    if (!id || !path_of(oa->cfg, id, path, sizeof path)) {
        rg_http_reply_json(r, 404, json_pack("{s:s}", "error", "model not found"));
        return;
    }
    struct rg_model_entry e;
    if (rg_catalog_inspect(path, &e) != RG_OK || e.error) {
        rg_http_reply_json(
            r, 500, json_pack("{s:s}", "error", e.error ? e.error : "cannot read the model"));
        rg_catalog_entry_free(&e);
        return;
    }
    json_t *info = json_pack("{s:s, s:s, s:I}", "general.architecture", e.arch, "general.basename",
                             e.name, "general.parameter_count", (json_int_t)e.n_params);
    char key[128];
    snprintf(key, sizeof key, "%s.context_length", e.arch);
    json_object_set_new(info, key, json_integer((json_int_t)served_ctx(oa->cfg, (int64_t)e.ctx)));
    /* tools: offered for models whose chat template speaks a tool protocol
     * our parser reads: <tool_call> (ChatML family), Llama 3's
     * <|python_tag|>, Mistral's [TOOL_CALLS] */
    json_t *caps = json_pack("[s]", "completion");
    char gerr[RG_ERR_SIZE];
    struct rg_gguf_params gp = rg_gguf_default_params();
    gp.vocab_only = true;
    struct rg_gguf *g = rg_gguf_open(path, &gp, gerr);
    const char *jinja = NULL;
    if (g && rg_gguf_get_str(g, "tokenizer.chat_template", &jinja) == RG_OK &&
        ((strstr(jinja, RG_TOOL_OPEN) && rg_chat_detect(jinja) == RG_CHAT_CHATML) ||
         strstr(jinja, "<|python_tag|>") || strstr(jinja, "[TOOL_CALLS]")))
        json_array_append_new(caps, json_string("tools"));
    rg_gguf_close(g);
    rg_http_reply_json(r, 200,
                       json_pack("{s:s, s:s, s:o, s:o, s:o, s:s}", "template", "", "parameters", "",
                                 "details", ollama_details(&e), "model_info", info, "capabilities",
                                 caps, "modified_at", "1970-01-01T00:00:00Z"));
    rg_catalog_entry_free(&e);
}

static void ollama_ps(struct rg_http_req *r, void *ctx)
{
    struct rg_openai *oa = ctx;
    json_t *arr = json_array();
    pthread_mutex_lock(&oa->lock);
    double now = mono();
    for (int i = 0; i < oa->n_models; i++) {
        struct served *s = oa->models[i];
        /* when --keep-alive will unload it if nobody uses it meanwhile */
        time_t exp = oa->cfg->keep_alive < 0 ? (time_t)253402300799 /* 9999-12-31 */
                                             : time(NULL) + oa->cfg->keep_alive -
                                                   (s->users ? 0 : (time_t)(now - s->last_used));
        struct tm tm;
        char when[32];
        gmtime_r(&exp, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:i, s:s}", "name", s->id,
                                             "model", s->id, "size", (json_int_t)s->mem,
                                             "size_vram", (json_int_t)0, "context_length", s->n_ctx,
                                             "expires_at", when));
    }
    pthread_mutex_unlock(&oa->lock);
    rg_http_reply_json(r, 200, json_pack("{s:o}", "models", arr));
}

/* ---- /v1/models ---- */

/* OpenAI's model object, plus what clients that size their prompts read:
 * the context length served (the training one under llama.cpp's "meta") and
 * the kind. */
static json_t *model_obj_of(const struct rg_config *cfg, const char *id,
                            const struct rg_model_entry *e)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:s}", "id", id, "object", "model", "created",
                          (json_int_t)0, "owned_by", "rustygpt");
    if (o && e && !e->error) {
        json_object_set_new(o, "context_length",
                            json_integer((json_int_t)served_ctx(cfg, (int64_t)e->ctx)));
        json_object_set_new(o, "meta",
                            json_pack("{s:I, s:I, s:I}", "n_ctx_train", (json_int_t)e->ctx,
                                      "n_params", (json_int_t)e->n_params, "size",
                                      (json_int_t)e->size));
        bool embed = e->arch && !strcmp(e->arch, "bert");
        json_object_set_new(o, "capabilities",
                            json_pack("[s]", embed ? "embedding" : "completion"));
    }
    return o;
}

static json_t *model_obj(const struct rg_config *cfg, const char *id, const char *path)
{
    struct rg_model_entry e;
    if (rg_catalog_inspect(path, &e) != RG_OK) return model_obj_of(cfg, id, NULL);
    json_t *o = model_obj_of(cfg, id, &e);
    rg_catalog_entry_free(&e);
    return o;
}

static void list_models(struct rg_http_req *r, void *ctx)
{
    struct rg_openai *oa = ctx;
    json_t *data = json_array();
    char id[128];
    for (size_t i = 0; i < oa->cfg->models.n; i++) {
        model_id_of(oa->cfg->models.v[i], id, sizeof id);
        json_array_append_new(data, model_obj(oa->cfg, id, oa->cfg->models.v[i]));
    }
    struct rg_model_list l;
    char err[RG_ERR_SIZE];
    if (rg_catalog_scan(oa->cfg->models_dir, &l, err) == RG_OK) {
        for (size_t i = 0; i < l.n; i++) {
            if (l.v[i].error || !l.v[i].arch) continue;
            bool dup = false;
            size_t k;
            json_t *m;
            json_array_foreach(data, k, m) dup |=
                !strcmp(json_string_value(json_object_get(m, "id")), l.v[i].name);
            if (!dup) json_array_append_new(data, model_obj_of(oa->cfg, l.v[i].name, &l.v[i]));
        }
        rg_catalog_free(&l);
    }
    rg_http_reply_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void get_model_route(struct rg_http_req *r, void *ctx)
{
    struct rg_openai *oa = ctx;
    const char *id = rg_http_req_param(r, "id");
    char path[4096];
    if (!id || !path_of(oa->cfg, id, path, sizeof path)) {
        rg_http_reply_error(r, 404, NULL, "model_not_found", "id",
                            "The model '%.100s' does not exist", id ? id : "");
        return;
    }
    rg_http_reply_json(r, 200, model_obj(oa->cfg, id, path));
}

json_t *rg_openai_status(struct rg_openai *oa)
{
    json_t *arr = json_array();
    if (!oa) return arr;
    pthread_mutex_lock(&oa->lock);
    for (int i = 0; i < oa->n_models; i++) {
        struct served *s = oa->models[i];
        const struct rg_model_info *I = rg_model_info(s->m);
        int busy = 0;
        pthread_mutex_lock(&s->lock);
        for (int k = 0; k < s->n_slots; k++)
            busy += s->slots[k].busy;
        pthread_mutex_unlock(&s->lock);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:I, s:I, s:s, s:i, s:i, s:i}", "id",
                                             s->id, "arch", I->arch, "n_ctx", s->n_ctx, "file_size",
                                             (json_int_t)I->file_size, "memory_bytes",
                                             (json_int_t)s->mem, "chat_format",
                                             rg_chat_format_name(s->fmt), "slots", s->n_slots,
                                             "slots_busy", busy, "requests", s->users));
    }
    pthread_mutex_unlock(&oa->lock);
    return arr;
}

/* ---- setup ---- */

/* The models named with -m load while the server starts listening (as
 * llama-server does), so the first request does not wait; a file that
 * fails to load is logged and the server goes on. */
static void *preload(void *arg)
{
    struct rg_openai *oa = arg;
    for (size_t i = 0; i < oa->cfg->models.n; i++) {
        pthread_mutex_lock(&oa->lock);
        bool stop = oa->stopping;
        pthread_mutex_unlock(&oa->lock);
        if (stop) break;
        char id[128], err[RG_ERR_SIZE];
        int status;
        model_id_of(oa->cfg->models.v[i], id, sizeof id);
        struct served *s = get_model(oa, id, &status, err);
        if (s)
            put_model(oa, s);
        else
            rg_log(RG_LOG_ERROR, "model not loaded", "id", 's', id, "error", 's', err, RG_LOG_END);
    }
    return NULL;
}

struct rg_openai *rg_openai_new(const struct rg_config *cfg)
{
    struct rg_openai *oa = rg_calloc(1, sizeof *oa);
    if (!oa) return NULL;
    oa->cfg = cfg;
    pthread_mutex_init(&oa->lock, NULL);
    pthread_cond_init(&oa->reap, NULL);
    oa->reaper_started = pthread_create(&oa->reaper, NULL, reaper, oa) == 0;
    if (cfg->models.n > 0)
        oa->preload_started = pthread_create(&oa->preload, NULL, preload, oa) == 0;
    return oa;
}

/* Stops the model's scheduler (it has no requests: nobody holds the model,
 * or the server is exiting) and frees it. */
static void served_free(struct served *s)
{
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->work);
    bool started = s->sched_started;
    s->sched_started = false;
    pthread_mutex_unlock(&s->lock);
    if (started) pthread_join(s->sched, NULL);
    while (s->queue) { /* requests that never got a slot (only at exit) */
        struct job *j = s->queue;
        s->queue = j->qnext;
        rg_sse_end(j->out);
        gen_req_free(&j->g);
        free_prompts(j);
        rg_free(j);
    }
    for (int k = 0; k < s->n_slots; k++)
        rg_free(s->slots[k].cached);
    rg_ctx_free(s->ctx);
    rg_ctx_free(s->embed_ctx);
    rg_free(s->pieces);
    rg_free(s->piece_off);
    rg_free(s->slots);
    rg_model_free(s->m);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->embed_lock);
    rg_free(s);
}

void rg_openai_free(struct rg_openai *oa)
{
    if (!oa) return;
    pthread_mutex_lock(&oa->lock);
    oa->stopping = true;
    pthread_cond_signal(&oa->reap);
    pthread_mutex_unlock(&oa->lock);
    if (oa->preload_started) pthread_join(oa->preload, NULL);
    if (oa->reaper_started) pthread_join(oa->reaper, NULL);
    /* The server has stopped, so every stream is closed: each scheduler
     * finishes its requests at their next token and exits. Embedding threads
     * are waited for (bounded); if one still runs, everything is left
     * allocated rather than freed under its feet: the process is exiting. */
    for (int i = 0; i < oa->n_models; i++) {
        struct served *s = oa->models[i];
        pthread_mutex_lock(&s->lock);
        s->stop = true;
        pthread_cond_signal(&s->work);
        bool started = s->sched_started;
        s->sched_started = false;
        pthread_mutex_unlock(&s->lock);
        if (started) pthread_join(s->sched, NULL);
    }
    for (int i = 0; i < 500 && atomic_load(&oa->embedding) > 0; i++)
        usleep(10000);
    if (atomic_load(&oa->embedding) > 0) return;
    for (int i = 0; i < oa->n_models; i++)
        served_free(oa->models[i]);
    pthread_cond_destroy(&oa->reap);
    pthread_mutex_destroy(&oa->lock);
    rg_free(oa);
}

static const char CHAT_REQ[] =
    "{\"type\":\"object\",\"required\":[\"model\",\"messages\"],\"properties\":{"
    "\"model\":{\"type\":\"string\"},"
    "\"messages\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"role\"],"
    "\"properties\":{"
    "\"role\":{\"enum\":[\"system\",\"developer\",\"user\",\"assistant\",\"tool\"]},"
    "\"content\":{\"type\":[\"string\",\"array\",\"null\"]}}}},"
    "\"stream\":{\"type\":\"boolean\"},\"stream_options\":{\"type\":\"object\"},"
    "\"max_tokens\":{\"type\":\"integer\"},\"max_completion_tokens\":{\"type\":\"integer\"},"
    "\"temperature\":{\"type\":\"number\"},\"top_p\":{\"type\":\"number\"},\"top_k\":{\"type\":"
    "\"integer\"},"
    "\"min_p\":{\"type\":\"number\"},\"seed\":{\"type\":\"integer\"},"
    "\"stop\":{\"type\":[\"string\",\"array\"]},\"frequency_penalty\":{\"type\":\"number\"},"
    "\"presence_penalty\":{\"type\":\"number\"},\"logit_bias\":{\"type\":\"object\"},\"n\":{"
    "\"type\":\"integer\",\"minimum\":1,\"maximum\":16},"
    "\"response_format\":{\"type\":\"object\",\"properties\":{\"type\":{\"enum\":[\"text\","
    "\"json_object\",\"json_schema\"]},\"json_schema\":{\"type\":\"object\"}}}}}";
static const char CHAT_RESP[] =
    "{\"type\":\"object\",\"required\":[\"id\",\"object\",\"created\",\"model\",\"choices\","
    "\"usage\"],"
    "\"properties\":{\"id\":{\"type\":\"string\"},\"object\":{\"const\":\"chat.completion\"},"
    "\"created\":{\"type\":\"integer\"},\"model\":{\"type\":\"string\"},\"choices\":{\"type\":"
    "\"array\"},"
    "\"usage\":{\"type\":\"object\"}}}";
static const char COMPL_REQ[] =
    "{\"type\":\"object\",\"required\":[\"model\",\"prompt\"],"
    "\"properties\":{\"model\":{\"type\":\"string\"},"
    "\"prompt\":{\"type\":[\"string\",\"array\"]},\"stream\":{\"type\":\"boolean\"}"
    ",\"max_tokens\":{\"type\":\"integer\"},"
    "\"temperature\":{\"type\":\"number\"},\"stop\":{\"type\":["
    "\"string\",\"array\"]},\"seed\":{\"type\":\"integer\"}}}";
static const char COMPL_RESP[] =
    "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"object\":{\"const\":"
    "\"text_completion\"},"
    "\"choices\":{\"type\":\"array\"},\"usage\":{\"type\":\"object\"}}}";
static const char MODELS_RESP[] =
    "{\"type\":\"object\",\"properties\":{\"object\":{\"const\":\"list\"},\"data\":{\"type\":"
    "\"array\",\"items\":{"
    "\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"object\":{\"const\":"
    "\"model\"},"
    "\"created\":{\"type\":\"integer\"},\"owned_by\":{\"type\":\"string\"}}}}}}";
static const char MODEL_RESP[] = "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"}"
                                 ",\"object\":{\"const\":\"model\"}}}";

size_t rg_api_openai_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    struct rg_openai *oa = st->openai;
    const struct rg_route routes[] = {
        {RG_HTTP_GET, "/v1/models", list_models, oa, RG_ROLE_PUBLIC, RG_ROUTE_API_KEY, "openai",
         "Models that can be used: -m files and the models dir", NULL, MODELS_RESP},
        {RG_HTTP_GET, "/v1/models/{id}", get_model_route, oa, RG_ROLE_PUBLIC, RG_ROUTE_API_KEY,
         "openai", "One model", NULL, MODEL_RESP},
        {RG_HTTP_POST, "/v1/chat/completions", chat_completions, oa, RG_ROLE_PUBLIC,
         RG_ROUTE_API_KEY | RG_ROUTE_STREAM, "openai",
         "Chat completion, streamed with \"stream\": true", CHAT_REQ, CHAT_RESP},
        {RG_HTTP_POST, "/v1/completions", text_completions, oa, RG_ROLE_PUBLIC,
         RG_ROUTE_API_KEY | RG_ROUTE_STREAM, "openai", "Plain text completion of a prompt",
         COMPL_REQ, COMPL_RESP},
        {RG_HTTP_POST, "/v1/embeddings", embeddings, oa, RG_ROLE_PUBLIC, RG_ROUTE_API_KEY, "openai",
         "Embeddings: the model's final hidden states, mean-pooled and normalized",
         "{\"type\":\"object\",\"required\":[\"model\",\"input\"],\"properties\":{\"model\":{"
         "\"type\":\"string\"},"
         "\"input\":{\"type\":[\"string\",\"array\"]},\"encoding_format\":{\"enum\":[\"float\","
         "\"base64\"]}}}",
         "{\"type\":\"object\",\"properties\":{\"object\":{\"const\":\"list\"},\"data\":{\"type\":"
         "\"array\"},"
         "\"usage\":{\"type\":\"object\"}}}"},
        {RG_HTTP_GET, "/api/version", ollama_version, oa, RG_ROLE_PUBLIC, 0, "ollama",
         "Ollama API level this server follows", NULL,
         "{\"type\":\"object\",\"properties\":{\"version\":{\"type\":\"string\"}}}"},
        {RG_HTTP_GET, "/api/tags", ollama_tags, oa, RG_ROLE_PUBLIC, RG_ROUTE_API_KEY, "ollama",
         "Models (Ollama shape)", NULL,
         "{\"type\":\"object\",\"properties\":{\"models\":{\"type\":\"array\"}}}"},
        {RG_HTTP_POST, "/api/show", ollama_show, oa, RG_ROLE_PUBLIC, RG_ROUTE_API_KEY, "ollama",
         "One model's details: architecture, context length, capabilities",
         "{\"type\":\"object\",\"properties\":{\"model\":{\"type\":\"string\"}}}",
         "{\"type\":\"object\"}"},
        {RG_HTTP_GET, "/api/ps", ollama_ps, oa, RG_ROLE_PUBLIC, RG_ROUTE_API_KEY, "ollama",
         "Loaded models", NULL,
         "{\"type\":\"object\",\"properties\":{\"models\":{\"type\":\"array\"}}}"},
        {RG_HTTP_POST, "/api/chat", ollama_chat, oa, RG_ROLE_PUBLIC,
         RG_ROUTE_API_KEY | RG_ROUTE_STREAM, "ollama",
         "Chat, streamed as NDJSON unless \"stream\": false",
         "{\"type\":\"object\",\"required\":[\"model\",\"messages\"]}", "{\"type\":\"object\"}"},
        {RG_HTTP_POST, "/api/generate", ollama_generate, oa, RG_ROLE_PUBLIC,
         RG_ROUTE_API_KEY | RG_ROUTE_STREAM, "ollama",
         "Completion of a prompt (templated unless \"raw\": true), NDJSON",
         "{\"type\":\"object\",\"required\":[\"model\",\"prompt\"]}", "{\"type\":\"object\"}"},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n;
}
