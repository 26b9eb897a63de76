/*
 * HTTP server core on libmicrohttpd. Generic: it knows routes, not models or
 * users. Every request goes through one fixed chain, in this order:
 *
 *   request id -> access log (on completion) -> Host check (DNS rebinding)
 *   -> CORS -> limits (body size) -> route match (404/405) -> auth hook and
 *   role guard -> handler -> gzip
 *
 * Threading: MHD runs an internal thread pool with epoll; handlers run on
 * those threads and must not block for long. Long work (generation) runs on
 * its own thread and talks to the client through an SSE stream (rg_sse_*),
 * which suspends the connection while it waits for events, so a slow stream
 * never holds a pool thread. (Measured against thread-per-connection: the
 * pool gives the /healthz throughput target with 2 threads, and suspended
 * streams cost no thread at all; see bench/RESULTS.md.)
 *
 * A handler replies exactly once with rg_http_reply*() or starts a stream
 * with rg_http_sse_start(). If it does neither, the server replies 500.
 */
#ifndef RG_HTTP_H
#define RG_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "common/log.h"

enum rg_http_method {
    RG_HTTP_GET = 1 << 0,
    RG_HTTP_HEAD = 1 << 1,
    RG_HTTP_POST = 1 << 2,
    RG_HTTP_PUT = 1 << 3,
    RG_HTTP_PATCH = 1 << 4,
    RG_HTTP_DELETE = 1 << 5,
    RG_HTTP_OPTIONS = 1 << 6,
};

/* Roles, least to most privileged; a route names the least it accepts. */
enum rg_role { RG_ROLE_PUBLIC = 0, RG_ROLE_READONLY, RG_ROLE_USER, RG_ROLE_ADMIN };

enum rg_route_flags {
    RG_ROUTE_HIDDEN = 1 << 0,  /* not in /openapi.json (debug routes) */
    RG_ROUTE_API_KEY = 1 << 1, /* with --api-key set, needs Authorization: Bearer KEY */
    RG_ROUTE_STREAM = 1 << 2,  /* may answer with SSE (documented as text/event-stream) */
    RG_ROUTE_NO_LOG = 1 << 3,  /* not written to the access log (health probes) */
    /* with RG_ROUTE_API_KEY: model discovery (the model list and details an
     * editor fetches before it sends the key, as Copilot's Ollama provider
     * does), answered without a key as rg_http_opts.discovery says */
    RG_ROUTE_DISCOVERY = 1 << 4,
};

struct rg_http_req;
struct rg_sse;

typedef void (*rg_http_handler)(struct rg_http_req *req, void *ctx);

struct rg_route {
    unsigned methods;    /* RG_HTTP_* bits */
    const char *pattern; /* "/v1/models/{id}": literal segments and {param} segments */
    rg_http_handler fn;
    void *ctx;
    enum rg_role role; /* least role allowed; RG_ROLE_PUBLIC = anyone */
    unsigned flags;    /* RG_ROUTE_* */
    /* OpenAPI description, generated into /openapi.json */
    const char *tag; /* "system", "openai", ... */
    const char *summary;
    const char *request_schema;  /* JSON Schema text, or NULL */
    const char *response_schema; /* JSON Schema text of the 200 body, or NULL */
};

/* Who is calling, as the auth hook decided. */
struct rg_principal {
    enum rg_role role; /* RG_ROLE_PUBLIC = anonymous */
    char id[64];       /* user id, key id...; empty for anonymous */
};

/*
 * Auth hook, set by the api layer: fills *who from the request (cookie,
 * bearer token). Returns RG_OK (anonymous is fine: role PUBLIC) or RG_EAUTH
 * for a credential that is present but invalid (the server replies 401).
 */
typedef int (*rg_http_auth_fn)(struct rg_http_req *req, void *ctx, struct rg_principal *who);

/* Who may call RG_ROUTE_DISCOVERY routes without a key when keys are set. */
enum rg_http_discovery {
    RG_HTTP_DISCOVERY_LOOPBACK = 0, /* callers on this machine (a loopback peer address) */
    RG_HTTP_DISCOVERY_KEY,          /* nobody: the key, as on every other keyed route */
    RG_HTTP_DISCOVERY_OPEN,         /* anyone who can reach the server */
};

