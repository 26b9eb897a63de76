/*
 * What every model handler shares: generation settings read from an OpenAI
 * body or an Ollama one (the same fields, Ollama's under "options"), the
 * reply for a request error, and holding a model.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "common/alloc.h"
#include "common/str.h"
#include "engine/constrain/grammar.h"

void rg_api_gen_free(struct rg_api_gen *g)
{
    for (int i = 0; g->stops && i < g->er.n_stops; i++)
        rg_free(g->stops[i]);
    rg_free(g->stops);
    rg_free(g->bias);
    rg_jg_free(g->er.grammar);
    json_decref(g->extra);
    memset(g, 0, sizeof *g);
}

void rg_api_reply_err(struct rg_http_req *r, const struct rg_req_err *e)
{
    rg_http_reply_error(r, e->status ? e->status : 500, NULL, e->code[0] ? e->code : NULL,
                        e->param[0] ? e->param : NULL, "%s", e->msg);
}

int32_t rg_api_served_ctx(const struct rg_api_state *st, int64_t n_ctx_train)
{
    return rg_engine_served_ctx(st->engine, n_ctx_train);
}

struct rg_engine_model *rg_api_model_hold(struct rg_http_req *r, struct rg_api_state *st,
                                          const char *id)
{
    struct rg_engine_model *m = NULL;
    char err[RG_ERR_SIZE];
    int rc = rg_engine_acquire(st->engine, id, &m, err);
    if (rc == RG_OK) return m;
    int status = rc == RG_ENOTFOUND ? 404 : rc == RG_EBUSY || rc == RG_ECANCELED ? 503 : 500;
    rg_http_reply_error(r, status, NULL, status == 404 ? "model_not_found" : NULL, "model", "%s",
                        err);
    return NULL;
}

json_t *rg_api_json_text(const char *p, size_t n)
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

/* A number field: absent or null leaves *out. */
static int number(const json_t *o, const char *key, const char *param, double lo, double hi,
                  double *out, struct rg_req_err *e)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return RG_OK;
    if (!json_is_number(v))
        return rg_req_err_set(e, 400, param, NULL, "'%s' must be a number", param);
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi))
        return rg_req_err_set(e, 400, param, NULL, "'%s' must be between %g and %g, got %g", param,
                              lo, hi, d);
    *out = d;
    return RG_OK;
}

static int boolean(const json_t *o, const char *key, bool *out, struct rg_req_err *e)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return RG_OK;
    if (!json_is_boolean(v))
        return rg_req_err_set(e, 400, key, NULL, "'%s' must be true or false", key);
    *out = json_is_true(v);
    return RG_OK;
}

/* response_format: text, json_object (any object) or json_schema (a document
 * of the schema); llama.cpp's top-level "json_schema" too; Ollama's "format":
 * "json" or a schema. */
static int parse_format(const json_t *body, enum rg_api_mode mode, struct rg_api_gen *g,
                        struct rg_req_err *e)
{
    const char *param = "response_format";
    json_t *schema = NULL;
    bool want = false;
    if (mode == RG_API_OLLAMA_CHAT || mode == RG_API_OLLAMA_GENERATE) {
        param = "format";
        json_t *f = json_object_get(body, "format");
        if (json_is_string(f) && !strcmp(json_string_value(f), "json"))
            want = true;
        else if (json_is_object(f))
            want = true, schema = f;
        else if (f && !json_is_null(f) && !(json_is_string(f) && !json_string_length(f)))
            return rg_req_err_set(e, 400, param, NULL,
                                  "'format' must be \"json\" or a JSON schema");
    } else {
        json_t *rf = json_object_get(body, "response_format");
        schema = json_object_get(body, "json_schema");
        want = schema && !json_is_null(schema);
        if (rf && !json_is_null(rf)) {
            const char *type = json_string_value(json_object_get(rf, "type"));
            if (!json_is_object(rf) || !type)
                return rg_req_err_set(e, 400, param, NULL,
                                      "'response_format' must be an object with a 'type'");
            if (!strcmp(type, "json_object")) {
                want = true;
                schema = NULL;
            } else if (!strcmp(type, "json_schema")) {
                json_t *js = json_object_get(rf, "json_schema");
                if (!json_is_object(js))
                    return rg_req_err_set(e, 400, param, NULL,
                                          "'response_format.json_schema' must be an object");
                schema = json_object_get(js, "schema");
                if (!schema)
                    return rg_req_err_set(e, 400, param, NULL,
                                          "'response_format.json_schema.schema' is required");
                want = true;
            } else if (strcmp(type, "text") != 0) {
                return rg_req_err_set(e, 400, param, NULL,
                                      "'response_format.type' must be 'text', 'json_object' or "
                                      "'json_schema', got '%.40s'",
                                      type);
            }
        }
    }
    if (!want) return RG_OK;
    char err[RG_ERR_SIZE];
    int rc = rg_jg_compile(schema, &g->er.grammar, err, sizeof err);
    if (rc == RG_EINVAL) return rg_req_err_set(e, 400, param, NULL, "invalid JSON schema: %s", err);
    if (rc != RG_OK) return rg_req_err_set(e, 500, NULL, NULL, "%s", rg_strerror(rc));
    return RG_OK;
}

