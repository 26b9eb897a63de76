/*
 * The model registry: which models are served, loaded on first use, held by
 * callers and requests, unloaded when idle longer than their keep-alive or
 * when a memory budget needs room (least recently used first); and the
 * table of live requests by id.
 *
 * A model that is loading is in the table as RG_RT_LOADING: the load runs
 * on the caller's thread with no lock held, so /status, other models and
 * their requests go on; a second caller of the same id waits on
 * e->changed for the first one's load to end.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/str.h"
#include "engine/gguf/gguf.h"
#include "engine/kernels/kernels.h"
#include "engine/runtime/runtime_internal.h"

double rg_rt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct rg_engine_params rg_engine_default_params(void)
{
    return (struct rg_engine_params){.models_dir = "models",
                                     .n_slots = 1,
                                     .keep_alive = 300,
                                     .max_queue = 64,
                                     .max_event_bytes = 4u << 20,
                                     .preload = true};
}

long rg_engine_pools_started(void)
{
    return rg_pool_created();
}

void rg_engine_model_id_of(const char *path, char *id, size_t n)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t l = strlen(b);
    if (rg_str_ends_with(b, ".gguf")) l -= 5;
    snprintf(id, n, "%.*s", (int)RG_MIN(l, n - 1), b);
}

const char *rg_engine_model_id_canon(const char *id, char *buf, size_t n)
{
    size_t l = strlen(id), tl = strlen(":latest");
    if (l <= tl || strcmp(id + l - tl, ":latest") != 0 || l - tl >= n) return id;
    memcpy(buf, id, l - tl);
    buf[l - tl] = '\0';
    return buf;
}

bool rg_engine_model_path(const struct rg_engine *e, const char *id, char *out, size_t n)
{
    char cb[128]; /* the size of an id (rg_rt_served.id) */
    id = rg_engine_model_id_canon(id, cb, sizeof cb);
    for (size_t i = 0; i < e->p.n_models; i++) {
        char mid[128];
        rg_engine_model_id_of(e->model_paths[i], mid, sizeof mid);
        if (!strcmp(mid, id)) {
            snprintf(out, n, "%s", e->model_paths[i]);
            return true;
        }
    }
    if (!*id || strchr(id, '/') || strstr(id, ".."))
        return false; /* ids never walk the filesystem */
    int w = snprintf(out, n, "%s/%s.gguf", e->models_dir, id);
    return w > 0 && (size_t)w < n && access(out, R_OK) == 0;
}

/* The context served per slot: the configured one, else the model's own up
 * to 4096. Clients are told this one, not the training length, since it is
 * what a prompt must fit (Copilot sizes its prompts by it). */
int32_t rg_engine_served_ctx(const struct rg_engine *e, int64_t n_ctx_train)
{
    if (e->p.n_ctx > 0) return e->p.n_ctx;
    if (n_ctx_train <= 0) n_ctx_train = 2048; /* the engine's default when the file has none */
    return (int32_t)RG_MIN(n_ctx_train, 4096);
}

/* Weights (their file, mapped) plus the KV cache of every slot. */
static size_t model_mem(const struct rg_model_info *I, int32_t n_ctx, int n_slots, bool f16)
{
    size_t kv = (size_t)n_slots * (size_t)I->n_layer * (size_t)n_ctx * (size_t)I->n_head_kv *
                (size_t)I->head_dim * 2 * (f16 ? sizeof(uint16_t) : sizeof(float));
    return (size_t)I->file_size + kv;
}

/* ---- a served model's life ---- */

/* Stops the scheduler: it ends what it still has (nothing, unless the
 * engine is stopping and cancelled every request) and exits. */
static void stop_scheduler(struct rg_rt_served *s)
{
    if (!s->sched_started) return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->sched, NULL);
    s->sched_started = false;
}

/* Stops the scheduler and frees everything. */
static void served_free(struct rg_rt_served *s)
{
    if (!s) return;
    stop_scheduler(s);
    for (int k = 0; s->slots && k < s->n_slots; k++)
        rg_free(s->slots[k].cached);
    rg_free(s->slots);
    rg_ctx_free(s->embed_ctx); /* before the context whose threads it borrows */
    rg_ctx_free(s->ctx);
    rg_jg_vocab_free(s->tv);
    rg_model_free(s->m);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work);
    rg_free(s);
}

static void unload(struct rg_rt_served *s, const char *why)
{
    rg_log(RG_LOG_INFO, "model unloaded", "id", 's', s->id, "reason", 's', why, RG_LOG_END);
    served_free(s);
}

