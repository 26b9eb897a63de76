/*
 * Pure decisions of the HTTP layer, kept apart from libmicrohttpd so they can
 * be unit-tested and fuzzed: path matching, CORS origins, the loopback Host
 * check, gzip, SSE framing and the OpenAI error body.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/str.h"
#include "http/http.h"

bool rg_http_match(const char *pattern, const char *path, struct rg_http_span *names,
                   struct rg_http_span *values, size_t max, size_t *n_params)
{
    size_t n = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/') return false;
        p++, s++;
        const char *pe = strchr(p, '/');
        const char *se = strchr(s, '/');
        size_t plen = pe ? (size_t)(pe - p) : strlen(p);
        size_t slen = se ? (size_t)(se - s) : strlen(s);
        if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
            if (slen == 0) return false; /* a parameter is never empty */
            if (n < max) {
                if (names) names[n] = (struct rg_http_span){p + 1, plen - 2};
                if (values) values[n] = (struct rg_http_span){s, slen};
            }
            n++;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return false;
        }
        p += plen, s += slen;
    }
    if (*p || *s) return false;
    if (n > max) return false;
    if (n_params) *n_params = n;
    return true;
}

/* host[:port] or [v6][:port] → the host part, for comparison. */
static bool split_host(const char *h, size_t len, const char **host, size_t *hlen)
{
    if (len == 0) return false;
    if (h[0] == '[') {
        const char *close = memchr(h, ']', len);
        if (!close) return false;
        *host = h;
        *hlen = (size_t)(close - h) + 1;
    } else {
        const char *colon = memchr(h, ':', len);
        *host = h;
        *hlen = colon ? (size_t)(colon - h) : len;
    }
    const char *rest = *host + *hlen;
    size_t rlen = len - *hlen;
    if (rlen == 0) return true;
    if (rest[0] != ':' || rlen == 1 || rlen > 6) return false;
    for (size_t i = 1; i < rlen; i++)
        if (!isdigit((unsigned char)rest[i])) return false;
    return true;
}

static bool name_is_loopback(const char *h, size_t n)
{
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]", "localhost."};
    for (size_t i = 0; i < RG_ARRAY_LEN(names); i++)
        if (strlen(names[i]) == n && strncasecmp(h, names[i], n) == 0) return true;
    return false;
}

bool rg_http_host_is_loopback(const char *host)
{
    if (!host) return false;
    const char *h;
    size_t n;
    if (!split_host(host, strlen(host), &h, &n)) return false;
    return name_is_loopback(h, n);
}

bool rg_http_bind_is_loopback(const char *bind)
{
    if (!bind) return false;
    return !strcmp(bind, "127.0.0.1") || !strcmp(bind, "::1") || !strcmp(bind, "localhost") ||
           rg_str_starts_with(bind, "127.");
}

bool rg_http_origin_allowed(const char *origin, const char *const *allowed, size_t n)
{
    if (!origin) return true; /* not a cross-origin browser request */
    if (n == 0) {
        const char *rest;
        if (rg_str_starts_with(origin, "http://"))
            rest = origin + 7;
        else if (rg_str_starts_with(origin, "https://"))
            rest = origin + 8;
        else
            return false;
        const char *h;
        size_t hl;
        if (!split_host(rest, strlen(rest), &h, &hl)) return false;
        return name_is_loopback(h, hl);
    }
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(allowed[i], "*")) return true;
        size_t al = strlen(allowed[i]);
        /* "http://host:*" allows any port of that host */
        if (al > 2 && !strcmp(allowed[i] + al - 2, ":*")) {
            size_t base = al - 2;
            if (!strncasecmp(origin, allowed[i], base) &&
                (origin[base] == '\0' || origin[base] == ':')) {
                const char *port = origin + base;
                bool digits = true;
                for (const char *c = port + (*port == ':'); *c; c++)
                    if (!isdigit((unsigned char)*c)) digits = false;
                if (digits) return true;
            }
            continue;
        }
        if (!strcasecmp(origin, allowed[i])) return true;
    }
    return false;
}

