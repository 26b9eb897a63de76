/*
 * The stream stage: engine events become the reply. The scheduler only
 * queues events and wakes this stage (a list of ready streams and one
 * thread); here the text is split into content and tool calls (chat/),
 * logprobs get their token strings, and OpenAI chunks, Ollama NDJSON or the
 * whole body are formatted and written to the connection. A client that
 * leaves cancels its request; the stream is freed after the engine's END.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/str.h"
#include "http/metrics.h"

#ifndef RG_VERSION
#define RG_VERSION "0.0.0"
#endif

struct rg_api_streams {
    pthread_mutex_t lock;
    pthread_cond_t ready_cv;
    struct stream *ready; /* streams with events to take */
    bool stop;
    pthread_t thread;
    int live; /* streams not yet ended */
    pthread_cond_t idle_cv;
};

struct stream {
    struct rg_api_streams *ss;
    struct rg_engine *e;
    struct rg_engine_model *m;
    struct rg_sse *out;
    uint64_t id;
    enum rg_api_mode mode;
    bool stream, include_usage, logprobs, embed, base64;
    double keep_alive;
    char rid[48];
    long created;
    int n_answers;
    /* the answer being received */
    struct rg_chat_answer ans;
    json_t *tools;
    bool first; /* no chunk of this answer sent yet */
    struct rg_buf content, all;
    json_t *lp_all, *lp_unsent;
    json_t *choices;        /* unstreamed: finished answers; embeddings: data */
    json_t *ollama_calls;   /* unstreamed Ollama chat: the calls, for the done object */
    char ollama_finish[16]; /* Ollama: the last answer's finish, its done_reason */
    enum rg_api_embed_shape shape;
    struct rg_api_keep keep; /* RG_API_KEPT */
    json_t *extra;           /* "rustygpt" of the reply: the first chunk's, or the body's */
    char finish[16];
    bool kept_begun; /* keep.begin saved the messages */
    bool closed;
    struct stream *ready_next;
    bool queued;      /* under ss->lock: on the ready list */
    bool started;     /* under ss->lock: the reply is started, events may be taken */
    bool woken_early; /* under ss->lock: events came before the reply started */
    atomic_bool out_set;
};

/* ---- formatting ---- */

static bool is_chat(const struct stream *st)
{
    return st->mode == RG_API_OPENAI_CHAT;
}
static bool is_ollama(const struct stream *st)
{
    return st->mode == RG_API_OLLAMA_CHAT || st->mode == RG_API_OLLAMA_GENERATE;
}
static bool is_kept(const struct stream *st)
{
    return st->mode == RG_API_KEPT;
}

static json_t *chunk(struct stream *st, int choice, const char *text, size_t len,
                     const char *finish)
{
    json_t *c;
    if (is_chat(st)) {
        json_t *delta = json_object();
        if (st->first) json_object_set_new(delta, "role", json_string("assistant"));
        if (text) json_object_set_new(delta, "content", rg_api_json_text(text, len));
        c = json_pack("{s:i, s:o, s:n}", "index", choice, "delta", delta, "logprobs");
        if (st->lp_unsent && json_array_size(st->lp_unsent)) {
            json_object_set_new(c, "logprobs", json_pack("{s:O}", "content", st->lp_unsent));
            json_decref(st->lp_unsent);
            st->lp_unsent = json_array();
        }
    } else {
        c = json_pack("{s:i, s:o, s:n}", "index", choice, "text",
                      rg_api_json_text(text ? text : "", text ? len : 0), "logprobs");
    }
    json_object_set_new(c, "finish_reason", finish ? json_string(finish) : json_null());
    st->first = false;
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:[o]}", "id", st->rid, "object",
                          is_chat(st) ? "chat.completion.chunk" : "text_completion", "created",
                          (json_int_t)st->created, "model", rg_engine_model_name(st->m),
                          "system_fingerprint", "rustygpt-" RG_VERSION, "choices", c);
    if (o && st->extra) { /* once, on the first chunk */
        json_object_set_new(o, "rustygpt", st->extra);
        st->extra = NULL;
    }
    return o;
}