struct rg_http_opts {
    const char *host;                /* "127.0.0.1", "::1", "0.0.0.0", "localhost" */
    int port;                        /* 0 = any free port */
    size_t max_body;                 /* bytes */
    int max_connections;             /* open at once; more are refused (0 = 256) */
    int max_connections_per_ip;      /* open at once from one address; 0 = no limit */
    int timeout;                     /* seconds of inactivity (0 = 60); suspended streams
                                      * are exempt (MHD does not time them out) */
    int header_timeout;              /* seconds from a request's start to the end of its
                                      * headers, however slowly they trickle in (0 = 15) */
    int threads;                     /* pool threads; 0 = one per core */
    const char *const *cors_origins; /* allowed origins; n_cors == 0 = loopback only */
    size_t n_cors;
    const char *const *api_keys; /* for RG_ROUTE_API_KEY routes */
    size_t n_api_keys;
    enum rg_http_discovery discovery; /* RG_ROUTE_DISCOVERY routes without a key */
    size_t gzip_min;                  /* compress bodies at least this big; 0 = 1024 */
    bool quiet_access_log;            /* no access log lines */
};

struct rg_http_server;

/* Copies the routes (the strings must outlive the server). NULL with err set. */
struct rg_http_server *rg_http_server_new(const struct rg_http_opts *opts,
                                          const struct rg_route *routes, size_t n_routes,
                                          char *err);
void rg_http_server_set_auth(struct rg_http_server *s, rg_http_auth_fn fn, void *ctx);
/* Binds and starts serving. RG_EIO with a one-line reason (port in use...). */
int rg_http_server_start(struct rg_http_server *s, char *err);
int rg_http_server_port(const struct rg_http_server *s); /* the bound port */
/* Stops accepting, lets open streams finish for up to grace_s seconds (then
 * cancels them), stops. Safe to call once; the server is then freed. */
void rg_http_server_stop(struct rg_http_server *s, int grace_s);
/* Number of SSE streams still open. */
int rg_http_server_active_streams(const struct rg_http_server *s);

const struct rg_route *rg_http_server_routes(const struct rg_http_server *s, size_t *n);

/* ---- request ---- */
enum rg_http_method rg_http_req_method(const struct rg_http_req *r);
const char *rg_http_req_path(const struct rg_http_req *r);
const char *rg_http_req_header(const struct rg_http_req *r, const char *name);
const char *rg_http_req_query(const struct rg_http_req *r, const char *name);
/* A cookie's value from the Cookie header, or NULL. */
const char *rg_http_req_cookie(const struct rg_http_req *r, const char *name);
/* The credential of "Authorization: Bearer X", or NULL. */
const char *rg_http_req_bearer(const struct rg_http_req *r);
/* The peer's IP address as text into buf ("" if unknown); returns buf. */
const char *rg_http_req_client_addr(const struct rg_http_req *r, char *buf, size_t size);
const char *rg_http_req_param(const struct rg_http_req *r, const char *name); /* {name} */
const char *rg_http_req_body(const struct rg_http_req *r, size_t *len);
const char *rg_http_req_id(const struct rg_http_req *r);
const struct rg_principal *rg_http_req_principal(const struct rg_http_req *r);
struct rg_http_server *rg_http_req_server(const struct rg_http_req *r);

/*
 * The body as a JSON object. On malformed JSON, a non-object, or an empty body
 * it replies 400 (OpenAI error format, naming line and column) and returns
 * NULL: the handler then just returns. The result is owned by the request.
 */
json_t *rg_http_req_json(struct rg_http_req *r);

/* Fields for the access log line of a model call. */
void rg_http_req_log_model(struct rg_http_req *r, const char *model, bool stream,
                           long prompt_tokens, long completion_tokens);

