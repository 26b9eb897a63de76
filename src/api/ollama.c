/*
 * Ollama's API, what Ollama clients (Open WebUI, Continue) and Copilot's
 * Ollama provider use: /api/version, /api/tags, /api/show, /api/ps,
 * /api/chat, /api/generate (with "suffix": fill-in-the-middle), and the
 * model upkeep routes of ollama_manage.c. Requests map straight to the
 * engine's (the same settings parser as OpenAI's, reading Ollama's
 * "options"); replies are NDJSON unless "stream": false. Errors are
 * {"error": "..."}. Names are Ollama's "name:tag": a file without a tag in
 * its name is "name:latest", and both forms are accepted everywhere (the
 * engine reads "x:latest" as x).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "common/alloc.h"
#include "engine/catalog/catalog.h"
#include "engine/gguf/gguf.h"

/* The Ollama API level we follow; clients such as Copilot require >= 0.6.4. */
#define OLLAMA_COMPAT_VERSION "0.9.0"

static void ollama_version(struct rg_http_req *r, void *ctx)
{
    (void)ctx;
    rg_http_reply_json(r, 200, json_pack("{s:s}", "version", OLLAMA_COMPAT_VERSION));
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
static bool load_or_unload(struct rg_http_req *r, struct rg_api_state *st, json_t *body, bool chat,
                           double *keep)
{
    json_t *ka = json_object_get(body, "keep_alive");
    *keep = NAN;
    if (ka && !json_is_null(ka) && !keep_alive_of(ka, keep)) {
        rg_http_reply_json(r, 400, json_pack("{s:s}", "error", "keep_alive: cannot read it"));
        return true;
    }
    json_t *p = json_object_get(body, chat ? "messages" : "prompt");
    bool empty = !p || json_is_null(p) || (json_is_string(p) && !json_string_length(p)) ||
                 (json_is_array(p) && !json_array_size(p));
    const char *id = json_string_value(json_object_get(body, "model"));
    if (!empty || !id) return false;
    const char *reason = "load";
    if (*keep == 0) { /* unload, if it is loaded and nobody uses it */
        reason = "unload";
        rg_engine_set_keep_alive(st->engine, id, 0);
    } else {
        struct rg_engine_model *m = rg_api_model_hold(r, st, id);
        if (!m) return true;
        rg_engine_release(m, *keep);
    }
    char ts[64];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *o = json_pack("{s:s, s:s, s:b, s:s}", "model", id, "created_at", ts, "done", 1,
                          "done_reason", reason);
    json_object_set_new(o, chat ? "message" : "response",
                        chat ? json_pack("{s:s, s:s}", "role", "assistant", "content", "")
                             : json_string(""));
    rg_http_reply_json(r, 200, o);
    return true;
}

/* /api/chat and /api/generate: the prompt (a conversation, or with "raw" the
 * prompt text as it is), the settings, then the engine. */
static void ollama_generation(struct rg_http_req *r, struct rg_api_state *st, bool chat)
{
    rg_http_req_plain_errors(r);
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    double keep;
    if (load_or_unload(r, st, body, chat, &keep)) return;
    const char *id = json_string_value(json_object_get(body, "model"));
    if (!id) {
        rg_http_reply_json(r, 400, json_pack("{s:s}", "error", "'model' is required"));
        return;
    }
    bool raw = !chat && json_is_true(json_object_get(body, "raw"));
    json_t *prompt = json_object_get(body, "prompt");
    if (!chat && prompt && !json_is_string(prompt)) {
        rg_http_reply_json(r, 400, json_pack("{s:s}", "error", "'prompt' must be a string"));
        return;
    }
    struct rg_engine_model *m = rg_api_model_hold(r, st, id);
    if (!m) return;
    const struct rg_model *model = rg_engine_model_get(m);
    enum rg_api_mode mode = chat ? RG_API_OLLAMA_CHAT : RG_API_OLLAMA_GENERATE;
    struct rg_api_gen g;
    struct rg_chat_prompt cp = {0};
    struct rg_req_err e;
    json_t *opts = json_object_get(body, "options");
    int rc = rg_api_gen_parse(body, json_is_object(opts) ? opts : NULL, mode,
                              rg_model_info(model)->n_vocab, &g, &e);
    g.keep_alive = keep;
    json_t *suffix = chat ? NULL : json_object_get(body, "suffix");
    if (rc == RG_OK && suffix && !json_is_null(suffix) && !json_is_string(suffix))
        rc = rg_req_err_set(&e, 400, "suffix", NULL, "'suffix' must be a string");
    if (rc == RG_OK && json_string_length(suffix)) {
        rc = rg_chat_prompt_fim(rg_model_vocab(model), prompt ? json_string_value(prompt) : "",
                                prompt ? json_string_length(prompt) : 0, json_string_value(suffix),
                                json_string_length(suffix), &cp, &e);
    } else if (rc == RG_OK && raw) {
        size_t n = 0;
        int trc =
            rg_tokenize_alloc(rg_model_vocab(model), prompt ? json_string_value(prompt) : "",
                              prompt ? json_string_length(prompt) : 0, true, false, &cp.tokens, &n);
        cp.n_tokens = n;
        if (trc != RG_OK)
            rc = rg_req_err_set(&e, trc == RG_EUNSUPPORTED ? 501 : 500, NULL, NULL,
                                "cannot tokenize the prompt: %s", rg_strerror(trc));
    } else if (rc == RG_OK) {
        json_t *conv = body;
        json_t *made = NULL;
        if (!chat) { /* system + prompt as a conversation */
            json_t *msgs = json_array();
            json_t *sys = json_object_get(body, "system");
            if (json_is_string(sys))
                json_array_append_new(msgs,
                                      json_pack("{s:s, s:O}", "role", "system", "content", sys));
            json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", "user", "content",
                                                  prompt ? json_incref(prompt) : json_string("")));
            conv = made = json_pack("{s:o}", "messages", msgs);
        }
        rc = conv ? rg_chat_prompt_build(conv, rg_model_vocab(model),
                                         rg_engine_model_chat_format(m), &cp, &e)
                  : rg_req_err_set(&e, 500, NULL, NULL, "out of memory");
        json_decref(made);
    }
    rg_api_generate_one(r, st, m, mode, &g, &cp, rc, &e);
}