/* Loads s->path: weights, context, slots, scheduler. No lock held. */
static int load(struct rg_engine *e, struct rg_rt_served *s, char *err)
{
    if (e->p.load_delay_ms > 0) usleep((useconds_t)e->p.load_delay_ms * 1000u);
    char lerr[RG_ERR_SIZE];
    s->m = rg_model_load(s->path, NULL, lerr);
    if (!s->m) return rg_err_set(err, RG_EFORMAT, "cannot load model '%.60s': %.160s", s->id, lerr);
    const struct rg_model_info *I = rg_model_info(s->m);
    const char *jinja = NULL;
    rg_gguf_get_str(rg_model_gguf(s->m), "tokenizer.chat_template", &jinja);
    s->fmt = rg_chat_detect(jinja);
    s->n_ctx = rg_engine_served_ctx(e, I->n_ctx_train);
    s->embed_only = !strcmp(I->arch, "bert");
    s->n_slots = s->embed_only ? 0 : e->p.n_slots > 0 ? e->p.n_slots : 1;
    s->mem = model_mem(I, s->n_ctx, RG_MAX(s->n_slots, 1), e->p.kv_f16);
    if (s->n_slots > 0) {
        struct rg_ctx_params cp = rg_ctx_default_params();
        cp.n_ctx = s->n_ctx;
        cp.n_threads = e->p.n_threads;
        cp.n_seq = s->n_slots;
        cp.kv_type = e->p.kv_f16 ? RG_TYPE_F16 : RG_TYPE_F32;
        s->ctx = rg_ctx_new(s->m, &cp, err);
        if (!s->ctx) return RG_ENOMEM;
        s->slots = rg_calloc((size_t)s->n_slots, sizeof *s->slots);
        if (!s->slots) return rg_err_set(err, RG_ENOMEM, "out of memory");
        for (int i = 0; i < s->n_slots; i++) {
            s->slots[i].cached = rg_malloc_array((size_t)s->n_ctx + 1, sizeof(int32_t));
            if (!s->slots[i].cached) return rg_err_set(err, RG_ENOMEM, "out of memory");
        }
    }
    if (pthread_create(&s->sched, NULL, rg_rt_scheduler, s) != 0)
        return rg_err_set(err, RG_ENOMEM, "cannot start the scheduler");
    s->sched_started = true;
    rg_log(RG_LOG_INFO, "model loaded", "id", 's', s->id, "arch", 's', I->arch, "n_ctx", 'i',
           (long long)s->n_ctx, "slots", 'i', (long long)s->n_slots, "chat_format", 's',
           rg_chat_format_name(s->fmt), RG_LOG_END);
    return RG_OK;
}

/* Takes the least recently used idle ready model out of the table (e->lock
 * held); NULL when every loaded model is in use. */
static struct rg_rt_served *take_idle(struct rg_engine *e, bool expired_only)
{
    int best = -1;
    double now = rg_rt_now();
    for (int i = 0; i < e->n_models; i++) {
        struct rg_rt_served *s = e->models[i];
        if (s->users > 0 || s->pinned || s->state != RG_RT_READY) continue;
        double keep = isnan(s->keep) ? (double)e->p.keep_alive : s->keep;
        if (expired_only && (keep < 0 || now - s->last_used < keep)) continue;
        if (best < 0 || s->last_used < e->models[best]->last_used) best = i;
    }
    if (best < 0) return NULL;
    struct rg_rt_served *s = e->models[best];
    e->models[best] = e->models[--e->n_models];
    return s;
}

static void remove_model(struct rg_engine *e, struct rg_rt_served *s)
{
    for (int i = 0; i < e->n_models; i++)
        if (e->models[i] == s) {
            e->models[i] = e->models[--e->n_models];
            return;
        }
}

static struct rg_rt_served *find(struct rg_engine *e, const char *id)
{
    for (int i = 0; i < e->n_models; i++)
        if (!strcmp(e->models[i]->id, id)) return e->models[i];
    return NULL;
}

/* With s loaded (e->lock held): makes room under the memory budget by
 * unloading idle models into *evicted (freed by the caller, unlocked).
 * RG_EBUSY when the models in use leave too little. */
