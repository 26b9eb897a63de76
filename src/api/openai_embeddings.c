/*
 * POST /v1/embeddings: each input tokenized and checked here (an input over
 * the context is a 400 before anything is sent), then embedded on the
 * model's own scheduler, between its generation steps.
 */
#include <string.h>

#include "api/api_internal.h"
#include "common/alloc.h"

void rg_api_embed_inputs(struct rg_http_req *r, struct rg_api_state *st, const char *id,
                         const json_t *in, const char *param, enum rg_api_embed_shape shape)
{
    size_t n = json_is_string(in) ? 1 : json_is_array(in) ? json_array_size(in) : 0;
    if (n == 0 || n > 2048) {
        rg_http_reply_error(r, 400, NULL, NULL, param,
                            "'%s' must be a string or a non-empty array of strings", param);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_is_string(in) ? (json_t *)in : json_array_get(in, i);
        if (!json_is_string(x) || json_string_length(x) == 0) {
            rg_http_reply_error(r, 400, NULL, NULL, param, "%s %zu must be a non-empty string",
                                param, i);
            return;
        }
    }
    struct rg_engine_model *m = rg_api_model_hold(r, st, id);
    if (!m) return;
    const struct rg_vocab *v = rg_model_vocab(rg_engine_model_get(m));
    int32_t n_ctx = rg_engine_model_n_ctx(m);
    int32_t **toks = rg_calloc(n, sizeof *toks);
    int32_t *lens = rg_calloc(n, sizeof *lens);
    struct rg_req_err e = {0};
    int rc = toks && lens ? RG_OK : rg_req_err_set(&e, 500, NULL, NULL, "out of memory");
    for (size_t i = 0; rc == RG_OK && i < n; i++) {
        json_t *x = json_is_string(in) ? (json_t *)in : json_array_get(in, i);
        size_t k = 0;
        int trc = rg_tokenize_alloc(v, json_string_value(x), json_string_length(x), true, false,
                                    &toks[i], &k);
        if (trc != RG_OK)
            rc = rg_req_err_set(&e, trc == RG_EUNSUPPORTED ? 501 : 500, NULL, NULL,
                                "cannot tokenize input %zu: %s", i, rg_strerror(trc));
        else if (k > (size_t)n_ctx)
            rc = rg_req_err_set(&e, 400, param, "context_length_exceeded",
                                "input %zu has %zu tokens; the context holds %d", i, k, n_ctx);
        lens[i] = (int32_t)k;
    }
    if (rc != RG_OK) {
        rg_api_reply_err(r, &e);
        rg_engine_release(m, NAN);
    } else {
        rg_api_embed(r, st, m, (const int32_t *const *)toks, lens, (int)n, shape);
    }
    for (size_t i = 0; toks && i < n; i++)
        rg_free(toks[i]);
    rg_free(toks);
    rg_free(lens);
}

static void embeddings(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    json_t *body;
    const char *id = rg_api_body_model(r, &body);
    if (!id) return;
    const char *fmt = json_string_value(json_object_get(body, "encoding_format"));
    if (fmt && strcmp(fmt, "float") && strcmp(fmt, "base64")) {
        rg_http_reply_error(r, 400, NULL, NULL, "encoding_format",
                            "'encoding_format' must be float or base64");
        return;
    }
    rg_api_embed_inputs(r, st, id, json_object_get(body, "input"), "input",
                        fmt && !strcmp(fmt, "base64") ? RG_API_EMBED_BASE64 : RG_API_EMBED_FLOAT);
}

size_t rg_api_embeddings_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const struct rg_route routes[] = {
        {RG_HTTP_POST, "/v1/embeddings", embeddings, st, RG_ROLE_PUBLIC, RG_ROUTE_API_KEY, "openai",
         "Embeddings: the model's final hidden states, mean-pooled and normalized",
         "{\"type\":\"object\",\"required\":[\"model\",\"input\"],\"properties\":{\"model\":{"
         "\"type\":\"string\"},"
         "\"input\":{\"type\":[\"string\",\"array\"]},\"encoding_format\":{\"enum\":[\"float\","
         "\"base64\"]}}}",
         "{\"type\":\"object\",\"properties\":{\"object\":{\"const\":\"list\"},\"data\":{\"type\":"
         "\"array\"},"
         "\"usage\":{\"type\":\"object\"}}}"},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n;
}
