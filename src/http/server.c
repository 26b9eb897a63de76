/*
 * HTTP server on libmicrohttpd (see http.h for the request chain).
 *
 * Slow clients (slowloris): MHD's own timeout is an idle timeout, which a
 * client defeats by sending a header line every few seconds. So each TCP
 * connection also carries a deadline for the headers of the request it is
 * sending (set when it connects or starts a request, cleared when the headers
 * are complete), and a watchdog thread shuts down the socket of any connection
 * past its deadline. MHD limits connections per address and in all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/str.h"
#include "http/http.h"
#include "http/metrics.h"
#include "http/server_internal.h"

/* ---- request ids ---- */

static atomic_ullong id_counter;
static unsigned int id_prefix;
static pthread_once_t id_once = PTHREAD_ONCE_INIT;

static void id_init(void)
{
    if (getrandom(&id_prefix, sizeof id_prefix, 0) != (ssize_t)sizeof id_prefix)
        id_prefix = (unsigned)time(NULL) ^ (unsigned)getpid();
}

static bool id_is_sane(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == ':';
        if (!ok || n >= 64) return false;
    }
    return n > 0;
}

static void make_id(struct rg_http_req *r)
{
    const char *given = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id");
    if (given && id_is_sane(given)) {
        snprintf(r->id, sizeof r->id, "%s", given);
        return;
    }
    pthread_once(&id_once, id_init);
    snprintf(r->id, sizeof r->id, "req-%08x%010llx", id_prefix,
             (unsigned long long)atomic_fetch_add(&id_counter, 1) + 1);
}

/* ---- method names ---- */

static const struct {
    const char *name;
    enum rg_http_method m;
} METHODS[] = {
    {"GET", RG_HTTP_GET},         {"HEAD", RG_HTTP_HEAD},   {"POST", RG_HTTP_POST},
    {"PUT", RG_HTTP_PUT},         {"PATCH", RG_HTTP_PATCH}, {"DELETE", RG_HTTP_DELETE},
    {"OPTIONS", RG_HTTP_OPTIONS},
};

static enum rg_http_method parse_method(const char *s)
{
    for (size_t i = 0; i < RG_ARRAY_LEN(METHODS); i++)
        if (!strcmp(s, METHODS[i].name)) return METHODS[i].m;
    return 0;
}

static void allow_header(unsigned methods, char *buf, size_t n)
{
    buf[0] = '\0';
    if (methods & RG_HTTP_GET) methods |= RG_HTTP_HEAD;
    methods |= RG_HTTP_OPTIONS;
    size_t used = 0;
    for (size_t i = 0; i < RG_ARRAY_LEN(METHODS); i++) {
        if (!(methods & METHODS[i].m)) continue;
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", METHODS[i].name);
        if (w < 0 || (size_t)w >= n - used) break;
        used += (size_t)w;
    }
}

/* ---- replies ---- */

void rg_http_set_header(struct rg_http_req *r, const char *name, const char *value)
{
    if (r->n_extra >= MAX_EXTRA_HEADERS) return;
    char *n = rg_strdup(name), *v = rg_strdup(value);
    if (!n || !v) {
        rg_free(n);
        rg_free(v);
        return;
    }
    r->extra[r->n_extra++] = (struct header){n, v};
}

static void add_common_headers(struct rg_http_req *r, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    if (r->origin && rg_http_origin_allowed(r->origin, r->srv->o.cors_origins, r->srv->o.n_cors)) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Request-Id");
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    for (size_t i = 0; i < r->n_extra; i++)
        MHD_add_response_header(resp, r->extra[i].name, r->extra[i].value);
}

void rg_http_queue(struct rg_http_req *r, int status, struct MHD_Response *resp, size_t bytes)
{
    if (!resp) {
        r->status = 500;
        r->phase = 2;
        return;
    }
    add_common_headers(r, resp);
    if (MHD_queue_response(r->conn, (unsigned)status, resp) != MHD_YES)
        rg_log(RG_LOG_WARN, "could not queue a reply", "id", 's', r->id, "status", 'i',
               (long long)status, RG_LOG_END);
    MHD_destroy_response(resp);
    r->status = status;
    r->bytes = bytes;
    r->phase = 2;
}

static bool compressible(const char *ct)
{
    return ct && (rg_str_starts_with(ct, "application/json") || rg_str_starts_with(ct, "text/") ||
                  rg_str_starts_with(ct, "application/javascript"));
}