static void ollama_chat(struct rg_http_req *r, void *ctx)
{
    ollama_generation(r, ctx, true);
}

static void ollama_generate(struct rg_http_req *r, void *ctx)
{
    ollama_generation(r, ctx, false);
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
static int all_models(const struct rg_config *cfg, struct rg_model_list *out)
{
    out->v = NULL;
    out->n = 0;
    char err[RG_ERR_SIZE];
    struct rg_model_list dir = {0};
    if (rg_catalog_scan(cfg->models_dir, &dir, err) != RG_OK) dir.n = 0;
    size_t cap = cfg->models.n + dir.n + 1;
    out->v = rg_calloc(cap, sizeof *out->v);
    if (!out->v) {
        rg_catalog_free(&dir);
        return RG_ENOMEM;
    }
    for (size_t i = 0; i < cfg->models.n; i++) {
        if (rg_catalog_inspect(cfg->models.v[i], &out->v[out->n]) != RG_OK) break;
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

/* Ollama's "name:tag" of a model id: ids without a tag are ":latest". */
static void ollama_name(const char *id, char *out, size_t n)
{
    snprintf(out, n, "%s%s", id, strchr(id, ':') ? "" : ":latest");
}

static void ollama_tags(struct rg_http_req *r, void *ctx)
{
    struct rg_model_list l;
    if (all_models(((struct rg_api_state *)ctx)->cfg, &l) != RG_OK) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++) {
        const struct rg_model_entry *e = &l.v[i];
        char digest[24];
        snprintf(digest, sizeof digest, "%016llx",
                 (unsigned long long)(e->size * 1099511628211ull ^ e->n_params));
        char name[300];
        ollama_name(e->name, name, sizeof name);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:s, s:o}", "name", name,
                                             "model", name, "modified_at", "1970-01-01T00:00:00Z",
                                             "size", (json_int_t)e->size, "digest", digest,
                                             "details", ollama_details(e)));
    }
    rg_catalog_free(&l);
    rg_http_reply_json(r, 200, json_pack("{s:o}", "models", arr));
}