/* OpenAI's usage object; cached_tokens is how much of the prompt came from
 * the cache (clients such as Copilot show it). */
static json_t *usage(long p, long c, long cached)
{
    return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)p,
                     "completion_tokens", (json_int_t)c, "total_tokens", (json_int_t)(p + c),
                     "prompt_tokens_details", "cached_tokens", (json_int_t)cached);
}

static void iso_time(char *buf, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + k, n - k, ".%09ldZ", ts.tv_nsec);
}

/* One Ollama response object (a line of NDJSON when streaming). */
static json_t *ollama_obj(const struct stream *st, const char *text, size_t len, bool done)
{
    char ts[64];
    iso_time(ts, sizeof ts);
    json_t *o = json_pack("{s:s, s:s, s:b}", "model", rg_engine_model_name(st->m), "created_at", ts,
                          "done", done);
    json_t *t = rg_api_json_text(text ? text : "", len);
    if (st->mode == RG_API_OLLAMA_CHAT)
        json_object_set_new(o, "message",
                            json_pack("{s:s, s:o}", "role", "assistant", "content", t));
    else
        json_object_set_new(o, "response", t);
    return o;
}

/* Writes a JSON value (and a newline for NDJSON); RG_ECLOSED once the client left. */
static int write_json(struct stream *st, json_t *o, bool sse, bool newline)
{
    if (!o) return RG_ENOMEM;
    int rc;
    if (sse) {
        rc = rg_sse_send_json(st->out, NULL, o);
    } else {
        char *txt = json_dumps(o, JSON_COMPACT);
        rc = txt ? rg_sse_write(st->out, txt, strlen(txt)) : RG_ENOMEM;
        if (rc == RG_OK && newline) rc = rg_sse_write(st->out, "\n", 1);
        rg_free(txt);
    }
    json_decref(o);
    return rc;
}

static void gone(struct stream *st, int rc)
{
    if (rc == RG_ECLOSED && !st->closed) {
        st->closed = true;
        rg_engine_cancel(st->e, st->id);
    }
}

/* Content of the current answer: streamed as a delta or kept for the body. */
static void emit(struct stream *st, int choice, const char *text, size_t len)
{
    if (is_kept(st)) { /* all of it is kept, whoever still listens */
        if (!len) return;
        rg_buf_append(&st->all, text, len);
        if (!st->stream || st->closed) return;
        json_t *d = json_pack("{s:o}", "content", rg_api_json_text(text, len));
        int rc = d ? rg_sse_send_json(st->out, "delta", d) : RG_ENOMEM;
        json_decref(d);
        gone(st, rc);
        return;
    }
    if (!len || st->closed) return;
    if (!st->stream) {
        rg_buf_append(&st->all, text, len);
        return;
    }
    int rc = is_ollama(st) ? write_json(st, ollama_obj(st, text, len, false), false, true)
                           : write_json(st, chunk(st, choice, text, len, NULL), true, false);
    gone(st, rc);
}

static json_t *token_obj(const struct rg_vocab *v, int32_t id, float logprob)
{
    char piece[256];
    int n = rg_token_to_piece(v, id, false, piece, sizeof piece);
    if (n < 0) n = 0;
    if (n > (int)sizeof piece) n = (int)sizeof piece;
    json_t *bytes = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(bytes, json_integer((unsigned char)piece[i]));
    return json_pack("{s:o, s:f, s:o}", "token", rg_api_json_text(piece, (size_t)n), "logprob",
                     (double)logprob, "bytes", bytes);
}

static void on_text(struct stream *st, const struct rg_engine_event *ev)
{
    rg_metrics_add_generated(ev->n_tok);
    if (st->logprobs && ev->lp) {
        const struct rg_vocab *v = rg_model_vocab(rg_engine_model_get(st->m));
        for (int t = 0; t < ev->n_tok; t++) {
            const struct rg_engine_logprob *l = ev->lp + (size_t)t * (size_t)ev->lp_stride;
            json_t *e = token_obj(v, l[0].token, l[0].logprob), *top = json_array();
            for (int k = 1; k < ev->lp_stride; k++)
                json_array_append_new(top, token_obj(v, l[k].token, l[k].logprob));
            json_object_set_new(e, "top_logprobs", top);
            json_array_append(st->lp_all, e);
            json_array_append_new(st->lp_unsent, e);
        }
    }
    st->content.len = 0;
    if (rg_chat_answer_feed(&st->ans, ev->text, ev->len, &st->content) != RG_OK) return;
    emit(st, ev->choice, st->content.data, st->content.len);
}