/* "stop": a string or up to RG_ENGINE_MAX_STOPS strings (OpenAI allows 4;
 * Continue's autocomplete sends 12 on every request, so the cap is the
 * engine's); empty strings are dropped. */
static int parse_stops(const json_t *stop, struct rg_api_gen *g, struct rg_req_err *e)
{
    const char *bad = "'stop' must be a string or an array of strings";
    if (!stop || json_is_null(stop)) return RG_OK;
    if (!json_is_string(stop) && !json_is_array(stop))
        return rg_req_err_set(e, 400, "stop", NULL, "%s", bad);
    size_t n = json_is_string(stop) ? 1 : json_array_size(stop);
    if (n > RG_ENGINE_MAX_STOPS)
        return rg_req_err_set(e, 400, "stop", NULL, "at most %d stop sequences, got %zu",
                              RG_ENGINE_MAX_STOPS, n);
    if (n && !(g->stops = rg_calloc(n, sizeof *g->stops)))
        return rg_req_err_set(e, 500, NULL, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_is_string(stop) ? stop : json_array_get(stop, i);
        if (!json_is_string(s)) return rg_req_err_set(e, 400, "stop", NULL, "%s", bad);
        if (json_string_length(s) > RG_ENGINE_MAX_STOP_LEN)
            return rg_req_err_set(e, 400, "stop", NULL, "a stop sequence is at most %d bytes",
                                  RG_ENGINE_MAX_STOP_LEN);
        if (!json_string_length(s)) continue;
        if (!(g->stops[g->er.n_stops] = rg_strdup(json_string_value(s))))
            return rg_req_err_set(e, 500, NULL, NULL, "out of memory");
        g->er.n_stops++;
    }
    return RG_OK;
}

static int parse_bias(const json_t *lb, int32_t n_vocab, struct rg_api_gen *g, struct rg_req_err *e)
{
    if (!lb || json_is_null(lb)) return RG_OK;
    if (!json_is_object(lb))
        return rg_req_err_set(e, 400, "logit_bias", NULL,
                              "'logit_bias' must map token ids to numbers");
    g->bias = rg_calloc(json_object_size(lb) + 1, sizeof *g->bias);
    if (!g->bias) return rg_req_err_set(e, 500, NULL, NULL, "out of memory");
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)lb, k, v)
    {
        int64_t id;
        if (rg_parse_i64(k, 0, n_vocab - 1, &id) != RG_OK || !json_is_number(v))
            return rg_req_err_set(e, 400, "logit_bias", NULL,
                                  "'logit_bias' key '%.20s' is not a token id of this model", k);
        double b = json_number_value(v);
        g->bias[n++] = (struct rg_logit_bias){(int32_t)id, b <= -100 ? -INFINITY : (float)b};
    }
    g->er.sp.bias = g->bias;
    g->er.sp.n_bias = n;
    return RG_OK;
}

