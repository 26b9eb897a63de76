/*
 * A request's event queue: the scheduler appends, the caller takes. Text
 * that arrives while the caller has not read the last piece is appended to
 * it, so the queue stays a few events long whatever the speeds; its bytes
 * are bounded, and a caller that stops reading has its request ended
 * rather than the memory grow.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "engine/runtime/runtime_internal.h"

void rg_engine_event_clear(struct rg_engine_event *ev)
{
    if (!ev) return;
    rg_free(ev->text);
    rg_free(ev->lp);
    rg_free(ev->vec);
    memset(ev, 0, sizeof *ev);
}

int rg_rt_queue_init(struct rg_rt_queue *q)
{
    memset(q, 0, sizeof *q);
    q->cap = 8;
    q->ev = rg_calloc((size_t)q->cap, sizeof *q->ev);
    if (!q->ev) return RG_ENOMEM;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->ready, NULL);
    return RG_OK;
}

void rg_rt_queue_free(struct rg_rt_queue *q)
{
    if (!q->ev) return;
    for (int i = 0; i < q->n; i++)
        rg_engine_event_clear(&q->ev[(q->head + i) % q->cap]);
    rg_free(q->ev);
    q->ev = NULL;
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->ready);
}

static size_t ev_bytes(const struct rg_engine_event *ev)
{
    return ev->len + (size_t)ev->n_tok * (size_t)ev->lp_stride * sizeof *ev->lp +
           (size_t)ev->n_vec * sizeof *ev->vec;
}

/* q->lock held. */
static int push_locked(struct rg_rt_queue *q, struct rg_engine_event *ev)
{
    if (q->n == q->cap) {
        int cap = q->cap * 2;
        struct rg_engine_event *nv = rg_calloc((size_t)cap, sizeof *nv);
        if (!nv) return RG_ENOMEM;
        for (int i = 0; i < q->n; i++)
            nv[i] = q->ev[(q->head + i) % q->cap];
        rg_free(q->ev);
        q->ev = nv;
        q->head = 0;
        q->cap = cap;
    }
    q->ev[(q->head + q->n) % q->cap] = *ev;
    q->n++;
    q->bytes += ev_bytes(ev);
    if (ev->type == RG_ENGINE_EV_END) q->ended = true;
    memset(ev, 0, sizeof *ev);
    pthread_cond_broadcast(&q->ready);
    return RG_OK;
}

int rg_rt_queue_push(struct rg_rt_queue *q, struct rg_engine_event *ev, size_t max)
{
    pthread_mutex_lock(&q->lock);
    int rc = ev->type != RG_ENGINE_EV_END && q->bytes + ev_bytes(ev) > max ? RG_ENOMEM
                                                                           : push_locked(q, ev);
    pthread_mutex_unlock(&q->lock);
    if (rc != RG_OK) rg_engine_event_clear(ev);
    return rc;
}

int rg_rt_queue_push_end(struct rg_rt_queue *q, struct rg_engine_event *ev,
                         rg_engine_notify_fn notify, void *user)
{
    pthread_mutex_lock(&q->lock);
    int rc = push_locked(q, ev);
    if (rc != RG_OK) { /* no room to grow: the END replaces what is unread */
        for (int i = 0; i < q->n; i++)
            rg_engine_event_clear(&q->ev[(q->head + i) % q->cap]);
        q->n = 0;
        q->bytes = 0;
        rc = push_locked(q, ev);
    }
    /* told with the queue held, so the caller cannot take END (and free what
     * notify uses) before notify returns */
    if (notify) notify(user);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

/* Grows *p to hold m elements of size: true on success (*p unchanged otherwise). */
static bool grow(void **p, size_t m, size_t size)
{
    size_t bytes;
    if (!rg_mul_size(m, size, &bytes)) return false;
    void *np = rg_realloc(*p, bytes ? bytes : 1);
    if (!np) return false;
    *p = np;
    return true;
}

int rg_rt_queue_text(struct rg_rt_queue *q, int choice, const char *text, size_t len, int n_tok,
                     const struct rg_engine_logprob *lp, int lp_stride, size_t max)
{
    size_t n_lp = lp ? (size_t)n_tok * (size_t)lp_stride : 0;
    pthread_mutex_lock(&q->lock);
    int rc = RG_OK;
    if (q->bytes + len + n_lp * sizeof *lp > max) {
        rc = RG_ENOMEM;
        goto out;
    }
    struct rg_engine_event *last = q->n ? &q->ev[(q->head + q->n - 1) % q->cap] : NULL;
    if (!last || last->type != RG_ENGINE_EV_TEXT || last->choice != choice ||
        (lp && last->lp_stride != lp_stride)) {
        struct rg_engine_event ev = {.type = RG_ENGINE_EV_TEXT, .choice = choice};
        ev.text = rg_malloc(1);
        if (!ev.text || (rc = push_locked(q, &ev)) != RG_OK) {
            rg_free(ev.text);
            rc = RG_ENOMEM;
            goto out;
        }
        last = &q->ev[(q->head + q->n - 1) % q->cap];
        last->text[0] = '\0';
        last->lp_stride = lp ? lp_stride : 0;
    }
    if (len) {
        if (!grow((void **)&last->text, last->len + len + 1, 1)) {
            rc = RG_ENOMEM;
            goto out;
        }
        memcpy(last->text + last->len, text, len);
        last->len += len;
        last->text[last->len] = '\0';
    }
    if (n_lp) {
        size_t have = (size_t)last->n_tok * (size_t)lp_stride;
        if (!grow((void **)&last->lp, have + n_lp, sizeof *lp)) {
            rc = RG_ENOMEM;
            goto out;
        }
        memcpy(last->lp + have, lp, n_lp * sizeof *lp);
    }
    last->n_tok += n_tok;
    q->bytes += len + n_lp * sizeof *lp;
    pthread_cond_broadcast(&q->ready);
out:
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int rg_rt_queue_pop(struct rg_rt_queue *q, struct rg_engine_event *ev, int timeout_ms)
{
    pthread_mutex_lock(&q->lock);
    if (!q->n && timeout_ms != 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        if (timeout_ms > 0) {
            ts.tv_sec += timeout_ms / 1000;
            ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
        }
        while (!q->n) {
            if (timeout_ms < 0)
                pthread_cond_wait(&q->ready, &q->lock);
            else if (pthread_cond_timedwait(&q->ready, &q->lock, &ts) != 0)
                break;
        }
    }
    int got = 0;
    if (q->n) {
        *ev = q->ev[q->head];
        memset(&q->ev[q->head], 0, sizeof q->ev[q->head]);
        q->head = (q->head + 1) % q->cap;
        q->n--;
        q->bytes -= ev_bytes(ev);
        if (ev->type == RG_ENGINE_EV_END) q->read_end = true;
        got = 1;
    }
    pthread_mutex_unlock(&q->lock);
    return got;
}