/* Ollama's tool_calls: arguments as objects, no ids. */
static json_t *ollama_calls(const json_t *calls)
{
    json_t *out = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c)
    {
        json_t *fn = json_object_get(c, "function");
        const char *args = json_string_value(json_object_get(fn, "arguments"));
        json_t *a = args ? json_loads(args, 0, NULL) : NULL;
        json_array_append_new(out, json_pack("{s:{s:O, s:o}}", "function", "name",
                                             json_object_get(fn, "name"), "arguments",
                                             a ? a : json_object()));
    }
    return out;
}

static void on_choice_end(struct stream *st, const struct rg_engine_event *ev)
{
    json_t *calls = NULL;
    st->content.len = 0;
    rg_chat_answer_end(&st->ans, st->rid, &st->content, &calls);
    emit(st, ev->choice, st->content.data, st->content.len);
    const char *finish = calls ? "tool_calls" : ev->finish;
    if (is_kept(st)) {
        rg_strlcpy(st->finish, finish ? finish : "stop", sizeof st->finish);
    } else if (is_ollama(st)) {
        /* Ollama says "stop" for an answer of calls too, "length" when cut */
        snprintf(st->ollama_finish, sizeof st->ollama_finish, "%s",
                 ev->finish && !strcmp(ev->finish, "length") ? "length" : "stop");
        if (calls && st->mode == RG_API_OLLAMA_CHAT && st->stream && !st->closed) {
            /* streamed as Ollama does: a line of its own with the calls
             * (Continue and Open WebUI read them from any line) */
            json_t *o = ollama_obj(st, "", 0, false);
            json_object_set_new(json_object_get(o, "message"), "tool_calls", ollama_calls(calls));
            gone(st, write_json(st, o, false, true));
        } else if (calls) {
            st->ollama_calls = ollama_calls(calls);
        }
    } else if (st->stream && !st->closed) {
        int rc = RG_OK;
        if (calls) {
            json_t *tc = chunk(st, ev->choice, NULL, 0, NULL);
            json_t *delta =
                json_object_get(json_array_get(json_object_get(tc, "choices"), 0), "delta");
            json_t *arr = json_array();
            size_t ci;
            json_t *call;
            json_array_foreach(calls, ci, call)
            {
                json_t *x = json_copy(call);
                json_object_set_new(x, "index", json_integer((json_int_t)ci));
                json_array_append_new(arr, x);
            }
            json_object_set_new(delta, "tool_calls", arr);
            rc = write_json(st, tc, true, false);
        }
        if (rc == RG_OK) rc = write_json(st, chunk(st, ev->choice, NULL, 0, finish), true, false);
        gone(st, rc);
    } else if (!st->stream) {
        json_t *text = rg_api_json_text(st->all.data ? st->all.data : "", st->all.len);
        json_t *c = is_chat(st) ? json_pack("{s:i, s:{s:s, s:o}, s:n, s:s}", "index", ev->choice,
                                            "message", "role", "assistant", "content", text,
                                            "logprobs", "finish_reason", finish)
                                : json_pack("{s:i, s:o, s:n, s:s}", "index", ev->choice, "text",
                                            text, "logprobs", "finish_reason", finish);
        if (calls && c && is_chat(st)) {
            json_t *msg = json_object_get(c, "message");
            json_object_set(msg, "tool_calls", calls);
            if (!st->all.len) json_object_set_new(msg, "content", json_null());
        }
        if (c && st->lp_all)
            json_object_set_new(c, "logprobs", json_pack("{s:O}", "content", st->lp_all));
        if (c) json_array_append_new(st->choices, c);
        st->all.len = 0;
    }
    json_decref(calls);
    st->first = true;
    if (st->logprobs) {
        json_decref(st->lp_all);
        json_decref(st->lp_unsent);
        st->lp_all = json_array();
        st->lp_unsent = json_array();
    }
}