int rg_api_gen_parse(const json_t *body, const json_t *opts, enum rg_api_mode mode, int32_t n_vocab,
                     struct rg_api_gen *g, struct rg_req_err *e)
{
    memset(g, 0, sizeof *g);
    bool ollama = mode == RG_API_OLLAMA_CHAT || mode == RG_API_OLLAMA_GENERATE;
    struct rg_engine_request *er = &g->er;
    er->kind = RG_ENGINE_GENERATE;
    er->sp = rg_sample_default_params();
    if (!ollama) { /* OpenAI's defaults; Ollama's are the sampler's own */
        er->sp.temperature = 1.0f;
        er->sp.top_p = 1.0f;
        er->sp.top_k = 0;
        er->sp.min_p = 0;
    }
    er->sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)g << 16);
    er->max_tokens = -1;
    er->n = 1;
    g->keep_alive = NAN;
    if (!opts) opts = body;
    struct {
        const char *key;
        double lo, hi;
        float *f;
    } F[] = {{"temperature", 0, 2, &er->sp.temperature},
             {"top_p", 0, 1, &er->sp.top_p},
             {"min_p", 0, 1, &er->sp.min_p},
             {"frequency_penalty", -2, 2, &er->sp.frequency_penalty},
             {"presence_penalty", -2, 2, &er->sp.presence_penalty},
             {"repeat_penalty", 0, 10, &er->sp.repeat_penalty}};
    int rc = RG_OK;
    for (size_t i = 0; rc == RG_OK && i < RG_ARRAY_LEN(F); i++) {
        double d = *F[i].f;
        rc = number(opts, F[i].key, F[i].key, F[i].lo, F[i].hi, &d, e);
        *F[i].f = (float)d;
    }
    double d = er->sp.top_k;
    if (rc == RG_OK) rc = number(opts, "top_k", "top_k", 0, 1e6, &d, e);
    er->sp.top_k = (int32_t)d;
    d = -1;
    if (rc == RG_OK) rc = number(opts, "seed", "seed", -9.2e18, 9.2e18, &d, e);
    if (d >= 0) er->sp.seed = (uint64_t)d;
    const char *mt = ollama                                           ? "num_predict"
                     : json_object_get(body, "max_completion_tokens") ? "max_completion_tokens"
                                                                      : "max_tokens";
    d = -1;
    json_t *mtv = json_object_get(opts, mt);
    if (ollama && json_is_integer(mtv) && json_integer_value(mtv) < 0)
        mtv = NULL; /* -1: no limit */
    if (rc == RG_OK && mtv) rc = number(opts, mt, mt, 1, 1e9, &d, e);
    er->max_tokens = (long)d;
    d = 1;
    if (rc == RG_OK && !ollama) rc = number(body, "n", "n", 1, RG_API_MAX_CHOICES, &d, e);
    if (rc == RG_OK && d != (int)d)
        rc = rg_req_err_set(e, 400, "n", NULL, "'n' must be a whole number");
    er->n = (int)d;
    if (rc == RG_OK) rc = boolean(body, "ignore_eos", &er->ignore_eos, e);
    /* "cache_prompt" (llama.cpp) is accepted and always true: a slot keeps
     * its tokens and the next request reuses the common prefix */
    g->stream = ollama; /* Ollama streams unless told not to */
    if (rc == RG_OK) rc = boolean(body, "stream", &g->stream, e);
    json_t *so = json_object_get(body, "stream_options");
    g->include_usage = so && json_is_true(json_object_get(so, "include_usage"));
    if (rc == RG_OK && mode == RG_API_OPENAI_CHAT) rc = boolean(body, "logprobs", &er->logprobs, e);
    d = 0;
    if (rc == RG_OK && mode == RG_API_OPENAI_CHAT)
        rc = number(body, "top_logprobs", "top_logprobs", 0, 20, &d, e);
    er->top_logprobs = (int)d;
    if (rc == RG_OK && er->top_logprobs > 0 && !er->logprobs)
        rc = rg_req_err_set(e, 400, "top_logprobs", NULL, "'top_logprobs' needs 'logprobs': true");
    if (rc == RG_OK) rc = parse_stops(json_object_get(opts, "stop"), g, e);
    er->stops = (const char *const *)g->stops;
    if (rc == RG_OK && !ollama) rc = parse_bias(json_object_get(body, "logit_bias"), n_vocab, g, e);
    if (rc == RG_OK) rc = parse_format(body, mode, g, e);
    return rc;
}

