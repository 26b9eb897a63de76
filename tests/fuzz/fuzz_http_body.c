/*
 * Fuzz target for what the HTTP layer parses from a client: the request body
 * as JSON, and the header values it makes decisions on (Origin, Host,
 * Accept-Encoding, X-Request-Id-like paths through the router). Input layout:
 * the first byte picks the parser, the rest is the data.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned which = data[0] % 4;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    char err[RG_ERR_SIZE];
    if (which == 0) {
        json_t *j = rg_http_parse_json_body(p, n, err);
        if (j) {
            /* what a handler does next: read fields, re-encode */
            char *s = json_dumps(j, JSON_COMPACT);
            free(s);
            json_decref(j);
        }
        return 0;
    }
    char *str = malloc(n + 1);
    if (!str) return 0;
    memcpy(str, p, n);
    str[n] = '\0';
    if (which == 1) {
        const char *allowed[] = {"https://app.example", "http://dev.local:*"};
        (void)rg_http_origin_allowed(str, NULL, 0);
        (void)rg_http_origin_allowed(str, allowed, 2);
        (void)rg_http_host_is_loopback(str);
        (void)rg_http_accepts_gzip(str);
    } else if (which == 2) {
        struct rg_http_span names[4], values[4];
        size_t np;
        (void)rg_http_match("/v1/models/{id}", str, names, values, 4, &np);
        (void)rg_http_match("/a/{x}/b/{y}", str, names, values, 4, &np);
        (void)rg_http_match(str, "/v1/models/x", names, values, 4, &np);
    } else {
        size_t len;
        char *ev = rg_sse_format(n > 3 ? NULL : "e", str, n, &len);
        rg_free(ev);
        char *eb = rg_http_error_body(400, NULL, NULL, NULL, str);
        rg_free(eb);
    }
    free(str);
    return 0;
}