void rg_http_reply(struct rg_http_req *r, int status, const char *content_type, const void *body,
                   size_t len)
{
    if (r->phase == 2) return; /* one reply per request */
    size_t gzip_min = r->srv->o.gzip_min ? r->srv->o.gzip_min : 1024;
    struct MHD_Response *resp = NULL;
    bool gz = false;
    if (len >= gzip_min && compressible(content_type) &&
        rg_http_accepts_gzip(
            MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Accept-Encoding"))) {
        void *z;
        size_t zl;
        if (rg_http_gzip(body, len, &z, &zl) == RG_OK) {
            resp = MHD_create_response_from_buffer(zl, z, MHD_RESPMEM_MUST_COPY);
            rg_free(z);
            gz = resp != NULL;
            if (gz) len = zl;
        }
    }
    if (!resp)
        resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (resp) {
        if (content_type) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        if (gz) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
        if (len >= gzip_min && compressible(content_type))
            MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    }
    rg_http_queue(r, status, resp, len);
}

void rg_http_reply_json(struct rg_http_req *r, int status, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!s) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "could not encode the reply");
        return;
    }
    rg_http_reply(r, status, "application/json", s, strlen(s));
    free(s);
}

void rg_http_reply_error(struct rg_http_req *r, int status, const char *type, const char *code,
                         const char *param, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->plain_errors) {
        json_t *e = json_pack("{s:s}", "error", msg);
        if (e) {
            rg_http_reply_json(r, status, e);
            return;
        }
    }
    char *body = rg_http_error_body(status, type, code, param, msg);
    if (!body) {
        static const char fallback[] =
            "{\"error\":{\"message\":\"out of "
            "memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}";
        rg_http_reply(r, status, "application/json", fallback, sizeof fallback - 1);
        return;
    }
    rg_http_reply(r, status, "application/json", body, strlen(body));
    rg_free(body);
}

void rg_http_req_plain_errors(struct rg_http_req *r)
{
    r->plain_errors = true;
}

/* ---- request accessors ---- */

enum rg_http_method rg_http_req_method(const struct rg_http_req *r)
{
    return r->method;
}
const char *rg_http_req_path(const struct rg_http_req *r)
{
    return r->path;
}
const char *rg_http_req_id(const struct rg_http_req *r)
{
    return r->id;
}
const struct rg_principal *rg_http_req_principal(const struct rg_http_req *r)
{
    return &r->who;
}
struct rg_http_server *rg_http_req_server(const struct rg_http_req *r)
{
    return r->srv;
}

