/*
 * From a chat request to the prompt's tokens: the messages (and the tools,
 * into the system message) rendered with the model's template, tokenized;
 * tool_choice turned into a grammar that makes the answer one call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "common/alloc.h"
#include "engine/constrain/grammar.h"

int rg_chat_tokenize_msgs(const struct rg_vocab *v, enum rg_chat_format fmt,
                          const struct rg_chat_msg *msgs, size_t n, int32_t **out, size_t *n_out,
                          char *err)
{
    char terr[RG_ERR_SIZE] = "";
    int rc = rg_chat_tokenize(v, fmt, msgs, n, true, true, out, n_out, terr);
    if (rc == RG_OK) return RG_OK;
    return rg_err_set(err, rc, "cannot tokenize the conversation: %s",
                      rc == RG_EUNSUPPORTED ? "this model's tokenizer is not implemented yet"
                      : terr[0]             ? terr
                                            : rg_strerror(rc));
}

/* Message content: a string, or an array of parts of which the text ones count. */
static int content_text(const json_t *c, size_t idx, struct rg_buf *out, struct rg_req_err *e)
{
    char param[48];
    snprintf(param, sizeof param, "messages[%zu].content", idx);
    if (json_is_string(c)) {
        if (rg_buf_append(out, json_string_value(c), json_string_length(c)) != RG_OK)
            return rg_req_err_set(e, 400, param, NULL, "the conversation is too long");
        return RG_OK;
    }
    if (!c || json_is_null(c)) return RG_OK;
    if (!json_is_array(c))
        return rg_req_err_set(e, 400, param, NULL,
                              "'content' must be a string or an array of parts");
    size_t i;
    json_t *p;
    json_array_foreach(c, i, p)
    {
        const char *type = json_string_value(json_object_get(p, "type"));
        if (!type || strcmp(type, "text") != 0)
            return rg_req_err_set(e, 400, param, NULL,
                                  "content part type '%.20s' is not supported (text only)",
                                  type ? type : "?");
        json_t *t = json_object_get(p, "text");
        if (!json_is_string(t))
            return rg_req_err_set(e, 400, param, NULL, "a text part needs 'text'");
        if (rg_buf_append(out, json_string_value(t), json_string_length(t)) != RG_OK)
            return rg_req_err_set(e, 400, param, NULL, "the conversation is too long");
    }
    return RG_OK;
}

/*
 * tool_choice "required" or {"type":"function","function":{"name":...}}: the
 * answer is constrained to one <tool_call> of the allowed tools, its
 * arguments to the tool's parameter schema (keywords the automaton cannot
 * enforce, such as pattern, are left out; a schema that does not compile at
 * all becomes "any object"). "auto" and absent leave the choice to the model.
 */
