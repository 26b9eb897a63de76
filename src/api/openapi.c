/*
 * /openapi.json is generated from the route table (pattern, methods, role,
 * flags, summary and the per-route JSON Schemas), so the description cannot
 * drift from what the server does.
 */
#include <ctype.h>
#include <string.h>

#include "api/api.h"
#include "common/alloc.h"

static const char ERROR_SCHEMA[] =
    "{\"type\":\"object\",\"required\":[\"error\"],\"properties\":{\"error\":{\"type\":\"object\","
    "\"required\":[\"message\",\"type\",\"param\",\"code\"],\"properties\":{"
    "\"message\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"},"
    "\"param\":{\"type\":[\"string\",\"null\"]},\"code\":{\"type\":[\"string\",\"null\"]}}}}}";

static json_t *schema(const char *text)
{
    if (!text) return NULL;
    json_error_t je;
    return json_loads(text, 0, &je);
}

static json_t *operation(const struct rg_route *rt, const char *method)
{
    json_t *op = json_object();
    if (!op) return NULL;
    char opid[160];
    size_t k = 0;
    for (const char *m = method; *m && k < sizeof opid - 1; m++)
        opid[k++] = (char)tolower((unsigned char)*m);
    for (const char *p = rt->pattern; *p && k < sizeof opid - 1; p++)
        opid[k++] = isalnum((unsigned char)*p) ? *p : '_';
    opid[k] = '\0';
    json_object_set_new(op, "operationId", json_string(opid));
    if (rt->summary) json_object_set_new(op, "summary", json_string(rt->summary));
    if (rt->tag) json_object_set_new(op, "tags", json_pack("[s]", rt->tag));

    /* path parameters from {name} segments */
    json_t *params = json_array();
    for (const char *p = strchr(rt->pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        if (!e) break;
        json_array_append_new(params, json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", p + 1,
                                                (size_t)(e - p - 1), "in", "path", "required", 1,
                                                "schema", "type", "string"));
    }
    if (json_array_size(params))
        json_object_set_new(op, "parameters", params);
    else
        json_decref(params);

    json_t *req = schema(rt->request_schema);
    if (req)
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b, s:{s:{s:o}}}", "required", 1, "content",
                                      "application/json", "schema", req));

    json_t *content = json_object();
    json_t *resp = schema(rt->response_schema);
    if (resp) {
        json_t *type = json_object_get(resp, "type");
        const char *ct = json_is_string(type) && !strcmp(json_string_value(type), "string")
                             ? "text/plain"
                             : "application/json";
        json_object_set_new(content, ct, json_pack("{s:o}", "schema", resp));
    }
    if (rt->flags & RG_ROUTE_STREAM)
        json_object_set_new(content, "text/event-stream",
                            json_pack("{s:{s:s, s:s}}", "schema", "type", "string", "description",
                                      "server-sent events, one JSON object per data line"));
    json_t *ok = json_pack("{s:s}", "description", "OK");
    if (json_object_size(content))
        json_object_set_new(ok, "content", content);
    else
        json_decref(content);
    json_object_set_new(op, "responses",
                        json_pack("{s:o, s:{s:s, s:{s:{s:{s:s}}}}}", "200", ok, "default",
                                  "description", "Error (OpenAI error format)", "content",
                                  "application/json", "schema", "$ref",
                                  "#/components/schemas/Error"));
    if (rt->role > RG_ROLE_PUBLIC || (rt->flags & RG_ROUTE_API_KEY))
        json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearerAuth"));
    return op;
}

json_t *rg_api_openapi(const struct rg_route *routes, size_t n, const char *version)
{
    static const struct {
        unsigned bit;
        const char *name, *lower;
    } methods[] = {{RG_HTTP_GET, "GET", "get"},
                   {RG_HTTP_POST, "POST", "post"},
                   {RG_HTTP_PUT, "PUT", "put"},
                   {RG_HTTP_PATCH, "PATCH", "patch"},
                   {RG_HTTP_DELETE, "DELETE", "delete"}};
    json_t *paths = json_object();
    if (!paths) return NULL;
    for (size_t i = 0; i < n; i++) {
        const struct rg_route *rt = &routes[i];
        if (rt->flags & RG_ROUTE_HIDDEN) continue;
        json_t *item = json_object_get(paths, rt->pattern);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, rt->pattern, item);
        }
        for (size_t m = 0; m < RG_ARRAY_LEN(methods); m++)
            if (rt->methods & methods[m].bit)
                json_object_set_new(item, methods[m].lower, operation(rt, methods[m].name));
    }
    json_t *doc = json_pack(
        "{s:s, s:{s:s, s:s, s:s}, s:[{s:s}], s:o, s:{s:{s:o}, s:{s:{s:s, s:s}}}}", "openapi",
        "3.1.0", "info", "title", "RustyGPT", "version", version, "description",
        "A private AI platform on your own machine: OpenAI-compatible API, accounts, chats.",
        "servers", "url", "/", "paths", paths, "components", "schemas", "Error",
        schema(ERROR_SCHEMA), "securitySchemes", "bearerAuth", "type", "http", "scheme", "bearer");
    return doc;
}
