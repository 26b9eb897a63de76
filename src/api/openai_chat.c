/*
 * POST /v1/chat/completions: the body's settings and its conversation (the
 * prompt and tools, by chat/), then the engine; streamed or not.
 */
#include <string.h>

#include "api/api_internal.h"
#include "api/chat_internal.h"
#include "common/str.h"
#include "engine/constrain/grammar.h"

/* The text of the last user message (a string, or its text parts joined). */
static void last_user_text(const json_t *msgs, struct rg_buf *out)
{
    for (size_t i = json_array_size(msgs); i > 0; i--) {
        json_t *m = json_array_get(msgs, i - 1);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role || strcmp(role, "user") != 0) continue;
        json_t *c = json_object_get(m, "content");
        if (json_is_string(c)) {
            rg_buf_append(out, json_string_value(c), json_string_length(c));
        } else {
            size_t k;
            json_t *part;
            json_array_foreach(c, k, part)
            {
                const char *t = json_string_value(json_object_get(part, "text"));
                if (t) rg_buf_printf(out, "%s%s", out->len ? " " : "", t);
            }
        }
        return;
    }
}

/*
 * The extension {"rustygpt": {"collections": [ids]}} (docs/clients.md): the
 * library's passages for the last user message go into the system message
 * (a new first one, or the end of the one there is), and the reply carries
 * {"rustygpt": {"sources": [...]}}. Needs a signed-in user (collections are
 * theirs). RG_OK with nothing to do when the field is absent.
 */
static int from_library(struct rg_http_req *r, struct rg_api_state *st, json_t *body,
                        struct rg_engine_model *m, struct rg_api_gen *g, struct rg_req_err *e)
{
    json_t *ext = json_object_get(body, "rustygpt");
    if (!ext || json_is_null(ext)) return RG_OK;
    if (!json_is_object(ext))
        return rg_req_err_set(e, 400, "rustygpt", NULL, "'rustygpt' must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(ext, key, v) if (strcmp(key, "collections") != 0) return rg_req_err_set(
        e, 400, "rustygpt", NULL, "'rustygpt': unknown field '%.40s'", key);
    int64_t user = 0;
    if (rg_parse_i64(rg_http_req_principal(r)->id, 1, INT64_MAX, &user) != RG_OK)
        return rg_req_err_set(e, 401, "rustygpt", "unauthenticated",
                              "answers from the library need a signed-in account's token or key");
    json_t *msgs = json_object_get(body, "messages");
    struct rg_buf q, passages;
    rg_buf_init(&q, SIZE_MAX);
    rg_buf_init(&passages, SIZE_MAX);
    last_user_text(msgs, &q);
    rg_buf_append(&q, "", 1);
    json_t *sources = NULL;
    int rc = rg_api_chat_retrieve(st, user, ext, q.data, rg_model_vocab(rg_engine_model_get(m)),
                                  (size_t)rg_engine_model_n_ctx(m) / 3, &passages, &sources, e);
    if (rc == RG_OK && sources && json_is_array(msgs)) {
        json_t *first = json_array_get(msgs, 0);
        const char *role = json_string_value(json_object_get(first, "role"));
        json_t *c = json_object_get(first, "content");
        struct rg_buf sys;
        rg_buf_init(&sys, SIZE_MAX);
        bool merge = role && (!strcmp(role, "system") || !strcmp(role, "developer")) &&
                     json_is_string(c);
        if (merge) rg_buf_printf(&sys, "%s\n\n", json_string_value(c));
        rg_buf_printf(&sys, "%s", RG_API_CHAT_CITE);
        rg_buf_append(&sys, passages.data, passages.len);
        json_t *text = rg_api_json_text(sys.data ? sys.data : "", sys.len);
        if (merge)
            json_object_set_new(first, "content", text);
        else
            json_array_insert_new(msgs, 0, json_pack("{s:s, s:o}", "role", "system", "content", text));
        rg_buf_free(&sys);
    }
    if (rc == RG_OK) g->extra = json_pack("{s:o}", "sources", sources ? sources : json_array());
    else json_decref(sources);
    rg_buf_free(&q);
    rg_buf_free(&passages);
    return rc;
}

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
    if (rc == RG_OK) rc = from_library(r, st, body, m, &g, &e);
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
    "\"rustygpt\":{\"type\":\"object\",\"description\":\"RustyGPT's extension: "
    "{collections: [ids]} answers from the library (docs/clients.md)\"},"
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