static void ollama_show(struct rg_http_req *r, void *ctx)
{
    rg_http_req_plain_errors(r);
    struct rg_api_state *st = ctx;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    const char *id = json_string_value(json_object_get(body, "model"));
    if (!id) id = json_string_value(json_object_get(body, "name"));
    char path[4096];
    if (!id || !rg_engine_model_path(st->engine, id, path, sizeof path)) {
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
    json_object_set_new(info, key, json_integer((json_int_t)rg_api_served_ctx(st, (int64_t)e.ctx)));
    /* tools: offered for models whose chat template speaks a tool protocol
     * our parser reads: <tool_call> (ChatML family), Llama 3's
     * <|python_tag|>, Mistral's [TOOL_CALLS] */
    bool embed = e.arch && !strcmp(e.arch, "bert");
    json_t *caps = json_pack("[s]", embed ? "embedding" : "completion");
    char gerr[RG_ERR_SIZE];
    struct rg_gguf_params gp = rg_gguf_default_params();
    gp.vocab_only = true;
    struct rg_gguf *g = rg_gguf_open(path, &gp, gerr);
    if (!embed && g && rg_api_gguf_has_tools(g)) json_array_append_new(caps, json_string("tools"));
    /* fill-in-the-middle: Continue looks for ".Suffix" in the template and
     * Ollama lists "insert" */
    struct rg_vocab *v = NULL;
    int32_t ids[3];
    const char *const *fim = NULL;
    if (g && rg_vocab_load(g, &v, gerr) == RG_OK) rg_chat_fim_tokens(v, ids, &fim);
    char tmpl[512] = "{{ .Prompt }}";
    if (fim) {
        json_array_append_new(caps, json_string("insert"));
        snprintf(tmpl, sizeof tmpl,
                 "{{- if .Suffix }}%s{{ .Prompt }}%s{{ .Suffix }}%s{{- else }}{{ .Prompt }}"
                 "{{- end }}",
                 fim[0], fim[1], fim[2]);
    }
    rg_vocab_free(v);
    rg_gguf_close(g);
    /* parameters: Ollama's Modelfile lines, "name value" each; Continue
     * sizes its prompts by num_ctx (else it assumes 8192) */
    char params[64];
    snprintf(params, sizeof params, "num_ctx                        %d",
             (int)rg_api_served_ctx(st, (int64_t)e.ctx));
    rg_http_reply_json(r, 200,
                       json_pack("{s:s, s:s, s:o, s:o, s:o, s:s}", "template", tmpl, "parameters",
                                 params, "details", ollama_details(&e), "model_info", info,
                                 "capabilities", caps, "modified_at", "1970-01-01T00:00:00Z"));
    rg_catalog_entry_free(&e);
}

/* Loaded models, and when --keep-alive (or a request's keep_alive) will
 * unload each if nobody uses it meanwhile. */
static void ollama_ps(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    json_t *models = rg_engine_status(st->engine), *arr = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m)
    {
        const char *state = json_string_value(json_object_get(m, "state"));
        if (!state || strcmp(state, "ready")) continue;
        double keep = json_number_value(json_object_get(m, "keep_alive_s"));
        double idle = json_number_value(json_object_get(m, "idle_s"));
        /* a -m model or keep_alive < 0 stays; one in use is idle from its
         * end on, so it expires a whole keep_alive from now at the least */
        bool forever = keep < 0 || json_is_true(json_object_get(m, "pinned"));
        time_t now = time(NULL);
        time_t exp = forever ? (time_t)253402300799 /* 9999-12-31 */
                             : now + (time_t)RG_MAX(keep - idle, 1.0);
        struct tm tm;
        char when[32];
        gmtime_r(&exp, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        const char *id = json_string_value(json_object_get(m, "id"));
        char name[300];
        ollama_name(id, name, sizeof name);
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:O, s:I, s:O, s:s}", "name", name, "model", name, "size",
                           json_object_get(m, "memory_bytes"), "size_vram", (json_int_t)0,
                           "context_length", json_object_get(m, "n_ctx"), "expires_at", when));
    }
    json_decref(models);
    rg_http_reply_json(r, 200, json_pack("{s:o}", "models", arr));
}

size_t rg_api_ollama_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const struct rg_route routes[] = {
        {RG_HTTP_GET, "/api/version", ollama_version, st, RG_ROLE_PUBLIC, 0, "ollama",
         "Ollama API level this server follows", NULL,
         "{\"type\":\"object\",\"properties\":{\"version\":{\"type\":\"string\"}}}"},
        {RG_HTTP_GET, "/api/tags", ollama_tags, st, RG_ROLE_PUBLIC,
         RG_ROUTE_API_KEY | RG_ROUTE_DISCOVERY, "ollama", "Models (Ollama shape)", NULL,
         "{\"type\":\"object\",\"properties\":{\"models\":{\"type\":\"array\"}}}"},
        {RG_HTTP_POST, "/api/show", ollama_show, st, RG_ROLE_PUBLIC,
         RG_ROUTE_API_KEY | RG_ROUTE_DISCOVERY, "ollama",
         "One model's details: architecture, context length, capabilities",
         "{\"type\":\"object\",\"properties\":{\"model\":{\"type\":\"string\"}}}",
         "{\"type\":\"object\"}"},
        {RG_HTTP_GET, "/api/ps", ollama_ps, st, RG_ROLE_PUBLIC, RG_ROUTE_API_KEY, "ollama",
         "Loaded models", NULL,
         "{\"type\":\"object\",\"properties\":{\"models\":{\"type\":\"array\"}}}"},
        {RG_HTTP_POST, "/api/chat", ollama_chat, st, RG_ROLE_PUBLIC,
         RG_ROUTE_API_KEY | RG_ROUTE_STREAM, "ollama",
         "Chat, streamed as NDJSON unless \"stream\": false",
         "{\"type\":\"object\",\"required\":[\"model\",\"messages\"]}", "{\"type\":\"object\"}"},
        {RG_HTTP_POST, "/api/generate", ollama_generate, st, RG_ROLE_PUBLIC,
         RG_ROUTE_API_KEY | RG_ROUTE_STREAM, "ollama",
         "Completion of a prompt (templated unless \"raw\": true), NDJSON",
         "{\"type\":\"object\",\"required\":[\"model\",\"prompt\"]}", "{\"type\":\"object\"}"},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n + rg_api_ollama_manage_routes(out + n, max - n, st);
}