static void on_embedding(struct stream *st, const struct rg_engine_event *ev)
{
    json_t *e;
    if (st->base64) {
        static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *in = (const unsigned char *)ev->vec;
        size_t n = (size_t)ev->n_vec * sizeof *ev->vec;
        struct rg_buf b;
        rg_buf_init(&b, SIZE_MAX);
        for (size_t i = 0; i < n; i += 3) {
            unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                         (i + 2 < n ? in[i + 2] : 0);
            char q[4] = {T[v >> 18 & 63], T[v >> 12 & 63], i + 1 < n ? T[v >> 6 & 63] : '=',
                         i + 2 < n ? T[v & 63] : '='};
            rg_buf_append(&b, q, 4);
        }
        e = json_stringn(b.data ? b.data : "", b.len);
        rg_buf_free(&b);
    } else {
        e = json_array();
        for (int k = 0; k < ev->n_vec; k++)
            json_array_append_new(e, json_real(ev->vec[k]));
    }
    json_array_append_new(st->choices, json_pack("{s:s, s:i, s:o}", "object", "embedding", "index",
                                                 ev->choice, "embedding", e));
}

/* Ollama's embedding replies: every vector in input order, or the one. */
static json_t *ollama_embeddings(const struct stream *st, const struct rg_engine_event *ev)
{
    if (ev->rc != RG_OK)
        return json_pack("{s:s}", "error", ev->err[0] ? ev->err : rg_strerror(ev->rc));
    size_t n = json_array_size(st->choices), i;
    json_t *vecs = json_array(), *c;
    for (i = 0; i < n; i++)
        json_array_append_new(vecs, json_null());
    json_array_foreach(st->choices, i, c)
    {
        json_int_t k = json_integer_value(json_object_get(c, "index"));
        if (k >= 0 && (size_t)k < n)
            json_array_set(vecs, (size_t)k, json_object_get(c, "embedding"));
    }
    if (st->shape == RG_API_EMBED_OLLAMA_ONE) {
        json_t *one = json_pack("{s:O}", "embedding", json_array_get(vecs, 0));
        json_decref(vecs);
        return one;
    }
    return json_pack("{s:s, s:o, s:I, s:i, s:I}", "model", rg_engine_model_name(st->m),
                     "embeddings", vecs, "total_duration", (json_int_t)(ev->total_ms * 1e6),
                     "load_duration", 0, "prompt_eval_count", (json_int_t)ev->prompt_tokens);
}

/* A kept answer ended: the hook saves it (the client may be gone: it is
 * saved all the same) and gives the last event, or the body. */
static void kept_end(struct stream *st, const struct rg_engine_event *ev)
{
    int rc = ev->rc;
    const char *finish = rc == RG_OK          ? (st->finish[0] ? st->finish : "stop")
                         : rc == RG_ECANCELED ? "cancelled"
                                              : "error";
    struct rg_api_kept_end k = {
        .text = st->all.data ? st->all.data : "",
        .len = st->all.len,
        .finish = finish,
        .rc = rc,
        .err = ev->err[0] ? ev->err : rg_strerror(rc),
        .client_gone = st->closed,
        .prompt_tokens = ev->prompt_tokens,
        .completion_tokens = ev->completion_tokens,
        .total_ms = ev->total_ms,
    };
    const char *event = "end";
    json_t *o = st->keep.end(st->keep.user, &k, &event);
    if (!o || st->closed) {
        json_decref(o);
        return;
    }
    if (st->stream) {
        gone(st, rg_sse_send_json(st->out, event, o));
        json_decref(o);
    } else {
        write_json(st, o, false, false);
    }
}

