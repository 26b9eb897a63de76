/*
 * What the server's files share: the server, request and stream
 * structures (server.c owns the chain and the lifecycle, sse.c the streamed
 * replies), and queueing a response on a request's connection.
 */
#ifndef RG_HTTP_SERVER_INTERNAL_H
#define RG_HTTP_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <microhttpd.h>

#include "common/buf.h"
#include "http/http.h"

#define MAX_PARAMS 8
#define MAX_EXTRA_HEADERS 16
#define SSE_MAX_PENDING (16u << 20) /* a client this far behind is dropped */

struct header {
    char *name, *value;
};

/* One TCP connection (MHD's socket context), for the header deadline. */
struct conn_rec {
    int fd;
    double deadline; /* its request's headers are due by then; 0 = none */
    struct conn_rec *next, *prev;
};

struct rg_http_server {
    struct MHD_Daemon *d;
    int listen_fd;
    int port;
    bool loopback;
    struct rg_http_opts o;
    struct rg_route *routes;
    size_t n_routes;
    rg_http_auth_fn auth;
    void *auth_ctx;
    pthread_mutex_t lock; /* guards streams */
    struct rg_sse *streams;
    atomic_int n_streams;
    atomic_bool stopping;
    pthread_mutex_t conns_lock; /* guards conns, every conn_rec and watchdog_stop */
    pthread_cond_t watchdog_cv;
    struct conn_rec *conns;
    bool watchdog_started, watchdog_stop;
    pthread_t watchdog;
};

struct rg_http_req {
    struct rg_http_server *srv;
    struct MHD_Connection *conn;
    double t0;
    int phase; /* 0: headers seen next; 1: receiving body; 2: replied */
    enum rg_http_method method;
    char method_str[8];
    const char *path; /* MHD's, valid for the request */
    const struct rg_route *route;
    size_t n_params;
    char *params[MAX_PARAMS * 2]; /* name, value pairs (owned) */
    struct rg_buf body;
    bool too_big;
    size_t discarded;
    json_t *json;
    char id[72];
    const char *origin;
    struct rg_principal who;
    struct header extra[MAX_EXTRA_HEADERS];
    size_t n_extra;
    int status;
    size_t bytes;
    bool no_log;
    bool plain_errors; /* errors as {"error": "message"} (Ollama's shape) */
    /* model-call log fields */
    char model[96];
    bool stream;
    long prompt_tokens, completion_tokens;
    struct rg_sse *sse;
};

struct rg_sse {
    pthread_mutex_t lock;
    struct rg_http_server *srv;
    struct MHD_Connection *conn; /* NULL once the request completed */
    struct rg_buf pending;
    size_t sent_off; /* bytes of pending already handed to MHD */
    bool suspended, ended, closed;
    int refs; /* connection side + producer side */
    struct rg_sse *next, *prev;
    /* for the access log line, written when the last side lets go */
    char method[8], path[160], id[72], model[96];
    double t0;
    int status;
    size_t bytes;
    long prompt_tokens, completion_tokens;
    bool no_log;
    bool incremental; /* SSE or NDJSON: the reply streams (for the access log) */
};

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Queues resp with status (and the common headers) as r's reply; bytes for
 * the access log. */
void rg_http_queue(struct rg_http_req *r, int status, struct MHD_Response *resp, size_t bytes);

/* Resumes a stream's suspended connection (bytes queued, or it ends). */
void rg_http_sse_wake(struct rg_sse *s);

/* Writes one access log line (unless quiet or no_log). */
void rg_http_access_log(bool quiet, bool no_log, const char *id, const char *method,
                        const char *path, int status, double secs, size_t bytes, const char *model,
                        bool stream, long pt, long ct);

#endif