static int fit_budget(struct rg_engine *e, struct rg_rt_served *s, struct rg_rt_served **evicted,
                      int *n_evicted, char *err)
{
    if (e->p.max_memory == 0) return RG_OK;
    size_t used = 0;
    for (int i = 0; i < e->n_models; i++)
        if (e->models[i] != s) used += e->models[i]->mem;
    struct rg_rt_served *old;
    while (used + s->mem > e->p.max_memory && *n_evicted < RG_RT_MAX_MODELS &&
           (old = take_idle(e, false)) != NULL) {
        used -= old->mem;
        evicted[(*n_evicted)++] = old;
    }
    if (used + s->mem <= e->p.max_memory) return RG_OK;
    return rg_err_set(err, RG_EBUSY,
                      "model '%.60s' needs %zu MiB (weights and KV cache) and %zu MiB of the "
                      "%zu MiB --max-memory budget are held by models in use; try again when "
                      "they are idle, or lower --ctx-size/--parallel",
                      s->id, s->mem >> 20, used >> 20, e->p.max_memory >> 20);
}

int rg_engine_acquire(struct rg_engine *e, const char *id, struct rg_engine_model **out, char *err)
{
    *out = NULL;
    char cb[128]; /* the size of an id (rg_rt_served.id) */
    id = rg_engine_model_id_canon(id, cb, sizeof cb);
    struct rg_engine_model *h = rg_calloc(1, sizeof *h);
    if (!h) return rg_err_set(err, RG_ENOMEM, "out of memory");
    pthread_mutex_lock(&e->lock);
    struct rg_rt_served *s;
    while ((s = find(e, id)) != NULL && s->state == RG_RT_LOADING && !e->stopping)
        pthread_cond_wait(&e->changed, &e->lock);
    int rc = RG_OK;
    if (e->stopping) {
        rc = rg_err_set(err, RG_ECANCELED, "the server is stopping");
    } else if (s) {
        s->users++;
        h->s = s;
    } else {
        char path[4096];
        if (!rg_engine_model_path(e, id, path, sizeof path))
            rc = rg_err_set(err, RG_ENOTFOUND,
                            "The model '%.100s' does not exist (see GET /v1/models)", id);
        else if (e->n_models == RG_RT_MAX_MODELS)
            rc = rg_err_set(err, RG_EBUSY, "too many models loaded");
        else if (!(s = rg_calloc(1, sizeof *s)))
            rc = rg_err_set(err, RG_ENOMEM, "out of memory");
        if (rc == RG_OK && s) {
            snprintf(s->id, sizeof s->id, "%s", id);
            snprintf(s->path, sizeof s->path, "%s", path);
            s->e = e;
            s->state = RG_RT_LOADING;
            s->users = 1;
            s->keep = NAN;
            for (size_t i = 0; i < e->p.n_models; i++) /* a -m model stays */
                s->pinned |= !strcmp(e->model_paths[i], path);
            pthread_mutex_init(&s->lock, NULL);
            pthread_cond_init(&s->work, NULL);
            e->models[e->n_models++] = s;
            pthread_mutex_unlock(&e->lock);
            rc = load(e, s, err); /* nothing held: others go on */
            pthread_mutex_lock(&e->lock);
            struct rg_rt_served *evicted[RG_RT_MAX_MODELS];
            int n_evicted = 0;
            if (rc == RG_OK) rc = fit_budget(e, s, evicted, &n_evicted, err);
            if (rc == RG_OK) {
                s->state = RG_RT_READY;
                s->last_used = rg_rt_now();
                h->s = s;
            } else {
                remove_model(e, s);
            }
            pthread_cond_broadcast(&e->changed);
            pthread_mutex_unlock(&e->lock);
            for (int i = 0; i < n_evicted; i++)
                unload(evicted[i], "memory budget");
            if (rc != RG_OK) served_free(s);
            pthread_mutex_lock(&e->lock);
        }
    }
    pthread_mutex_unlock(&e->lock);
    if (rc != RG_OK) {
        rg_free(h);
        return rc;
    }
    *out = h;
    return RG_OK;
}

void rg_rt_release_served(struct rg_rt_served *s, double keep)
{
    struct rg_engine *e = s->e;
    pthread_mutex_lock(&e->lock);
    if (!isnan(keep)) s->keep = keep;
    s->users--;
    s->last_used = rg_rt_now();
    if (s->users == 0) pthread_cond_broadcast(&e->changed);
    pthread_mutex_unlock(&e->lock);
}

void rg_engine_release(struct rg_engine_model *m, double keep_alive)
{
    if (!m) return;
    rg_rt_release_served(m->s, keep_alive);
    rg_free(m);
}

const char *rg_engine_model_name(const struct rg_engine_model *m)
{
    return m->s->id;
}
const struct rg_model *rg_engine_model_get(const struct rg_engine_model *m)
{
    return m->s->m;
}
int32_t rg_engine_model_n_ctx(const struct rg_engine_model *m)
{
    return m->s->n_ctx;
}
enum rg_chat_format rg_engine_model_chat_format(const struct rg_engine_model *m)
{
    return m->s->fmt;
}