/* The request ended: the closing lines or the whole body, then the reply ends. */
static void on_end(struct stream *st, const struct rg_engine_event *ev)
{
    const char *model = rg_engine_model_name(st->m);
    long p = ev->prompt_tokens, c = ev->completion_tokens;
    rg_metrics_add_tokens(p, c);
    int rc = ev->rc;
    const char *err = ev->err[0] ? ev->err : rg_strerror(rc);
    if (is_kept(st)) {
        if (st->kept_begun) kept_end(st, ev);
    } else if (st->closed) {
        /* nothing more to write */
    } else if (st->embed && st->shape >= RG_API_EMBED_OLLAMA) {
        write_json(st, ollama_embeddings(st, ev), false, false);
    } else if (st->embed) {
        json_t *body = rc == RG_OK
                           ? json_pack("{s:s, s:O, s:s, s:{s:I, s:I}}", "object", "list", "data",
                                       st->choices, "model", model, "usage", "prompt_tokens",
                                       (json_int_t)p, "total_tokens", (json_int_t)p)
                           : json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message", err, "type",
                                       "server_error", "param", "code");
        write_json(st, body, false, false);
    } else if (is_ollama(st)) {
        json_t *o;
        if (rc == RG_OK) {
            o = st->stream ? ollama_obj(st, "", 0, true)
                           : ollama_obj(st, st->all.data, st->all.len, true);
            if (st->ollama_calls && st->mode == RG_API_OLLAMA_CHAT)
                json_object_set(json_object_get(o, "message"), "tool_calls", st->ollama_calls);
            json_object_set_new(o, "done_reason",
                                json_string(st->ollama_finish[0] ? st->ollama_finish : "stop"));
            /* nanoseconds; Open WebUI shows eval_count / eval_duration as
             * tokens/s: the prompt's time is up to the first token */
            double total = RG_MAX(ev->total_ms, 0), first = RG_MAX(ev->ttft_ms, 0);
            double queued = RG_MIN(RG_MAX(ev->queue_ms, 0), first);
            first = RG_MIN(first, total);
            json_object_set_new(o, "total_duration", json_integer((json_int_t)(total * 1e6)));
            json_object_set_new(o, "load_duration", json_integer(0));
            json_object_set_new(o, "prompt_eval_count", json_integer(p));
            json_object_set_new(o, "prompt_eval_duration",
                                json_integer((json_int_t)RG_MAX((first - queued) * 1e6, 1)));
            json_object_set_new(o, "eval_count", json_integer(c));
            json_object_set_new(o, "eval_duration",
                                json_integer((json_int_t)RG_MAX((total - first) * 1e6, 1)));
        } else {
            o = json_pack("{s:s}", "error", err);
        }
        write_json(st, o, false, st->stream);
    } else if (st->stream) {
        if (rc == RG_OK) {
            if (st->include_usage)
                write_json(st,
                           json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", st->rid, "object",
                                     is_chat(st) ? "chat.completion.chunk" : "text_completion",
                                     "created", (json_int_t)st->created, "model", model, "choices",
                                     "usage", usage(p, c, ev->cached_tokens)),
                           true, false);
            rg_sse_send(st->out, NULL, "[DONE]", 6);
        } else {
            char *e = rg_http_error_body(500, NULL, NULL, NULL, err);
            if (e) rg_sse_send(st->out, NULL, e, strlen(e));
            rg_free(e);
        }
    } else {
        json_t *body = NULL;
        if (rc == RG_OK)
            body = json_pack("{s:s, s:s, s:I, s:s, s:s, s:O, s:o}", "id", st->rid, "object",
                             is_chat(st) ? "chat.completion" : "text_completion", "created",
                             (json_int_t)st->created, "model", model, "system_fingerprint",
                             "rustygpt-" RG_VERSION, "choices", st->choices, "usage",
                             usage(p, c, ev->cached_tokens));
        if (body && st->extra) json_object_set(body, "rustygpt", st->extra);
        if (body) {
            write_json(st, body, false, false);
        } else {
            char *e = rg_http_error_body(500, NULL, NULL, NULL, err);
            if (e) rg_sse_write(st->out, e, strlen(e));
            rg_free(e);
        }
    }
    if (st->out) rg_sse_log_model(st->out, model, p, c);
}