const char *rg_http_req_header(const struct rg_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *rg_http_req_cookie(const struct rg_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

const char *rg_http_req_bearer(const struct rg_http_req *r)
{
    const char *h =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

const char *rg_http_req_client_addr(const struct rg_http_req *r, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    buf[0] = '\0';
    if (!ci || !ci->client_addr) return buf;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)size);
    return buf;
}

const char *rg_http_req_query(const struct rg_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *rg_http_req_param(const struct rg_http_req *r, const char *name)
{
    for (size_t i = 0; i < r->n_params; i++)
        if (!strcmp(r->params[2 * i], name)) return r->params[2 * i + 1];
    return NULL;
}

const char *rg_http_req_body(const struct rg_http_req *r, size_t *len)
{
    if (len) *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

json_t *rg_http_req_json(struct rg_http_req *r)
{
    if (r->json) return r->json;
    char msg[RG_ERR_SIZE];
    json_t *j = rg_http_parse_json_body(r->body.data, r->body.len, msg);
    if (!j) {
        rg_http_reply_error(r, 400, NULL, "invalid_json", NULL, "%s", msg);
        return NULL;
    }
    r->json = j;
    return j;
}

void rg_http_req_log_model(struct rg_http_req *r, const char *model, bool stream,
                           long prompt_tokens, long completion_tokens)
{
    snprintf(r->model, sizeof r->model, "%s", model ? model : "");
    r->stream = stream;
    r->prompt_tokens = prompt_tokens;
    r->completion_tokens = completion_tokens;
}

/* ---- access log ---- */

void rg_http_access_log(bool quiet, bool no_log, const char *id, const char *method,
                        const char *path, int status, double secs, size_t bytes, const char *model,
                        bool stream, long pt, long ct)
{
    if (quiet || no_log || !rg_log_enabled(RG_LOG_INFO)) return;
    if (model && model[0])
        rg_log(RG_LOG_INFO, "request", "id", 's', id, "method", 's', method, "path", 's', path,
               "status", 'i', (long long)status, "ms", 'f', secs * 1000.0, "bytes", 'u',
               (unsigned long long)bytes, "model", 's', model, "stream", 'b', (int)stream,
               "prompt_tokens", 'i', (long long)pt, "completion_tokens", 'i', (long long)ct,
               RG_LOG_END);
    else
        rg_log(RG_LOG_INFO, "request", "id", 's', id, "method", 's', method, "path", 's', path,
               "status", 'i', (long long)status, "ms", 'f', secs * 1000.0, "bytes", 'u',
               (unsigned long long)bytes, RG_LOG_END);
}

/* ---- the chain ---- */

/* Is the bearer one of the --api-key keys? Then the caller is a user. */
static void match_api_key(struct rg_http_req *r)
{
    const struct rg_http_opts *o = &r->srv->o;
    const char *key = rg_http_req_bearer(r);
    if (o->n_api_keys == 0 || !key) return;
    bool ok = false;
    for (size_t i = 0; i < o->n_api_keys; i++) /* no early exit: same time for every key */
        ok |= rg_ct_equal(key, strlen(key), o->api_keys[i], strlen(o->api_keys[i]));
    if (ok) {
        if (r->who.role < RG_ROLE_USER) r->who.role = RG_ROLE_USER;
        snprintf(r->who.id, sizeof r->who.id, "api-key");
    }
}

/* The peer is on this machine: 127.0.0.0/8, ::1 or ::ffff:127.x.x.x. */
static bool peer_is_loopback(const struct rg_http_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return false;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family != AF_INET6) return false;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

/* With --api-key set, RG_ROUTE_API_KEY routes need a key: a configured one
 * or any credential the auth hook accepted (an account's API key).
 * Discovery routes may be open to loopback peers or to all (o->discovery). */
static bool check_api_key(struct rg_http_req *r)
{
    const struct rg_http_opts *o = &r->srv->o;
    if (o->n_api_keys == 0 || !(r->route->flags & RG_ROUTE_API_KEY)) return true;
    if (r->who.role > RG_ROLE_PUBLIC) return true;
    if (r->route->flags & RG_ROUTE_DISCOVERY) {
        if (o->discovery == RG_HTTP_DISCOVERY_OPEN) return true;
        if (o->discovery == RG_HTTP_DISCOVERY_LOOPBACK && peer_is_loopback(r)) return true;
    }
    const char *h =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    rg_http_set_header(r, "WWW-Authenticate", "Bearer");
    rg_http_reply_error(r, 401, NULL, "invalid_api_key", NULL,
                        h ? "invalid API key"
                          : "missing API key: send 'Authorization: Bearer KEY'");
    return false;
}

static void preflight(struct rg_http_req *r, unsigned methods)
{
    if (!rg_http_origin_allowed(r->origin, r->srv->o.cors_origins, r->srv->o.n_cors)) {
        rg_http_reply_error(r, 403, NULL, "cors_origin_denied", NULL, "origin %s is not allowed",
                            r->origin);
        return;
    }
    char allow[96];
    allow_header(methods, allow, sizeof allow);
    rg_http_set_header(r, "Access-Control-Allow-Methods", allow);
    const char *req_headers =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
    /* Echo what the browser asks for when it is a plain list of header names. */
    bool sane = req_headers && strlen(req_headers) < 512;
    for (const char *c = req_headers; sane && *c; c++)
        if (!(*c == ',' || *c == ' ' || *c == '-' || (*c >= 'a' && *c <= 'z') ||
              (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
            sane = false;
    rg_http_set_header(r, "Access-Control-Allow-Headers",
                       sane ? req_headers : "Authorization, Content-Type, X-Request-Id");
    rg_http_set_header(r, "Access-Control-Max-Age", "600");
    rg_http_reply(r, 204, NULL, "", 0);
}

/* Host check, CORS, routing, size limit: decided on the first call. */
static void first_call(struct rg_http_req *r, const char *url, const char *method)
{
    struct rg_http_server *srv = r->srv;
    r->path = url;
    snprintf(r->method_str, sizeof r->method_str, "%s", parse_method(method) ? method : "OTHER");
    r->method = parse_method(method);
    make_id(r);
    r->origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");

    if (srv->loopback) {
        const char *host =
            MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
        if (host && !rg_http_host_is_loopback(host)) {
            rg_http_reply_error(
                r, 403, NULL, "host_denied", NULL,
                "Host '%.100s' is not a loopback name; this server only answers requests "
                "addressed to localhost",
                host);
            return;
        }
    }
    if (r->origin && !rg_http_origin_allowed(r->origin, srv->o.cors_origins, srv->o.n_cors)) {
        rg_http_reply_error(r, 403, NULL, "cors_origin_denied", NULL,
                            "origin %.100s is not allowed (see --cors-origin)", r->origin);
        return;
    }
    unsigned path_methods = 0;
    const struct rg_route *match = NULL;
    struct rg_http_span names[MAX_PARAMS], values[MAX_PARAMS];
    size_t np = 0;
    for (size_t i = 0; i < srv->n_routes; i++) {
        const struct rg_route *rt = &srv->routes[i];
        size_t n;
        struct rg_http_span nm[MAX_PARAMS], vl[MAX_PARAMS];
        if (!rg_http_match(rt->pattern, url, nm, vl, MAX_PARAMS, &n)) continue;
        path_methods |= rt->methods;
        unsigned want = r->method == RG_HTTP_HEAD ? (RG_HTTP_HEAD | RG_HTTP_GET) : r->method;
        if (!match && (rt->methods & want)) {
            match = rt;
            np = n;
            memcpy(names, nm, n * sizeof *nm);
            memcpy(values, vl, n * sizeof *vl);
        }
    }
    if (r->method == RG_HTTP_OPTIONS && path_methods && !(path_methods & RG_HTTP_OPTIONS)) {
        if (r->origin && MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                     "Access-Control-Request-Method")) {
            preflight(r, path_methods);
        } else {
            char allow[96];
            allow_header(path_methods, allow, sizeof allow);
            rg_http_set_header(r, "Allow", allow);
            rg_http_reply(r, 204, NULL, "", 0);
        }
        return;
    }
    if (!match) {
        if (path_methods) {
            char allow[96];
            allow_header(path_methods, allow, sizeof allow);
            rg_http_set_header(r, "Allow", allow);
            rg_http_reply_error(r, 405, NULL, "method_not_allowed", NULL,
                                "method %s is not allowed on %.200s", r->method_str, url);
        } else {
            rg_http_reply_error(r, 404, NULL, "not_found", NULL, "no route for %s %.200s",
                                r->method_str, url);
        }
        return;
    }
    r->route = match;
    r->no_log = (match->flags & RG_ROUTE_NO_LOG) != 0;
    for (size_t i = 0; i < np; i++) {
        r->params[2 * i] = rg_strndup(names[i].p, names[i].n);
        r->params[2 * i + 1] = rg_strndup(values[i].p, values[i].n);
        r->n_params = i + 1;
        if (!r->params[2 * i] || !r->params[2 * i + 1]) {
            rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
            return;
        }
    }
    const char *cl =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t len;
    if (cl && rg_parse_i64(cl, 0, INT64_MAX, &len) == RG_OK && (uint64_t)len > srv->o.max_body) {
        rg_http_reply_error(
            r, 413, NULL, "request_too_large", NULL,
            "request body of %lld bytes is larger than the limit of %zu bytes (--max-body)",
            (long long)len, srv->o.max_body);
        return;
    }
    rg_buf_init(&r->body, srv->o.max_body);
    r->phase = 1;
}

static void dispatch(struct rg_http_req *r)
{
    struct rg_http_server *srv = r->srv;
    match_api_key(r);
    if (srv->auth && r->who.role == RG_ROLE_PUBLIC) {
        int rc = srv->auth(r, srv->auth_ctx, &r->who);
        if (rc != RG_OK) {
            if (r->phase != 2)
                rg_http_reply_error(r, 401, NULL, "invalid_credentials", NULL,
                                    "invalid or expired credentials");
            return;
        }
    }
    if (!check_api_key(r)) return;
    if (r->who.role < r->route->role) {
        if (r->who.role == RG_ROLE_PUBLIC)
            rg_http_reply_error(r, 401, NULL, "unauthenticated", NULL, "sign in first");
        else
            rg_http_reply_error(r, 403, NULL, "forbidden", NULL, "your role may not do this");
        return;
    }
    r->route->fn(r, r->route->ctx);
    if (r->phase != 2) rg_http_reply_error(r, 500, NULL, NULL, NULL, "the handler gave no reply");
}

/* ---- header deadlines ---- */

enum deadline_event {
    DEADLINE_REQUEST_LINE,  /* a request has started: its headers are due */
    DEADLINE_HEADERS_DONE,  /* they are complete: body and reply have the idle timeout */
    DEADLINE_REQUEST_ENDED, /* keep-alive: the next request may come within the idle timeout */
};

static void conn_deadline(struct rg_http_server *srv, struct MHD_Connection *conn,
                          enum deadline_event ev)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_rec *c = ci ? ci->socket_context : NULL;
    if (!c) return;
    double now = now_s(), hdr = now + srv->o.header_timeout;
    pthread_mutex_lock(&srv->conns_lock);
    if (ev == DEADLINE_REQUEST_LINE)
        c->deadline = c->deadline > 0 && c->deadline < hdr ? c->deadline : hdr;
    else if (ev == DEADLINE_HEADERS_DONE)
        c->deadline = 0;
    else
        c->deadline = hdr + srv->o.timeout;
    pthread_mutex_unlock(&srv->conns_lock);
}

/* MHD_OPTION_NOTIFY_CONNECTION: a connection's record lives from accept to
 * close. The fd stays open until after CLOSED returns, so the watchdog (which
 * only touches records under the lock) never shuts down a reused fd. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct rg_http_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn_rec *c = ci ? rg_calloc(1, sizeof *c) : NULL;
        *socket_context = c;
        if (!c) return; /* out of memory: this connection has the idle timeout only */
        c->fd = ci->connect_fd;
        c->deadline = now_s() + srv->o.header_timeout;
        pthread_mutex_lock(&srv->conns_lock);
        c->next = srv->conns;
        if (srv->conns) srv->conns->prev = c;
        srv->conns = c;
        pthread_mutex_unlock(&srv->conns_lock);
        return;
    }
    struct conn_rec *c = *socket_context;
    *socket_context = NULL;
    if (!c) return;
    pthread_mutex_lock(&srv->conns_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    pthread_mutex_unlock(&srv->conns_lock);
    rg_free(c);
}

/* Shuts down the socket of each connection past its header deadline; MHD
 * then sees the end of the stream and closes the connection itself. */
static void *watchdog_main(void *arg)
{
    struct rg_http_server *srv = arg;
    pthread_mutex_lock(&srv->conns_lock);
    while (!srv->watchdog_stop) {
        double now = now_s();
        int n = 0;
        for (struct conn_rec *c = srv->conns; c; c = c->next)
            if (c->deadline > 0 && now > c->deadline) {
                shutdown(c->fd, SHUT_RDWR);
                c->deadline = 0;
                n++;
            }
        if (n > 0)
            rg_log(RG_LOG_INFO, "slow clients closed: request headers not complete in time",
                   "count", 'i', (long long)n, "header_timeout_s", 'i',
                   (long long)srv->o.header_timeout, RG_LOG_END);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv->watchdog_cv, &srv->conns_lock, &ts);
    }
    pthread_mutex_unlock(&srv->conns_lock);
    return NULL;
}

static void watchdog_stop(struct rg_http_server *s)
{
    if (!s->watchdog_started) return;
    pthread_mutex_lock(&s->conns_lock);
    s->watchdog_stop = true;
    pthread_cond_signal(&s->watchdog_cv);
    pthread_mutex_unlock(&s->conns_lock);
    pthread_join(s->watchdog, NULL);
    s->watchdog_started = false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct rg_http_req *r = *con_cls;
    if (!r) return MHD_NO; /* out of memory in on_start */
    r->srv = cls;
    r->conn = conn;
    if (r->phase == 0) {
        conn_deadline(r->srv, conn, DEADLINE_HEADERS_DONE);
        first_call(r, url, method);
        return MHD_YES;
    }
    if (r->phase == 2) {
        *upload_data_size = 0; /* already answered (e.g. 413): drop the rest */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->too_big) {
            /* MHD cannot reply in the middle of a body, so the rest is read
             * and dropped; a body that goes on far past the limit gets the
             * connection closed instead. */
            r->discarded += n;
            return r->discarded > RG_MAX(r->srv->o.max_body, (size_t)1 << 20) ? MHD_NO : MHD_YES;
        }
        int rc = rg_buf_append(&r->body, upload_data, n);
        if (rc == RG_ETOOBIG) {
            r->too_big = true;
            rg_buf_free(&r->body);
        } else if (rc != RG_OK) {
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (r->too_big) {
        rg_http_reply_error(r, 413, NULL, "request_too_large", NULL,
                            "request body is larger than the limit of %zu bytes (--max-body)",
                            r->srv->o.max_body);
        return MHD_YES;
    }
    dispatch(r);
    return MHD_YES;
}

static void *on_start(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)uri;
    conn_deadline(cls, conn, DEADLINE_REQUEST_LINE);
    struct rg_http_req *r = rg_calloc(1, sizeof *r);
    if (r) {
        r->t0 = now_s();
        r->srv = cls;
    }
    return r;
}

static void req_free(struct rg_http_req *r)
{
    for (size_t i = 0; i < 2 * r->n_params; i++)
        rg_free(r->params[i]);
    for (size_t i = 0; i < r->n_extra; i++) {
        rg_free(r->extra[i].name);
        rg_free(r->extra[i].value);
    }
    rg_buf_free(&r->body);
    json_decref(r->json);
    rg_free(r);
}

static void on_complete(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    conn_deadline(cls, conn, DEADLINE_REQUEST_ENDED);
    struct rg_http_req *r = *con_cls;
    *con_cls = NULL;
    if (!r) return;
    if (r->sse) {
        /* The stream's own release writes its log line with the final counts. */
        struct rg_sse *s = r->sse;
        pthread_mutex_lock(&s->lock);
        s->conn = NULL;
        s->suspended = false;
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) s->closed = true;
        if (!s->model[0] && r->model[0]) snprintf(s->model, sizeof s->model, "%s", r->model);
        pthread_mutex_unlock(&s->lock);
    } else if (r->srv && r->phase == 2) {
        double secs = now_s() - r->t0;
        const char *route = r->route ? r->route->pattern : "unmatched";
        rg_metrics_observe_request(r->method_str, route, r->status, secs);
        rg_http_access_log(r->srv->o.quiet_access_log, r->no_log, r->id, r->method_str,
                           r->path ? r->path : "?", r->status, secs, r->bytes, r->model, r->stream,
                           r->prompt_tokens, r->completion_tokens);
    }
    req_free(r);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    rg_log(RG_LOG_DEBUG, "libmicrohttpd", "detail", 's', msg, RG_LOG_END);
}

/* ---- lifecycle ---- */

struct rg_http_server *rg_http_server_new(const struct rg_http_opts *opts,
                                          const struct rg_route *routes, size_t n_routes, char *err)
{
    struct rg_http_server *s = rg_calloc(1, sizeof *s);
    if (!s) {
        rg_err_set(err, RG_ENOMEM, "out of memory");
        return NULL;
    }
    s->o = *opts;
    if (!s->o.host) s->o.host = "127.0.0.1";
    if (!s->o.max_body) s->o.max_body = 8u << 20;
    if (s->o.max_connections <= 0) s->o.max_connections = 256;
    if (s->o.timeout <= 0) s->o.timeout = 60;
    if (s->o.header_timeout <= 0) s->o.header_timeout = 15;
    if (s->o.max_connections_per_ip < 0) s->o.max_connections_per_ip = 0;
    s->listen_fd = -1;
    s->routes = rg_malloc_array(n_routes ? n_routes : 1, sizeof *routes);
    if (!s->routes) {
        rg_free(s);
        rg_err_set(err, RG_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n_routes; i++) {
        if (routes[i].pattern[0] != '/' || !routes[i].fn || !routes[i].methods) {
            rg_err_set(err, RG_EINVAL, "route %zu (%s) is malformed", i, routes[i].pattern);
            rg_free(s->routes);
            rg_free(s);
            return NULL;
        }
    }
    memcpy(s->routes, routes, n_routes * sizeof *routes);
    s->n_routes = n_routes;
    s->loopback = rg_http_bind_is_loopback(s->o.host);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->conns_lock, NULL);
    pthread_cond_init(&s->watchdog_cv, NULL);
    return s;
}

void rg_http_server_set_auth(struct rg_http_server *s, rg_http_auth_fn fn, void *ctx)
{
    s->auth = fn;
    s->auth_ctx = ctx;
}

const struct rg_route *rg_http_server_routes(const struct rg_http_server *s, size_t *n)
{
    *n = s->n_routes;
    return s->routes;
}

int rg_http_server_port(const struct rg_http_server *s)
{
    return s->port;
}

/* Binds the listening socket ourselves so that failures have a clear errno. */
static int bind_socket(struct rg_http_server *s, char *err)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", s->o.port);
    int gai = getaddrinfo(s->o.host, port, &hints, &ai);
    if (gai != 0)
        return rg_err_set(err, RG_EIO, "cannot resolve --host %s: %s", s->o.host,
                          gai_strerror(gai));
    int fd = -1, last_errno = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 1024) == 0) break;
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return rg_err_set(err, RG_EIO, "cannot listen on %s:%d: %s", s->o.host, s->o.port,
                          strerror(last_errno));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    s->listen_fd = fd;
    return RG_OK;
}

