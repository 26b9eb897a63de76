/* Tool calling (see chat.h). */
#include "chat/chat.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rg_tools_validate(const json_t *tools, char *err)
{
    if (!json_is_array(tools)) return rg_err_set(err, RG_EINVAL, "'tools' must be an array");
    if (json_array_size(tools) > 128) return rg_err_set(err, RG_EINVAL, "at most 128 tools");
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        const char *type = json_string_value(json_object_get(t, "type"));
        json_t *fn = json_object_get(t, "function");
        if (!type || strcmp(type, "function") != 0 || !json_is_object(fn))
            return rg_err_set(err, RG_EINVAL,
                              "tools[%zu] must be {\"type\": \"function\", \"function\": {...}}",
                              i);
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!name || !*name || strlen(name) > 64)
            return rg_err_set(err, RG_EINVAL,
                              "tools[%zu].function.name must be a name of 1 to 64 characters", i);
        json_t *params = json_object_get(fn, "parameters");
        if (params && !json_is_object(params))
            return rg_err_set(err, RG_EINVAL,
                              "tools[%zu].function.parameters must be a JSON Schema object", i);
    }
    return RG_OK;
}

int rg_tools_system_text(const json_t *tools, struct rg_buf *out)
{
    int rc = rg_buf_append_str(
        out, "\n\n# Tools\n\nYou can call these functions to help answer the user. "
             "Their signatures are inside <tools></tools>:\n<tools>\n");
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        char *s = json_dumps(t, JSON_COMPACT);
        if (!s) return RG_ENOMEM;
        if (rc == RG_OK) rc = rg_buf_append_str(out, s);
        if (rc == RG_OK) rc = rg_buf_append_char(out, '\n');
        free(s);
    }
    if (rc == RG_OK)
        rc = rg_buf_append_str(
            out, "</tools>\n\nTo call a function, answer with a JSON object of its name and "
                 "arguments inside <tool_call></tool_call>:\n<tool_call>\n"
                 "{\"name\": <function-name>, \"arguments\": <arguments-object>}\n</tool_call>");
    return rc;
}

int rg_tools_call_text(const char *name, const char *arguments_json, struct rg_buf *out)
{
    json_error_t je;
    json_t *args = arguments_json ? json_loads(arguments_json, 0, &je) : NULL;
    json_t *call =
        json_pack("{s:s, s:o}", "name", name ? name : "", "arguments", args ? args : json_object());
    char *s = call ? json_dumps(call, JSON_COMPACT) : NULL;
    json_decref(call);
    if (!s) return RG_ENOMEM;
    int rc = rg_buf_printf(out, "\n" RG_TOOL_OPEN "\n%s\n" RG_TOOL_CLOSE, s);
    free(s);
    return rc;
}

static bool declared(const json_t *tools, const char *name)
{
    if (!tools) return true;
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t)
    {
        const char *n = json_string_value(json_object_get(json_object_get(t, "function"), "name"));
        if (n && !strcmp(n, name)) return true;
    }
    return false;
}

/* Appends obj as a call if it is one: a non-empty "name" and, for the bare
 * forms, "arguments" or "parameters" and a declared name. */
static bool add_call(json_t *calls, json_t *obj, const char *id_prefix, const json_t *tools,
                     bool bare)
{
    const char *name = json_string_value(json_object_get(obj, "name"));
    json_t *args = json_object_get(obj, "arguments");
    if (!args) args = json_object_get(obj, "parameters");
    if (!json_is_object(obj) || !name || !*name) return false;
    if (bare && (!args || !declared(tools, name))) return false;
    json_t *empty = args ? NULL : json_object();
    char *a = json_is_string(args) ? strdup(json_string_value(args))
                                   : json_dumps(args ? args : empty, JSON_COMPACT);
    json_decref(empty);
    char id[96];
    snprintf(id, sizeof id, "call_%.60s_%zu", id_prefix ? id_prefix : "x", json_array_size(calls));
    bool ok = a && json_array_append_new(calls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id,
                                                          "type", "function", "function", "name",
                                                          name, "arguments", a)) == 0;
    free(a);
    return ok;
}

static const char *const MARKERS[] = {"<|python_tag|>", "[TOOL_CALLS]"};

static size_t skip_ws(const char *t, size_t len, size_t i)
{
    while (i < len && (t[i] == ' ' || t[i] == '\n' || t[i] == '\r' || t[i] == '\t'))
        i++;
    return i;
}

int rg_tools_bare_start(const char *text, size_t len)
{
    size_t i = skip_ws(text, len, 0);
    if (i == len) return -1;
    if (text[i] == '{' || text[i] == '[') {
        /* "[TOOL_CALLS]" starts with '[' too: both are candidates */
        return 1;
    }
    for (size_t m = 0; m < sizeof MARKERS / sizeof MARKERS[0]; m++) {
        size_t ml = strlen(MARKERS[m]), n = RG_MIN(ml, len - i);
        if (!memcmp(text + i, MARKERS[m], n)) return n == ml ? 1 : -1;
    }
    return 0;
}

static void parse_bare(const char *text, size_t len, const char *id_prefix, const json_t *tools,
                       json_t *calls)
{
    size_t i = skip_ws(text, len, 0);
    for (size_t m = 0; m < sizeof MARKERS / sizeof MARKERS[0]; m++) {
        size_t ml = strlen(MARKERS[m]);
        if (len - i >= ml && !memcmp(text + i, MARKERS[m], ml)) i = skip_ws(text, len, i + ml);
    }
    json_error_t je;
    json_t *v = json_loadb(text + i, len - i, 0, &je);
    bool all = v != NULL;
    if (json_is_object(v)) {
        all = add_call(calls, v, id_prefix, tools, true);
    } else if (json_is_array(v) && json_array_size(v) > 0) {
        size_t k;
        json_t *o;
        json_array_foreach(v, k, o) all = all && add_call(calls, o, id_prefix, tools, true);
    } else {
        all = false;
    }
    if (!all) json_array_clear(calls); /* all of it is calls, or it is an answer */
    json_decref(v);
}

json_t *rg_tools_parse(const char *text, size_t len, const char *id_prefix, const json_t *tools)
{
    json_t *calls = json_array();
    if (!calls) return NULL;
    size_t pos = 0, ol = strlen(RG_TOOL_OPEN), cl = strlen(RG_TOOL_CLOSE);
    bool blocks = false;
    while (pos < len) {
        const char *open = NULL;
        for (size_t i = pos; i + ol <= len; i++)
            if (!memcmp(text + i, RG_TOOL_OPEN, ol)) {
                open = text + i;
                break;
            }
        if (!open) break;
        blocks = true;
        size_t body = (size_t)(open - text) + ol, end = len;
        for (size_t i = body; i + cl <= len; i++)
            if (!memcmp(text + i, RG_TOOL_CLOSE, cl)) {
                end = i;
                break;
            }
        json_error_t je;
        json_t *obj = json_loadb(text + body, end - body, 0, &je);
        add_call(calls, obj, id_prefix, tools, false);
        json_decref(obj);
        pos = end + cl;
    }
    if (!blocks) parse_bare(text, len, id_prefix, tools, calls);
    return calls;
}