static int force_tool_call(const json_t *body, const json_t *tools, struct rg_jg **out,
                           struct rg_req_err *e)
{
    json_t *tc = json_object_get(body, "tool_choice");
    const char *want = NULL;
    if (!tc || json_is_null(tc) || (json_is_string(tc) && !strcmp(json_string_value(tc), "auto")))
        return RG_OK;
    if (json_is_object(tc)) {
        want = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
        if (!want)
            return rg_req_err_set(e, 400, "tool_choice", NULL,
                                  "'tool_choice' must name a function: {\"type\":\"function\","
                                  "\"function\":{\"name\":...}}");
    } else if (!json_is_string(tc) || strcmp(json_string_value(tc), "required") != 0) {
        return rg_req_err_set(e, 400, "tool_choice", NULL,
                              "'tool_choice' must be 'none', 'auto', 'required' or a function");
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
        return rg_req_err_set(e, 400, "tool_choice", NULL,
                              "'tool_choice' names '%.60s', which is not in 'tools'",
                              want ? want : "");
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
    int rc = rg_jg_compile_wrapped(schema, RG_TOOL_OPEN, RG_TOOL_CLOSE, true, out, err, sizeof err);
    json_decref(schema);
    if (rc != RG_OK)
        return rg_req_err_set(e, 400, "tool_choice", NULL,
                              "cannot constrain the answer to a tool call: %s", err);
    return RG_OK;
}

/* Fill-in-the-middle tokens of the model families that have them, in the
 * order prefix, suffix, middle (the prompt is PRE prefix SUF suffix MID). */
static const char *const FIM[][3] = {
    {"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"},          /* Qwen 2.5 Coder, CodeGemma */
    {"<fim_prefix>", "<fim_suffix>", "<fim_middle>"},                /* StarCoder, Granite Code */
    {"\xe2\x96\x81<PRE>", "\xe2\x96\x81<SUF>", "\xe2\x96\x81<MID>"}, /* Code Llama */
    {"<PRE>", "<SUF>", "<MID>"},
    {"<\xef\xbd\x9c"
     "fim\xe2\x96\x81"
     "begin\xef\xbd\x9c>",
     "<\xef\xbd\x9c"
     "fim\xe2\x96\x81"
     "hole\xef\xbd\x9c>",
     "<\xef\xbd\x9c"
     "fim\xe2\x96\x81"
     "end\xef\xbd\x9c>"}, /* DeepSeek Coder */
};

bool rg_chat_fim_tokens(const struct rg_vocab *v, int32_t ids[3], const char *const **texts)
{
    for (size_t f = 0; v && f < RG_ARRAY_LEN(FIM); f++) {
        for (int k = 0; k < 3; k++)
            ids[k] = rg_vocab_find(v, FIM[f][k]);
        if (ids[0] >= 0 && ids[1] >= 0 && ids[2] >= 0) {
            if (texts) *texts = FIM[f];
            return true;
        }
    }
    return false;
}

int rg_chat_prompt_fim(const struct rg_vocab *v, const char *prefix, size_t pl, const char *suffix,
                       size_t sl, struct rg_chat_prompt *cp, struct rg_req_err *e)
{
    int32_t ids[3];
    memset(cp, 0, sizeof *cp);
    if (!rg_chat_fim_tokens(v, ids, NULL))
        return rg_req_err_set(e, 400, "suffix", NULL,
                              "this model has no fill-in-the-middle tokens: 'suffix' needs one "
                              "that has (a coder model)");
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int rc = rg_tokenize_alloc(v, prefix, pl, false, false, &a, &na);
    if (rc == RG_OK) rc = rg_tokenize_alloc(v, suffix, sl, false, false, &b, &nb);
    bool bos = rg_vocab_add_bos(v) && rg_vocab_bos(v) >= 0;
    size_t n = (bos ? 1 : 0) + 3 + na + nb;
    if (rc == RG_OK && !(cp->tokens = rg_malloc_array(n, sizeof *cp->tokens))) rc = RG_ENOMEM;
    if (rc == RG_OK) {
        size_t k = 0;
        if (bos) cp->tokens[k++] = rg_vocab_bos(v);
        cp->tokens[k++] = ids[0];
        memcpy(cp->tokens + k, a, na * sizeof *a);
        k += na;
        cp->tokens[k++] = ids[1];
        memcpy(cp->tokens + k, b, nb * sizeof *b);
        k += nb;
        cp->tokens[k++] = ids[2];
        cp->n_tokens = k;
    }
    rg_free(a);
    rg_free(b);
    if (rc != RG_OK)
        return rg_req_err_set(e, rc == RG_EUNSUPPORTED ? 501 : 500, NULL, NULL,
                              "cannot tokenize the prompt: %s", rg_strerror(rc));
    return RG_OK;
}

void rg_chat_prompt_free(struct rg_chat_prompt *p)
{
    if (!p) return;
    rg_free(p->tokens);
    json_decref(p->tools);
    rg_jg_free(p->force);
    memset(p, 0, sizeof *p);
}

int rg_chat_prompt_build(const json_t *body, const struct rg_vocab *v, enum rg_chat_format fmt,
                         struct rg_chat_prompt *out, struct rg_req_err *e)
{
    memset(out, 0, sizeof *out);
    json_t *msgs = json_object_get(body, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return rg_req_err_set(e, 400, "messages", NULL, "'messages' must be a non-empty array");
    size_t n = json_array_size(msgs);
    if (n > 4096) return rg_req_err_set(e, 400, "messages", NULL, "too many messages");
    /* tools: definitions into the system message, unless tool_choice is "none" */
    json_t *tools = json_object_get(body, "tools");
    const char *choice = json_string_value(json_object_get(body, "tool_choice"));
    if (tools && json_is_null(tools)) tools = NULL;
    if (tools) {
        char err[RG_ERR_SIZE];
        if (rg_tools_validate(tools, err) != RG_OK)
            return rg_req_err_set(e, 400, "tools", NULL, "%s", err);
        if (json_array_size(tools) == 0 || (choice && !strcmp(choice, "none"))) tools = NULL;
    }
    out->tools = tools ? json_incref(tools) : NULL;
    out->one_call = json_is_false(json_object_get(body, "parallel_tool_calls"));
    int rc = tools ? force_tool_call(body, tools, &out->force, e) : RG_OK;
    out->forced = out->force != NULL;
    /* one more message: a system message may be added for the tools */
    struct rg_chat_msg *cm = rc == RG_OK ? rg_calloc(n + 1, sizeof *cm) : NULL;
    struct rg_buf *texts = cm ? rg_calloc(n + 1, sizeof *texts) : NULL;
    if (rc == RG_OK && (!cm || !texts)) rc = rg_req_err_set(e, 500, NULL, NULL, "out of memory");
    size_t k = 0;
    if (rc == RG_OK && tools) {
        json_t *first = json_array_get(msgs, 0);
        const char *r0 = json_string_value(json_object_get(first, "role"));
        if (!r0 || (strcmp(r0, "system") && strcmp(r0, "developer"))) {
            rg_buf_init(&texts[0], 16u << 20);
            rg_buf_append_str(&texts[0], "You are a helpful assistant.");
            rg_tools_system_text(tools, &texts[0]);
            cm[k++] = (struct rg_chat_msg){"system", texts[0].data};
        }
    }
    for (size_t i = 0; rc == RG_OK && i < n; i++, k++) {
        json_t *m = json_array_get(msgs, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        char param[48];
        snprintf(param, sizeof param, "messages[%zu].role", i);
        if (!role) {
            rc = rg_req_err_set(e, 400, param, NULL, "each message needs a 'role'");
            break;
        }
        if (!strcmp(role, "developer")) role = "system";
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") &&
            strcmp(role, "tool")) {
            rc = rg_req_err_set(e, 400, param, NULL, "unknown role '%.20s'", role);
            break;
        }
        struct rg_buf *t = &texts[k];
        rg_buf_init(t, 16u << 20);
        bool is_tool = !strcmp(role, "tool");
        if (is_tool) rg_buf_append_str(t, "<tool_response>\n");
        if ((rc = content_text(json_object_get(m, "content"), i, t, e)) != RG_OK) break;
        if (is_tool) {
            rg_buf_append_str(t, "\n</tool_response>");
            role = "user"; /* the protocol carries results in the user's turn */
        }
        json_t *calls = json_object_get(m, "tool_calls");
        size_t ci;
        json_t *call;
        json_array_foreach(calls, ci, call)
        {
            /* arguments: OpenAI's JSON text, or Ollama's object (Continue and
             * Open WebUI send the calls back that way) */
            json_t *fn = json_object_get(call, "function");
            json_t *args = json_object_get(fn, "arguments");
            char *dumped = json_is_object(args) ? json_dumps(args, JSON_COMPACT) : NULL;
            rg_tools_call_text(json_string_value(json_object_get(fn, "name")),
                               dumped ? dumped : json_string_value(args), t);
            free(dumped);
        }
        if (tools && k == 0 && !strcmp(role, "system")) rg_tools_system_text(tools, t);
        cm[k] = (struct rg_chat_msg){role, t->data ? t->data : ""};
    }
    if (rc == RG_OK) {
        char err[RG_ERR_SIZE];
        int trc = rg_chat_tokenize_msgs(v, fmt, cm, k, &out->tokens, &out->n_tokens, err);
        if (trc != RG_OK)
            rc = rg_req_err_set(e,
                                trc == RG_EUNSUPPORTED ? 501
                                : trc == RG_EINVAL     ? 400
                                                       : 500,
                                trc == RG_EINVAL ? "messages" : NULL, NULL, "%s", err);
    }
    for (size_t i = 0; texts && i <= n; i++)
        rg_buf_free(&texts[i]);
    rg_free(texts);
    rg_free(cm);
    if (rc != RG_OK) rg_chat_prompt_free(out);
    return rc;
}