/*
 * The work one request may cost: answers x tokens x (1 + logprob
 * alternatives) within --max-request-work. An unset max_tokens becomes
 * --default-max-tokens (dflt; 0: none), fitted to the work limit (never past
 * the context); a set one over the limit is refused.
 */
int rg_api_gen_fit(struct rg_api_gen *g, int answers, long n_ctx, long work, struct rg_req_err *e)
{
    return rg_api_gen_fit_default(g, answers, n_ctx, work, 0, e);
}

int rg_api_gen_fit_default(struct rg_api_gen *g, int answers, long n_ctx, long work, long dflt,
                           struct rg_req_err *e)
{
    long per = (long)answers * (g->er.logprobs ? 1 + g->er.top_logprobs : 1);
    long most = RG_MAX(work / RG_MAX(per, 1), 1);
    if (g->er.max_tokens < 0) {
        if (dflt > 0 && dflt < n_ctx) most = RG_MIN(most, dflt);
        if (most < n_ctx) g->er.max_tokens = most;
        return RG_OK;
    }
    /* an answer never outgrows the context, whatever max_tokens says */
    if (RG_MIN(g->er.max_tokens, n_ctx) > most)
        return rg_req_err_set(e, 400, "max_tokens", NULL,
                              "%d answers x %ld tokens%s exceed this server's limit of %ld per "
                              "request (--max-request-work); ask for fewer",
                              answers, g->er.max_tokens,
                              g->er.logprobs ? " x logprob alternatives" : "", work);
    return RG_OK;
}

int rg_api_prompt_fits(size_t n, long n_ctx, const char *param, struct rg_req_err *e)
{
    if (n == 0) return rg_req_err_set(e, 400, param, NULL, "the prompt is empty");
    if ((long)n >= n_ctx)
        return rg_req_err_set(e, 400, param, "context_length_exceeded",
                              "This model's maximum context length is %ld tokens; the prompt has "
                              "%zu",
                              n_ctx, n);
    return RG_OK;
}

const char *rg_api_body_model(struct rg_http_req *r, json_t **body)
{
    *body = rg_http_req_json(r);
    if (!*body) return NULL;
    const char *id = json_string_value(json_object_get(*body, "model"));
    if (!id)
        rg_http_reply_error(r, 400, NULL, NULL, "model",
                            "'model' is required (see GET /v1/models)");
    return id;
}

void rg_api_generate_one(struct rg_http_req *r, struct rg_api_state *st, struct rg_engine_model *m,
                         enum rg_api_mode mode, struct rg_api_gen *g, struct rg_chat_prompt *cp,
                         int rc, struct rg_req_err *e)
{
    long n_ctx = rg_engine_model_n_ctx(m);
    const char *param = mode == RG_API_OLLAMA_GENERATE ? "prompt" : "messages";
    if (rc == RG_OK) rc = rg_api_prompt_fits(cp->n_tokens, n_ctx, param, e);
    if (rc == RG_OK)
        rc = rg_api_gen_fit_default(g, g->er.n, n_ctx, st->cfg->max_request_work,
                                    st->cfg->default_max_tokens, e);
    if (rc != RG_OK) {
        rg_api_reply_err(r, e);
        rg_engine_release(m, NAN);
    } else {
        const int32_t *p = cp->tokens;
        int32_t n = (int32_t)cp->n_tokens;
        rg_api_generate(r, st, m, mode, g, &p, &n, 1, cp);
    }
    rg_api_gen_free(g);
    rg_chat_prompt_free(cp);
}