bool rg_http_accepts_gzip(const char *ae)
{
    if (!ae) return false;
    const char *p = ae;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *tok = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ')
            p++;
        size_t tl = (size_t)(p - tok);
        bool is_gzip = (tl == 4 && !strncasecmp(tok, "gzip", 4)) || (tl == 1 && tok[0] == '*');
        double q = 1.0;
        while (*p && *p != ',') {
            if (*p == ';') {
                p++;
                while (*p == ' ')
                    p++;
                if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') q = strtod(p + 2, NULL);
            } else {
                p++;
            }
        }
        if (is_gzip && q > 0.0) return true;
    }
    return false;
}

int rg_http_gzip(const void *in, size_t len, void **out, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return RG_ENOMEM;
    uLong bound = deflateBound(&z, (uLong)len);
    unsigned char *buf = rg_malloc(bound);
    if (!buf) {
        deflateEnd(&z);
        return RG_ENOMEM;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    size_t n = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        rg_free(buf);
        return RG_EINTERNAL;
    }
    *out = buf;
    *out_len = n;
    return RG_OK;
}

char *rg_sse_format(const char *event, const char *data, size_t len, size_t *out_len)
{
    struct rg_buf b;
    rg_buf_init(&b, SIZE_MAX);
    int rc = RG_OK;
    if (event) rc = rg_buf_printf(&b, "event: %s\n", event);
    /* Each line of data becomes its own "data:" line (CR, LF and CRLF all end
     * a line in SSE), so a line break in the payload can never end the event
     * early or start a field the client would drop. */
    size_t i = 0;
    for (;;) {
        size_t end = i;
        while (end < len && data[end] != '\n' && data[end] != '\r')
            end++;
        if (rc == RG_OK) rc = rg_buf_append_str(&b, "data: ");
        if (rc == RG_OK) rc = rg_buf_append(&b, data + i, end - i);
        if (rc == RG_OK) rc = rg_buf_append_char(&b, '\n');
        if (end >= len || rc != RG_OK) break;
        i = end + 1;
        if (data[end] == '\r' && i < len && data[i] == '\n') i++;
    }
    if (rc == RG_OK) rc = rg_buf_append_char(&b, '\n');
    if (rc != RG_OK) {
        rg_buf_free(&b);
        return NULL;
    }
    *out_len = b.len;
    return rg_buf_steal(&b);
}

/* A copy with each byte that is not part of valid UTF-8 replaced by '?', so
 * that echoing client input into an error message always gives valid JSON. */
static char *sanitize_utf8(const char *s)
{
    size_t n = strlen(s);
    char *out = rg_strndup(s, n);
    if (!out) return NULL;
    size_t i = 0;
    while (i < n) {
        i += rg_utf8_valid_prefix(out + i, n - i);
        if (i < n) out[i++] = '?';
    }
    return out;
}

static const char *default_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

char *rg_http_error_body(int status, const char *type, const char *code, const char *param,
                         const char *message)
{
    char *msg = sanitize_utf8(message ? message : "");
    if (!msg) return NULL;
    json_t *e = json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", msg, "type",
                          type ? type : default_type(status), "param",
                          param ? json_string(param) : json_null(), "code",
                          code ? json_string(code) : json_null());
    rg_free(msg);
    if (!e) return NULL;
    char *s = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    if (!s) return NULL;
    char *r = rg_strdup(s);
    free(s);
    return r;
}

json_t *rg_http_parse_json_body(const char *body, size_t len, char *err)
{
    if (!body || len == 0) {
        rg_err_set(err, RG_EFORMAT, "the request body is empty; expected a JSON object");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        rg_err_set(err, RG_EFORMAT, "the request body is not valid JSON: %s (line %d, column %d)",
                   je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        rg_err_set(err, RG_EFORMAT, "the request body must be a JSON object");
        return NULL;
    }
    return j;
}