static void stream_free(struct stream *st)
{
    if (st->keep.free) st->keep.free(st->keep.user);
    rg_chat_answer_free(&st->ans);
    rg_buf_free(&st->content);
    rg_buf_free(&st->all);
    json_decref(st->lp_all);
    json_decref(st->lp_unsent);
    json_decref(st->choices);
    json_decref(st->ollama_calls);
    json_decref(st->tools);
    json_decref(st->extra);
    rg_free(st);
}

/* Takes every event st has; true when its request ended (st is freed). */
static bool drain(struct stream *st)
{
    struct rg_engine_event ev;
    int got;
    while ((got = rg_engine_next(st->e, st->id, &ev, 0)) == 1) {
        switch (ev.type) {
        case RG_ENGINE_EV_TEXT: on_text(st, &ev); break;
        case RG_ENGINE_EV_CHOICE_END: on_choice_end(st, &ev); break;
        case RG_ENGINE_EV_EMBEDDING: on_embedding(st, &ev); break;
        case RG_ENGINE_EV_END: on_end(st, &ev); break;
        }
        bool end = ev.type == RG_ENGINE_EV_END;
        rg_engine_event_clear(&ev);
        if (end) break;
        if (!st->closed && rg_sse_closed(st->out)) gone(st, RG_ECLOSED);
    }
    if (got == 0) return false;
    /* released before the reply ends, so that the client's next request
     * never finds the model still held (the memory budget counts on it) */
    rg_engine_release(st->m, st->keep_alive);
    st->m = NULL;
    if (st->out) rg_sse_end(st->out);
    struct rg_api_streams *ss = st->ss;
    pthread_mutex_lock(&ss->lock);
    if (st->queued) /* woken again while it was being drained */
        for (struct stream **p = &ss->ready; *p; p = &(*p)->ready_next)
            if (*p == st) {
                *p = st->ready_next;
                break;
            }
    if (--ss->live == 0) pthread_cond_broadcast(&ss->idle_cv);
    pthread_mutex_unlock(&ss->lock);
    stream_free(st);
    return true;
}

/* The engine has events for st (on the scheduler's thread: only a wake-up). */
static void wake(void *user)
{
    struct stream *st = user;
    struct rg_api_streams *ss = st->ss;
    pthread_mutex_lock(&ss->lock);
    if (!st->started) {
        st->woken_early = true;
    } else if (!st->queued) {
        st->queued = true;
        st->ready_next = ss->ready;
        ss->ready = st;
        pthread_cond_signal(&ss->ready_cv);
    }
    pthread_mutex_unlock(&ss->lock);
}

/* Polled by the scheduler each step: the client left. */
static bool client_gone(void *user)
{
    struct stream *st = user;
    return atomic_load(&st->out_set) && rg_sse_closed(st->out);
}

static void *pump(void *arg)
{
    struct rg_api_streams *ss = arg;
    pthread_mutex_lock(&ss->lock);
    for (;;) {
        while (!ss->ready && !ss->stop)
            pthread_cond_wait(&ss->ready_cv, &ss->lock);
        if (!ss->ready && ss->stop) break;
        struct stream *st = ss->ready;
        ss->ready = st->ready_next;
        st->queued = false;
        pthread_mutex_unlock(&ss->lock);
        drain(st);
        pthread_mutex_lock(&ss->lock);
    }
    pthread_mutex_unlock(&ss->lock);
    return NULL;
}