int rg_http_server_start(struct rg_http_server *s, char *err)
{
    int rc = bind_socket(s, err);
    if (rc != RG_OK) return rc;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = s->o.threads > 0 ? (unsigned)s->o.threads : (unsigned)(ncpu > 0 ? ncpu : 1);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET,
                            s->listen_fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.max_connections,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                            (unsigned)s->o.max_connections_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)s->o.timeout, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_URI_LOG_CALLBACK, on_start, s, MHD_OPTION_NOTIFY_COMPLETED,
                            on_complete, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!s->d) {
        close(s->listen_fd);
        s->listen_fd = -1;
        return rg_err_set(err, RG_EIO, "cannot start the HTTP server on %s:%d", s->o.host, s->port);
    }
    s->watchdog_stop = false;
    if (pthread_create(&s->watchdog, NULL, watchdog_main, s) != 0) {
        MHD_stop_daemon(s->d); /* closes the listening socket it was given */
        s->d = NULL;
        s->listen_fd = -1;
        return rg_err_set(err, RG_EIO, "cannot start the HTTP server's watchdog thread");
    }
    s->watchdog_started = true;
    return RG_OK;
}

void rg_http_server_stop(struct rg_http_server *s, int grace_s)
{
    if (!s) return;
    if (s->d) {
        /* 1. stop accepting */
        int fd = MHD_quiesce_daemon(s->d);
        if (fd >= 0) close(fd);
        s->listen_fd = -1;
        /* 2. let running streams finish */
        double deadline = now_s() + (grace_s > 0 ? grace_s : 0);
        while (atomic_load(&s->n_streams) > 0 && now_s() < deadline) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        /* 3. cancel the rest: producers see rg_sse_closed(), parked connections
         * wake up and end */
        atomic_store(&s->stopping, true);
        pthread_mutex_lock(&s->lock);
        for (struct rg_sse *x = s->streams; x; x = x->next) {
            pthread_mutex_lock(&x->lock);
            x->closed = true;
            rg_http_sse_wake(x);
            pthread_mutex_unlock(&x->lock);
        }
        pthread_mutex_unlock(&s->lock);
        /* MHD resumes parked connections on its own threads: wait until each
         * stream's connection has completed before stopping the daemon. */
        double hard = now_s() + 2.0;
        for (;;) {
            bool parked = false;
            pthread_mutex_lock(&s->lock);
            for (struct rg_sse *x = s->streams; x; x = x->next) {
                pthread_mutex_lock(&x->lock);
                parked |= x->conn != NULL;
                pthread_mutex_unlock(&x->lock);
            }
            pthread_mutex_unlock(&s->lock);
            if (!parked || now_s() > hard) break;
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        MHD_stop_daemon(s->d);
        s->d = NULL;
        watchdog_stop(s);
        /* 4. producers notice rg_sse_closed() at their next event and end
         * their streams; give them a moment so the server can be freed */
        double ended = now_s() + 2.0;
        while (atomic_load(&s->n_streams) > 0 && now_s() < ended) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    } else if (s->listen_fd >= 0) {
        close(s->listen_fd);
    }
    /* Streams whose producers have not called rg_sse_end() yet keep their
     * memory until they do; they only touch their own struct and srv->lock,
     * so the server struct stays alive while any remain. */
    if (atomic_load(&s->n_streams) > 0) return; /* leaked deliberately: producers still hold it */
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->conns_lock);
    pthread_cond_destroy(&s->watchdog_cv);
    rg_free(s->routes);
    rg_free(s);
}
