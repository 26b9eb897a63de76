/*
 * The offline switch at run time: GET /admin/network reads it, PUT flips it
 * (admins only). The switch itself, and every outbound connection it
 * governs, is src/net/; this file only parses and replies.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"
#include "common/log.h"
#include "net/net.h"

static json_t *network_json(void)
{
    char last[64];
    return json_pack("{s:b, s:I, s:s}", "offline", rg_net_offline(), "refused",
                     (json_int_t)rg_net_refused(), "last_refused",
                     rg_net_last_refused(last, sizeof last));
}

static void network_get(struct rg_http_req *r, void *ctx)
{
    (void)ctx;
    rg_http_reply_json(r, 200, network_json());
}

static void network_put(struct rg_http_req *r, void *ctx)
{
    (void)ctx;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    json_t *off = json_object_get(body, "offline");
    if (!json_is_boolean(off)) {
        rg_http_reply_error(r, 400, NULL, NULL, "offline", "'offline' must be true or false");
        return;
    }
    bool was = rg_net_offline();
    rg_net_set_offline(json_is_true(off));
    if (was != json_is_true(off))
        rg_log(RG_LOG_WARN, json_is_true(off) ? "offline mode on" : "offline mode off", RG_LOG_END);
    rg_http_reply_json(r, 200, network_json());
}

#define NETWORK_SCHEMA                                                                             \
    "{\"type\":\"object\",\"properties\":{\"offline\":{\"type\":\"boolean\"},\"refused\":{"        \
    "\"type\":\"integer\",\"description\":\"outbound attempts refused since start\"},"             \
    "\"last_refused\":{\"type\":\"string\"}}}"

size_t rg_api_net_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const struct rg_route routes[] = {
        {RG_HTTP_GET, "/admin/network", network_get, st, RG_ROLE_ADMIN, 0, "admin",
         "Whether the server is offline (every outbound connection refused), and how many "
         "attempts it refused",
         NULL, NETWORK_SCHEMA},
        {RG_HTTP_PUT, "/admin/network", network_put, st, RG_ROLE_ADMIN, 0, "admin",
         "Switch offline mode on or off at run time: model pulls, GitHub and Apple sign-in and "
         "any URL fetch refuse with 503 offline while it is on",
         "{\"type\":\"object\",\"required\":[\"offline\"],\"properties\":{\"offline\":{\"type\":"
         "\"boolean\"}}}",
         NETWORK_SCHEMA},
    };
    size_t n = RG_ARRAY_LEN(routes) < max ? RG_ARRAY_LEN(routes) : max;
    memcpy(out, routes, n * sizeof *routes);
    return n;
}
