/*
 * Thread pool for the forward pass: n-1 workers plus the caller. One run at a
 * time; workers wait on a condition variable between runs (a generation step
 * is milliseconds long, so sleeping costs little next to the math), and the
 * caller takes part as thread 0.
 */
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "engine/kernels/kernels.h"

struct rg_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    rg_pool_fn fn;
    void *ctx;
    unsigned long generation; /* bumped for each run */
    int pending;              /* workers still running this generation */
    bool quit;
};

struct worker_arg {
    struct rg_pool *p;
    int ith;
};

static void *worker(void *arg)
{
    struct worker_arg *w = arg;
    struct rg_pool *p = w->p;
    int ith = w->ith;
    rg_free(w);
    unsigned long seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->start, &p->lock);
        if (p->quit) break;
        seen = p->generation;
        rg_pool_fn fn = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->lock);
        fn(ctx, ith, p->n);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int rg_pool_create(int n_threads, struct rg_pool **out)
{
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    if (n_threads > 1024) return RG_EINVAL;
    struct rg_pool *p = rg_calloc(1, sizeof *p);
    if (!p) return RG_ENOMEM;
    p->n = n_threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    p->threads = rg_calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        rg_pool_free(p);
        return RG_ENOMEM;
    }
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *w = rg_malloc(sizeof *w);
        if (w) *w = (struct worker_arg){p, i};
        if (!w || pthread_create(&p->threads[i], NULL, worker, w) != 0) {
            rg_free(w);
            p->n = i; /* only these exist */
            rg_pool_free(p);
            return RG_ENOMEM;
        }
    }
    *out = p;
    return RG_OK;
}

void rg_pool_free(struct rg_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->quit = true;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->n; i++)
        if (p->threads && p->threads[i]) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    rg_free(p->threads);
    rg_free(p);
}

int rg_pool_size(const struct rg_pool *p) { return p ? p->n : 1; }

void rg_pool_run(struct rg_pool *p, rg_pool_fn fn, void *ctx)
{
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->ctx = ctx;
    p->pending = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    fn(ctx, 0, p->n);
    pthread_mutex_lock(&p->lock);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}
