/*
 * Streamed replies (SSE, NDJSON, bodies produced later): any thread queues
 * bytes, the connection is suspended while nothing is pending (it costs no
 * pool thread), and MHD's content reader takes the bytes as the client
 * reads them. A client too far behind is dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "http/metrics.h"
#include "http/server_internal.h"

/* ---- SSE ---- */

static void sse_release(struct rg_sse *s)
{
    pthread_mutex_lock(&s->lock);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (!last) return;
    struct rg_http_server *srv = s->srv;
    pthread_mutex_lock(&srv->lock);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    pthread_mutex_unlock(&srv->lock);
    rg_metrics_stream_ended();
    double secs = now_s() - s->t0;
    rg_metrics_observe_request(s->method, s->path, s->status, secs);
    rg_http_access_log(srv->o.quiet_access_log, s->no_log, s->id, s->method, s->path, s->status,
                       secs, s->bytes, s->model, s->incremental, s->prompt_tokens,
                       s->completion_tokens);
    rg_buf_free(&s->pending);
    pthread_mutex_destroy(&s->lock);
    rg_free(s);
    /* last: once the count drops, rg_http_server_stop may free srv */
    atomic_fetch_sub(&srv->n_streams, 1);
}

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct rg_sse *s = cls;
    pthread_mutex_lock(&s->lock);
    size_t avail = s->pending.len - s->sent_off;
    if (avail > 0) {
        size_t n = RG_MIN(avail, max);
        memcpy(buf, s->pending.data + s->sent_off, n);
        s->sent_off += n;
        s->bytes += n;
        if (s->sent_off == s->pending.len) {
            rg_buf_reset(&s->pending);
            s->sent_off = 0;
        }
        pthread_mutex_unlock(&s->lock);
        return (ssize_t)n;
    }
    if (s->ended) {
        pthread_mutex_unlock(&s->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (s->closed) { /* server stopping */
        pthread_mutex_unlock(&s->lock);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    /* Nothing to send: park the connection until the producer has more. */
    s->suspended = true;
    MHD_suspend_connection(s->conn);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void sse_reader_free(void *cls)
{
    sse_release(cls);
}

/* Called with s->lock held. */
void rg_http_sse_wake(struct rg_sse *s)
{
    if (s->suspended && s->conn) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

struct rg_sse *rg_http_sse_start(struct rg_http_req *r)
{
    return rg_http_stream_start(r, 200, "text/event-stream");
}

struct rg_sse *rg_http_stream_start(struct rg_http_req *r, int status, const char *content_type)
{
    if (r->phase == 2) return NULL;
    struct rg_sse *s = rg_calloc(1, sizeof *s);
    if (!s) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    rg_buf_init(&s->pending, SSE_MAX_PENDING);
    s->srv = r->srv;
    s->conn = r->conn;
    s->refs = 2;
    s->t0 = r->t0;
    s->status = status;
    s->no_log = r->no_log;
    s->incremental =
        !strcmp(content_type, "text/event-stream") || !strcmp(content_type, "application/x-ndjson");
    snprintf(s->method, sizeof s->method, "%s", r->method_str);
    snprintf(s->path, sizeof s->path, "%s", r->route ? r->route->pattern : r->path);
    snprintf(s->id, sizeof s->id, "%s", r->id);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                                  sse_reader, s, sse_reader_free);
    if (!resp) {
        pthread_mutex_destroy(&s->lock);
        rg_free(s);
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return NULL;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    struct rg_http_server *srv = r->srv;
    pthread_mutex_lock(&srv->lock);
    s->next = srv->streams;
    if (s->next) s->next->prev = s;
    srv->streams = s;
    pthread_mutex_unlock(&srv->lock);
    atomic_fetch_add(&srv->n_streams, 1);
    rg_metrics_stream_started();
    r->sse = s;
    rg_http_queue(r, status, resp, 0);
    return s;
}

static int sse_push(struct rg_sse *s, const char *bytes, size_t n)
{
    pthread_mutex_lock(&s->lock);
    if (s->closed || s->ended) {
        pthread_mutex_unlock(&s->lock);
        return RG_ECLOSED;
    }
    int rc = rg_buf_append(&s->pending, bytes, n);
    if (rc == RG_ETOOBIG) { /* the client reads far slower than we write */
        s->closed = true;
        rc = RG_ECLOSED;
    }
    rg_http_sse_wake(s);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int rg_sse_write(struct rg_sse *s, const void *data, size_t len)
{
    return sse_push(s, data, len);
}

int rg_sse_send(struct rg_sse *s, const char *event, const char *data, size_t len)
{
    size_t n;
    char *ev = rg_sse_format(event, data, len, &n);
    if (!ev) return RG_ENOMEM;
    int rc = sse_push(s, ev, n);
    rg_free(ev);
    return rc;
}

int rg_sse_send_json(struct rg_sse *s, const char *event, const json_t *obj)
{
    char *txt = json_dumps(obj, JSON_COMPACT);
    if (!txt) return RG_ENOMEM;
    int rc = rg_sse_send(s, event, txt, strlen(txt));
    free(txt);
    return rc;
}

int rg_sse_comment(struct rg_sse *s, const char *text)
{
    char line[256];
    int n = snprintf(line, sizeof line, ": %s\n\n", text ? text : "");
    if (n < 0) return RG_EINVAL;
    return sse_push(s, line, RG_MIN((size_t)n, sizeof line - 1));
}

bool rg_sse_closed(const struct rg_sse *s)
{
    struct rg_sse *m = (struct rg_sse *)s;
    pthread_mutex_lock(&m->lock);
    bool c = m->closed;
    pthread_mutex_unlock(&m->lock);
    return c || atomic_load(&m->srv->stopping);
}

void rg_sse_log_model(struct rg_sse *s, const char *model, long prompt_tokens,
                      long completion_tokens)
{
    pthread_mutex_lock(&s->lock);
    snprintf(s->model, sizeof s->model, "%s", model ? model : "");
    s->prompt_tokens = prompt_tokens;
    s->completion_tokens = completion_tokens;
    pthread_mutex_unlock(&s->lock);
}

void rg_sse_end(struct rg_sse *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    s->ended = true;
    rg_http_sse_wake(s);
    pthread_mutex_unlock(&s->lock);
    sse_release(s);
}

int rg_http_server_active_streams(const struct rg_http_server *s)
{
    return atomic_load(&((struct rg_http_server *)s)->n_streams);
}