struct rg_api_streams *rg_api_streams_new(char *err)
{
    struct rg_api_streams *ss = rg_calloc(1, sizeof *ss);
    if (!ss) {
        rg_err_set(err, RG_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&ss->lock, NULL);
    pthread_cond_init(&ss->ready_cv, NULL);
    pthread_cond_init(&ss->idle_cv, NULL);
    if (pthread_create(&ss->thread, NULL, pump, ss) != 0) {
        rg_free(ss);
        rg_err_set(err, RG_ENOMEM, "cannot start the stream thread");
        return NULL;
    }
    return ss;
}

void rg_api_streams_free(struct rg_api_streams *ss)
{
    if (!ss) return;
    /* every connection is closed: each request ends at its next step (a
     * grammar walk or a long prompt chunk at most); wait a bounded time */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    pthread_mutex_lock(&ss->lock);
    while (ss->live > 0 && pthread_cond_timedwait(&ss->idle_cv, &ss->lock, &ts) == 0) {
    }
    ss->stop = true;
    int live = ss->live;
    pthread_cond_signal(&ss->ready_cv);
    pthread_mutex_unlock(&ss->lock);
    pthread_join(ss->thread, NULL);
    /* a request the engine has not ended yet still wakes its stream (when
     * the engine stops it): the stage stays allocated for that, the process
     * is exiting */
    if (live > 0) return;
    pthread_cond_destroy(&ss->ready_cv);
    pthread_cond_destroy(&ss->idle_cv);
    pthread_mutex_destroy(&ss->lock);
    rg_free(ss);
}

/* ---- starting a reply ---- */

static struct stream *stream_new(struct rg_api_state *st, struct rg_engine_model *m,
                                 enum rg_api_mode mode)
{
    struct stream *s = rg_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->ss = st->streams;
    s->e = st->engine;
    s->m = m;
    s->mode = mode;
    s->first = true;
    s->keep_alive = NAN;
    s->created = (long)time(NULL);
    rg_buf_init(&s->content, 16u << 20);
    rg_buf_init(&s->all, 64u << 20);
    s->choices = json_array();
    if (!s->choices) {
        rg_free(s);
        return NULL;
    }
    return s;
}

/* Submits, then starts the reply and hands the stream to the stage; a
 * refused request gets its HTTP error status (never a 200 with an error
 * inside). */
static void start(struct rg_http_req *r, struct stream *s, struct rg_engine_request *er,
                  const char *content_type)
{
    er->cancelled = client_gone;
    er->log_id = s->rid;
    int rc;
    char err[RG_ERR_SIZE];
    s->id = rg_engine_submit(s->m, er, wake, s, &rc, err);
    if (!s->id) {
        int status = rc == RG_EBUSY ? 429 : rc == RG_EINVAL || rc == RG_EOVERFLOW ? 400 : 500;
        if (status == 429) rg_http_set_header(r, "Retry-After", "1");
        rg_http_reply_error(r, status, NULL,
                            rc == RG_EBUSY       ? "queue_full"
                            : rc == RG_EOVERFLOW ? "context_length_exceeded"
                                                 : NULL,
                            rc == RG_EOVERFLOW ? (s->embed ? "input" : "messages") : NULL, "%s",
                            err);
        rg_engine_release(s->m, NAN);
        stream_free(s);
        return;
    }
    if (is_kept(s)) {
        json_t *first = NULL;
        int status = 500;
        char berr[RG_ERR_SIZE] = "";
        if (s->keep.begin(s->keep.user, &first, &status, berr) != RG_OK) {
            rg_http_reply_error(r, status, NULL, status == 404 ? "not_found" : NULL, NULL, "%s",
                                berr[0] ? berr : "cannot save the message");
            s->closed = true;
            rg_engine_cancel(s->e, s->id);
            content_type = NULL; /* replied: the stream only waits for the END */
        } else {
            s->kept_begun = true;
            s->out = rg_http_stream_start(r, 200, content_type);
            if (s->out && s->stream && first) rg_sse_send_json(s->out, "start", first);
        }
        json_decref(first);
    } else {
        s->out = rg_http_stream_start(r, 200, content_type);
    }
    if (s->out) {
        atomic_store(&s->out_set, true);
    } else if (content_type) { /* no reply possible: the request still runs to its END */
        s->closed = true;
        rg_engine_cancel(s->e, s->id);
    }
    struct rg_api_streams *ss = s->ss;
    pthread_mutex_lock(&ss->lock);
    ss->live++;
    s->started = true;
    if (s->woken_early && !s->queued) {
        s->queued = true;
        s->ready_next = ss->ready;
        ss->ready = s;
        pthread_cond_signal(&ss->ready_cv);
    }
    pthread_mutex_unlock(&ss->lock);
}

void rg_api_generate(struct rg_http_req *r, struct rg_api_state *st, struct rg_engine_model *m,
                     enum rg_api_mode mode, struct rg_api_gen *g, const int32_t *const *prompts,
                     const int32_t *n_prompt, int n_prompts, struct rg_chat_prompt *chat)
{
    static atomic_ullong next;
    struct stream *s = stream_new(st, m, mode);
    if (!s) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        rg_engine_release(m, NAN);
        return;
    }
    s->stream = g->stream;
    s->include_usage = g->include_usage;
    s->logprobs = g->er.logprobs;
    s->keep_alive = g->keep_alive;
    s->n_answers = g->er.n * n_prompts;
    snprintf(s->rid, sizeof s->rid, "%s-%lx%04llx",
             mode == RG_API_OPENAI_TEXT ? "cmpl" : "chatcmpl", s->created,
             (unsigned long long)atomic_fetch_add(&next, 1) & 0xffff);
    if (chat) {
        s->tools = chat->tools;
        chat->tools = NULL;
    }
    s->extra = g->extra;
    g->extra = NULL;
    rg_chat_answer_init(&s->ans, s->tools, chat && chat->one_call);
    s->ans.forced = chat && chat->forced;
    if (s->logprobs) {
        s->lp_all = json_array();
        s->lp_unsent = json_array();
    }
    struct rg_engine_request er = g->er;
    g->er.grammar = NULL; /* the engine's from submit on */
    er.tokens = prompts;
    er.n_tokens = n_prompt;
    er.n_inputs = n_prompts;
    long prompt_total = 0;
    for (int i = 0; i < n_prompts; i++)
        prompt_total += n_prompt[i];
    rg_http_req_log_model(r, rg_engine_model_name(m), s->stream, prompt_total, 0);
    start(r, s, &er,
          is_ollama(s) ? (s->stream ? "application/x-ndjson" : "application/json")
          : s->stream  ? "text/event-stream"
                       : "application/json");
}