void rg_engine_set_keep_alive(struct rg_engine *e, const char *id, double seconds)
{
    char cb[128]; /* the size of an id (rg_rt_served.id) */
    id = rg_engine_model_id_canon(id, cb, sizeof cb);
    pthread_mutex_lock(&e->lock);
    struct rg_rt_served *s = find(e, id);
    if (s) s->keep = seconds;
    pthread_cond_broadcast(&e->changed); /* the reaper looks again */
    pthread_mutex_unlock(&e->lock);
}

/* ---- background threads ---- */

static void *reaper(void *arg)
{
    struct rg_engine *e = arg;
    pthread_mutex_lock(&e->lock);
    while (!e->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&e->changed, &e->lock, &ts);
        struct rg_rt_served *s;
        while (!e->stopping && (s = take_idle(e, true)) != NULL) {
            pthread_mutex_unlock(&e->lock); /* its scheduler is joined outside the lock */
            unload(s, "idle");
            pthread_mutex_lock(&e->lock);
        }
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

/* The -m models load while the server starts listening (as llama-server
 * does), so the first request does not wait; a file that fails to load is
 * logged and the rest go on. */
static void *preload(void *arg)
{
    struct rg_engine *e = arg;
    for (size_t i = 0; i < e->p.n_models; i++) {
        pthread_mutex_lock(&e->lock);
        bool stop = e->stopping;
        pthread_mutex_unlock(&e->lock);
        if (stop) break;
        char id[128], err[RG_ERR_SIZE];
        rg_engine_model_id_of(e->model_paths[i], id, sizeof id);
        struct rg_engine_model *m;
        if (rg_engine_acquire(e, id, &m, err) == RG_OK)
            rg_engine_release(m, NAN);
        else
            rg_log(RG_LOG_ERROR, "model not loaded", "id", 's', id, "error", 's', err, RG_LOG_END);
    }
    return NULL;
}

struct rg_engine *rg_engine_new(const struct rg_engine_params *p, char *err)
{
    struct rg_engine *e = rg_calloc(1, sizeof *e);
    if (!e) goto nomem;
    e->p = p ? *p : rg_engine_default_params();
    if (!e->p.max_event_bytes) e->p.max_event_bytes = 4u << 20;
    e->models_dir = rg_strdup(e->p.models_dir ? e->p.models_dir : "models");
    e->model_paths = rg_calloc(e->p.n_models + 1, sizeof *e->model_paths);
    if (!e->models_dir || !e->model_paths) goto nomem;
    for (size_t i = 0; i < e->p.n_models; i++)
        if (!(e->model_paths[i] = rg_strdup(e->p.models[i]))) goto nomem;
    e->p.models = NULL;
    e->p.models_dir = NULL;
    atomic_init(&e->next_id, 1);
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->changed, NULL);
    pthread_mutex_init(&e->req_lock, NULL);
    e->reaper_started = pthread_create(&e->reaper, NULL, reaper, e) == 0;
    if (e->p.n_models > 0 && e->p.preload)
        e->preload_started = pthread_create(&e->preload, NULL, preload, e) == 0;
    return e;
nomem:
    if (e) {
        for (size_t i = 0; e->model_paths && i < e->p.n_models; i++)
            rg_free(e->model_paths[i]);
        rg_free(e->model_paths);
        rg_free(e->models_dir);
        rg_free(e);
    }
    rg_err_set(err, RG_ENOMEM, "out of memory");
    return NULL;
}

void rg_engine_free(struct rg_engine *e)
{
    if (!e) return;
    pthread_mutex_lock(&e->lock);
    e->stopping = true;
    pthread_cond_broadcast(&e->changed);
    pthread_mutex_unlock(&e->lock);
    if (e->preload_started) pthread_join(e->preload, NULL);
    if (e->reaper_started) pthread_join(e->reaper, NULL);
    /* every request is asked to stop; the schedulers end them and exit */
    pthread_mutex_lock(&e->req_lock);
    for (struct rg_rt_req *j = e->reqs; j; j = j->live_next)
        atomic_store(&j->cancel, true);
    pthread_mutex_unlock(&e->req_lock);
    for (int i = 0; i < e->n_models; i++)
        stop_scheduler(e->models[i]);
    /* what no caller read to its end (each releases its model) */
    for (;;) {
        pthread_mutex_lock(&e->req_lock);
        struct rg_rt_req *j = e->reqs;
        if (j) j->refs = 1;
        pthread_mutex_unlock(&e->req_lock);
        if (!j) break;
        rg_rt_req_unref(j);
    }
    for (int i = 0; i < e->n_models; i++)
        served_free(e->models[i]);
    for (size_t i = 0; i < e->p.n_models; i++)
        rg_free(e->model_paths[i]);
    rg_free(e->model_paths);
    rg_free(e->models_dir);
    pthread_cond_destroy(&e->changed);
    pthread_mutex_destroy(&e->lock);
    pthread_mutex_destroy(&e->req_lock);
    rg_free(e);
}