/* ---- replies ---- */
/* Adds a response header (before replying). */
void rg_http_set_header(struct rg_http_req *r, const char *name, const char *value);
void rg_http_reply(struct rg_http_req *r, int status, const char *content_type, const void *body,
                   size_t len);
/* Takes the reference to body. */
void rg_http_reply_json(struct rg_http_req *r, int status, json_t *body);
/*
 * OpenAI-format error: {"error":{"message","type","param","code"}}.
 * type NULL picks one from the status (invalid_request_error,
 * authentication_error, permission_error, not_found_error, rate_limit_error,
 * server_error); param and code may be NULL (null in JSON).
 */
void rg_http_reply_error(struct rg_http_req *r, int status, const char *type, const char *code,
                         const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* From now on this request's errors are {"error": "message"}, the shape
 * Ollama's API uses, instead of OpenAI's object. */
void rg_http_req_plain_errors(struct rg_http_req *r);
/* The error body as text (for tests, fuzzing and SSE error events). Caller frees. */
char *rg_http_error_body(int status, const char *type, const char *code, const char *param,
                         const char *message);

/* ---- server-sent events ---- */
/*
 * Starts a text/event-stream reply and returns the stream, owned jointly by
 * the connection and the caller until rg_sse_end(). Any thread may send.
 */
struct rg_sse *rg_http_sse_start(struct rg_http_req *r);
/* The same machinery for any body produced later by another thread (e.g. a
 * non-streamed completion): status and content type now, bytes with
 * rg_sse_write, then rg_sse_end. Sent with chunked transfer encoding. */
struct rg_sse *rg_http_stream_start(struct rg_http_req *r, int status, const char *content_type);
int rg_sse_write(struct rg_sse *s, const void *data, size_t len);
/* Queues one event ("data: ...\n\n"; event may be NULL). RG_ECLOSED once the
 * client is gone (stop working then), RG_ENOMEM. Never blocks on the client. */
int rg_sse_send(struct rg_sse *s, const char *event, const char *data, size_t len);
int rg_sse_send_json(struct rg_sse *s, const char *event, const json_t *obj);
/* A comment line (": ping"): keeps proxies from timing out, detects a gone client. */
int rg_sse_comment(struct rg_sse *s, const char *text);
/* True once the client disconnected or the server is stopping. */
bool rg_sse_closed(const struct rg_sse *s);
/* Log fields for the stream's access log line. */
void rg_sse_log_model(struct rg_sse *s, const char *model, long prompt_tokens,
                      long completion_tokens);
/* Finishes the stream after the queued events are written; the caller's
 * handle is invalid afterwards. */
void rg_sse_end(struct rg_sse *s);

/* ---- decisions, exposed for tests ---- */
/* Is this Origin allowed? n_cors == 0: loopback origins only; "*" allows all. */
bool rg_http_origin_allowed(const char *origin, const char *const *allowed, size_t n);
/* Is host (the Host header) a loopback name, with or without a port? */
bool rg_http_host_is_loopback(const char *host);
/* Is the bind address a loopback one? */
bool rg_http_bind_is_loopback(const char *bind);
/* Matches path against pattern; fills up to max params (name/value spans into
 * pattern and path). Returns true on a match. */
struct rg_http_span {
    const char *p;
    size_t n;
};
bool rg_http_match(const char *pattern, const char *path, struct rg_http_span *names,
                   struct rg_http_span *values, size_t max, size_t *n_params);
/* gzip-compresses in; RG_OK with *out (rg_free) and *out_len. */
int rg_http_gzip(const void *in, size_t len, void **out, size_t *out_len);
/* Does an Accept-Encoding header accept gzip (q > 0)? */
bool rg_http_accepts_gzip(const char *accept_encoding);
/* Parses a request body as a JSON object (duplicate keys and invalid UTF-8
 * refused). NULL with a one-line reason in err (RG_ERR_SIZE). */
json_t *rg_http_parse_json_body(const char *body, size_t len, char *err);
/* Formats one SSE event into a malloc'd string (rg_free). */
char *rg_sse_format(const char *event, const char *data, size_t len, size_t *out_len);

#endif
