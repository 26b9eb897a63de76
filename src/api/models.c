/*
 * GET /v1/models and /v1/models/{id}: the -m files and the models dir, with
 * the context each is served with and what it can do.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"
#include "engine/catalog/catalog.h"
#include "engine/gguf/gguf.h"

bool rg_api_gguf_has_tools(const struct rg_gguf *g)
{
    const char *jinja = NULL;
    return rg_gguf_get_str(g, "tokenizer.chat_template", &jinja) == RG_OK &&
           ((strstr(jinja, RG_TOOL_OPEN) && rg_chat_detect(jinja) == RG_CHAT_CHATML) ||
            strstr(jinja, "<|python_tag|>") || strstr(jinja, "[TOOL_CALLS]"));
}

/* Whether the model file at path can call tools (as /api/show says). */
static bool file_has_tools(const char *path)
{
    char err[RG_ERR_SIZE];
    struct rg_gguf_params gp = rg_gguf_default_params();
    gp.vocab_only = true;
    struct rg_gguf *g = path ? rg_gguf_open(path, &gp, err) : NULL;
    bool t = g && rg_api_gguf_has_tools(g);
    rg_gguf_close(g);
    return t;
}

/* OpenAI's model object, plus what clients that size their prompts read:
 * the context length served (the training one under llama.cpp's "meta") and
 * the kind. */
static json_t *model_obj_of(const struct rg_api_state *st, const char *id,
                            const struct rg_model_entry *e)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:s}", "id", id, "object", "model", "created",
                          (json_int_t)0, "owned_by", "rustygpt");
    if (o && e && !e->error) {
        json_object_set_new(o, "context_length",
                            json_integer((json_int_t)rg_api_served_ctx(st, (int64_t)e->ctx)));
        json_object_set_new(o, "meta",
                            json_pack("{s:I, s:I, s:I}", "n_ctx_train", (json_int_t)e->ctx,
                                      "n_params", (json_int_t)e->n_params, "size",
                                      (json_int_t)e->size));
        bool embed = e->arch && !strcmp(e->arch, "bert");
        json_t *caps = json_pack("[s]", embed ? "embedding" : "completion");
        if (!embed && file_has_tools(e->path)) json_array_append_new(caps, json_string("tools"));
        json_object_set_new(o, "capabilities", caps);
    }
    return o;
}

static json_t *model_obj(const struct rg_api_state *st, const char *id, const char *path)
{
    struct rg_model_entry e;
    if (rg_catalog_inspect(path, &e) != RG_OK) return model_obj_of(st, id, NULL);
    json_t *o = model_obj_of(st, id, &e);
    rg_catalog_entry_free(&e);
    return o;
}

static void list_models(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    const struct rg_config *cfg = st->cfg;
    json_t *data = json_array();
    char id[128];
    for (size_t i = 0; i < cfg->models.n; i++) {
        rg_engine_model_id_of(cfg->models.v[i], id, sizeof id);
        json_array_append_new(data, model_obj(st, id, cfg->models.v[i]));
    }
    struct rg_model_list l;
    char err[RG_ERR_SIZE];
    if (rg_catalog_scan(cfg->models_dir, &l, err) == RG_OK) {
        for (size_t i = 0; i < l.n; i++) {
            if (l.v[i].error || !l.v[i].arch) continue;
            bool dup = false;
            size_t k;
            json_t *m;
            json_array_foreach(data, k, m) dup |=
                !strcmp(json_string_value(json_object_get(m, "id")), l.v[i].name);
            if (!dup) json_array_append_new(data, model_obj_of(st, l.v[i].name, &l.v[i]));
        }
        rg_catalog_free(&l);
    }
    rg_http_reply_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void get_model_route(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    const char *id = rg_http_req_param(r, "id");
    char path[4096];
    if (!id || !rg_engine_model_path(st->engine, id, path, sizeof path)) {
        rg_http_reply_error(r, 404, NULL, "model_not_found", "id",
                            "The model '%.100s' does not exist", id ? id : "");
        return;
    }
    rg_http_reply_json(r, 200, model_obj(st, id, path));
}

static const char MODELS_RESP[] =
    "{\"type\":\"object\",\"properties\":{\"object\":{\"const\":\"list\"},\"data\":{\"type\":"
    "\"array\",\"items\":{"
    "\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"object\":{\"const\":"
    "\"model\"},"
    "\"created\":{\"type\":\"integer\"},\"owned_by\":{\"type\":\"string\"}}}}}}";
static const char MODEL_RESP[] = "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"}"
                                 ",\"object\":{\"const\":\"model\"}}}";

size_t rg_api_models_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const struct rg_route routes[] = {
        {RG_HTTP_GET, "/v1/models", list_models, st, RG_ROLE_PUBLIC, RG_ROUTE_API_KEY, "openai",
         "Models that can be used: -m files and the models dir", NULL, MODELS_RESP},
        {RG_HTTP_GET, "/v1/models/{id}", get_model_route, st, RG_ROLE_PUBLIC, RG_ROUTE_API_KEY,
         "openai", "One model", NULL, MODEL_RESP},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n;
}
