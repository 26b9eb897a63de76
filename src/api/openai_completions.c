/*
 * POST /v1/completions: plain completion of a prompt given as text, token
 * ids, or a list of either (each gets its n answers).
 */
#include <string.h>

#include "api/api_internal.h"
#include "common/alloc.h"

/* One prompt's tokens: text (no special tokens parsed), or token ids. */
static int prompt_tokens(const json_t *p, int k, const struct rg_model *model, long n_ctx,
                         int32_t **out, int32_t *n_out, struct rg_req_err *e)
{
    const struct rg_vocab *v = rg_model_vocab(model);
    int32_t n_vocab = rg_model_info(model)->n_vocab;
    size_t n = 0;
    int32_t *t = NULL;
    if (json_is_string(p)) {
        int rc =
            rg_tokenize_alloc(v, json_string_value(p), json_string_length(p), true, false, &t, &n);
        if (rc)
            return rg_req_err_set(
                e, rc == RG_EUNSUPPORTED ? 501 : 500, NULL, NULL, "cannot tokenize the prompt: %s",
                rc == RG_EUNSUPPORTED ? "this model's tokenizer is not implemented yet"
                                      : rg_strerror(rc));
    } else if (json_is_array(p)) {
        n = json_array_size(p);
        t = rg_malloc_array(n ? n : 1, sizeof *t);
        if (!t) return rg_req_err_set(e, 500, NULL, NULL, "out of memory");
        for (size_t i = 0; i < n; i++) {
            json_t *x = json_array_get(p, i);
            json_int_t id = json_is_integer(x) ? json_integer_value(x) : -1;
            if (id < 0 || id >= n_vocab) {
                rg_free(t);
                return rg_req_err_set(e, 400, "prompt", NULL,
                                      "prompt token %zu is not a token id of this model", i);
            }
            t[i] = (int32_t)id;
        }
    } else {
        return rg_req_err_set(e, 400, "prompt", NULL, "prompt %d must be a string or token ids", k);
    }
    int rc = rg_api_prompt_fits(n, n_ctx, "prompt", e);
    if (rc != RG_OK) {
        rg_free(t);
        return rc;
    }
    *out = t;
    *n_out = (int32_t)n;
    return RG_OK;
}

static void text_completions(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    json_t *body;
    const char *id = rg_api_body_model(r, &body);
    if (!id) return;
    json_t *p = json_object_get(body, "prompt");
    bool ids = json_is_array(p) && json_array_size(p) > 0 && json_is_integer(json_array_get(p, 0));
    bool list = json_is_array(p) && json_array_size(p) > 0 && !ids;
    if (!json_is_string(p) && !ids && !list) {
        rg_http_reply_error(r, 400, NULL, NULL, "prompt",
                            "'prompt' must be a string, a list of strings, or token ids");
        return;
    }
    struct rg_engine_model *m = rg_api_model_hold(r, st, id);
    if (!m) return;
    const struct rg_model *model = rg_engine_model_get(m);
    long n_ctx = rg_engine_model_n_ctx(m);
    struct rg_api_gen g;
    struct rg_req_err e;
    int rc =
        rg_api_gen_parse(body, NULL, RG_API_OPENAI_TEXT, rg_model_info(model)->n_vocab, &g, &e);
    int n = list ? (int)json_array_size(p) : 1;
    if (rc == RG_OK && (n > RG_API_MAX_CHOICES || n * g.er.n > RG_API_MAX_CHOICES))
        rc = rg_req_err_set(&e, 400, "prompt", NULL, "at most %d answers per request (prompts x n)",
                            RG_API_MAX_CHOICES);
    int32_t *toks[RG_API_MAX_CHOICES] = {0};
    int32_t lens[RG_API_MAX_CHOICES] = {0};
    for (int k = 0; rc == RG_OK && k < n; k++)
        rc = prompt_tokens(list ? json_array_get(p, (size_t)k) : p, k, model, n_ctx, &toks[k],
                           &lens[k], &e);
    if (rc == RG_OK)
        rc = rg_api_gen_fit_default(&g, g.er.n * n, n_ctx, st->cfg->max_request_work,
                                    st->cfg->default_max_tokens, &e);
    if (rc != RG_OK) {
        rg_api_reply_err(r, &e);
        rg_engine_release(m, NAN);
    } else {
        rg_api_generate(r, st, m, RG_API_OPENAI_TEXT, &g, (const int32_t *const *)toks, lens, n,
                        NULL);
    }
    for (int k = 0; k < n && k < RG_API_MAX_CHOICES; k++)
        rg_free(toks[k]);
    rg_api_gen_free(&g);
}

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

size_t rg_api_completions_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const struct rg_route routes[] = {
        {RG_HTTP_POST, "/v1/completions", text_completions, st, RG_ROLE_PUBLIC,
         RG_ROUTE_API_KEY | RG_ROUTE_STREAM, "openai", "Plain text completion of a prompt",
         COMPL_REQ, COMPL_RESP},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n;
}