/* ---- requests by id ---- */

static struct rg_rt_req *lookup(struct rg_engine *e, uint64_t id, bool ref)
{
    pthread_mutex_lock(&e->req_lock);
    struct rg_rt_req *j = e->reqs;
    while (j && j->id != id)
        j = j->live_next;
    if (j && ref) j->refs++;
    pthread_mutex_unlock(&e->req_lock);
    return j;
}

int rg_engine_next(struct rg_engine *e, uint64_t id, struct rg_engine_event *ev, int timeout_ms)
{
    memset(ev, 0, sizeof *ev);
    struct rg_rt_req *j = lookup(e, id, true);
    if (!j) return RG_ENOTFOUND;
    pthread_mutex_lock(&j->q.lock);
    bool done = j->q.read_end;
    pthread_mutex_unlock(&j->q.lock);
    int got = done ? RG_ENOTFOUND : rg_rt_queue_pop(&j->q, ev, timeout_ms);
    if (got == 1 && ev->type == RG_ENGINE_EV_END) rg_rt_req_unref(j); /* the caller's reference */
    rg_rt_req_unref(j);                                               /* lookup's */
    return got;
}

void rg_engine_cancel(struct rg_engine *e, uint64_t id)
{
    struct rg_rt_req *j = lookup(e, id, true);
    if (!j) return;
    atomic_store(&j->cancel, true);
    /* the model is held until END is queued, and END waits for q.lock */
    pthread_mutex_lock(&j->q.lock);
    if (!j->q.ended) {
        pthread_mutex_lock(&j->s->lock);
        pthread_cond_signal(&j->s->work);
        pthread_mutex_unlock(&j->s->lock);
    }
    pthread_mutex_unlock(&j->q.lock);
    rg_rt_req_unref(j);
}

/* ---- status ---- */

json_t *rg_engine_status(struct rg_engine *e)
{
    json_t *arr = json_array();
    if (!arr) return NULL;
    pthread_mutex_lock(&e->lock);
    double now = rg_rt_now();
    for (int i = 0; i < e->n_models; i++) {
        struct rg_rt_served *s = e->models[i];
        json_t *o;
        if (s->state != RG_RT_READY) {
            o = json_pack("{s:s, s:s}", "id", s->id, "state", "loading");
        } else {
            const struct rg_model_info *I = rg_model_info(s->m);
            int busy = 0, q0, q1;
            pthread_mutex_lock(&s->lock);
            for (int k = 0; k < s->n_slots; k++)
                busy += s->slots[k].busy;
            q0 = s->queued[RG_ENGINE_INTERACTIVE];
            q1 = s->queued[RG_ENGINE_BACKGROUND];
            pthread_mutex_unlock(&s->lock);
            double keep = isnan(s->keep) ? (double)e->p.keep_alive : s->keep;
            o = json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:s, s:i, s:i, s:{s:i, s:i}, s:i, "
                          "s:f, s:f, s:b}",
                          "id", s->id, "state", "ready", "arch", I->arch, "n_ctx", s->n_ctx,
                          "file_size", (json_int_t)I->file_size, "memory_bytes", (json_int_t)s->mem,
                          "chat_format", rg_chat_format_name(s->fmt), "slots", s->n_slots,
                          "slots_busy", busy, "queued", "interactive", q0, "background", q1,
                          "requests", s->users, "idle_s", s->users ? 0.0 : now - s->last_used,
                          "keep_alive_s", keep, "pinned", (int)s->pinned);
        }
        if (o) json_array_append_new(arr, o);
    }
    pthread_mutex_unlock(&e->lock);
    return arr;
}

void rg_engine_totals(struct rg_engine *e, struct rg_engine_totals *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&e->lock);
    for (int i = 0; i < e->n_models; i++) {
        struct rg_rt_served *s = e->models[i];
        out->models++;
        if (s->state != RG_RT_READY) {
            out->loading++;
            continue;
        }
        pthread_mutex_lock(&s->lock);
        out->slots += s->n_slots;
        for (int k = 0; k < s->n_slots; k++)
            out->busy += s->slots[k].busy;
        out->queued += s->queued[0] + s->queued[1];
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&e->lock);
}