void rg_api_embed(struct rg_http_req *r, struct rg_api_state *st, struct rg_engine_model *m,
                  const int32_t *const *inputs, const int32_t *n_input, int n_inputs,
                  enum rg_api_embed_shape shape)
{
    struct stream *s = stream_new(st, m, RG_API_OPENAI_TEXT);
    if (!s) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        rg_engine_release(m, NAN);
        return;
    }
    s->embed = true;
    s->shape = shape;
    s->base64 = shape == RG_API_EMBED_BASE64;
    snprintf(s->rid, sizeof s->rid, "embd-%lx", s->created);
    rg_chat_answer_init(&s->ans, NULL, false);
    struct rg_engine_request er = {
        .kind = RG_ENGINE_EMBED, .tokens = inputs, .n_tokens = n_input, .n_inputs = n_inputs};
    long total = 0;
    for (int i = 0; i < n_inputs; i++)
        total += n_input[i];
    rg_http_req_log_model(r, rg_engine_model_name(m), false, total, 0);
    start(r, s, &er, "application/json");
}

void rg_api_generate_kept(struct rg_http_req *r, struct rg_api_state *st, struct rg_engine_model *m,
                          struct rg_api_gen *g, const int32_t *prompt, int32_t n,
                          const struct rg_api_keep *keep)
{
    static atomic_ullong next;
    struct stream *s = stream_new(st, m, RG_API_KEPT);
    if (!s) {
        if (keep->free) keep->free(keep->user);
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        rg_engine_release(m, NAN);
        return;
    }
    s->keep = *keep;
    s->stream = g->stream;
    snprintf(s->rid, sizeof s->rid, "chat-%lx%04llx", s->created,
             (unsigned long long)atomic_fetch_add(&next, 1) & 0xffff);
    rg_chat_answer_init(&s->ans, NULL, false);
    struct rg_engine_request er = g->er;
    g->er.grammar = NULL; /* the engine's from submit on */
    er.n = 1;
    er.tokens = &prompt;
    er.n_tokens = &n;
    er.n_inputs = 1;
    rg_http_req_log_model(r, rg_engine_model_name(m), s->stream, n, 0);
    start(r, s, &er, s->stream ? "text/event-stream" : "application/json");
}
