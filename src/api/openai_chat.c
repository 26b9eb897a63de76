/*
 * POST /v1/chat/completions: the body's settings and its conversation (the
 * prompt and tools, by chat/), then the engine; streamed or not.
 */
#include <string.h>

#include "api/api_internal.h"
#include "engine/constrain/grammar.h"

static void chat_completions(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    json_t *body;
    const char *id = rg_api_body_model(r, &body);
    if (!id) return;
    struct rg_engine_model *m = rg_api_model_hold(r, st, id);
    if (!m) return;
    const struct rg_model *model = rg_engine_model_get(m);
    struct rg_api_gen g;
    struct rg_chat_prompt cp = {0};
    struct rg_req_err e;
    int rc =
        rg_api_gen_parse(body, NULL, RG_API_OPENAI_CHAT, rg_model_info(model)->n_vocab, &g, &e);
    if (rc == RG_OK)
        rc = rg_chat_prompt_build(body, rg_model_vocab(model), rg_engine_model_chat_format(m), &cp,
                                  &e);
    if (rc == RG_OK && cp.force) { /* a forced call wins over response_format */
        rg_jg_free(g.er.grammar);
        g.er.grammar = cp.force;
        cp.force = NULL;
    }
    rg_api_generate_one(r, st, m, RG_API_OPENAI_CHAT, &g, &cp, rc, &e);
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

size_t rg_api_chat_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const struct rg_route routes[] = {
        {RG_HTTP_POST, "/v1/chat/completions", chat_completions, st, RG_ROLE_PUBLIC,
         RG_ROUTE_API_KEY | RG_ROUTE_STREAM, "openai",
         "Chat completion, streamed with \"stream\": true", CHAT_REQ, CHAT_RESP},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n;
}
