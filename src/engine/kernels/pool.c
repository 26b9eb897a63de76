/*
 * Thread pool for the forward pass: n-1 workers plus the caller, one run at a
 * time. A token's forward pass is a few hundred runs of tens to hundreds of
 * microseconds each, so waking through a condition variable every time would
 * cost more than the work: workers spin on an atomic generation counter for
 * a while after each run and only then sleep; the caller spins on the count
 * of workers still busy the same way.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sched.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#include "common/alloc.h"
#include "common/err.h"
#include "engine/kernels/kernels.h"

/* Spin briefly (tens of microseconds), then yield the core a while, then
 * sleep: when the machine has fewer free cores than threads (another
 * process, or two contexts at once), spinning would steal the very core the
 * awaited thread needs. */
#define SPIN_ROUNDS 4000
#define YIELD_ROUNDS 200

struct rg_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    rg_pool_fn fn;
    void *ctx;
    atomic_ulong generation; /* bumped for each run */
    atomic_int pending;      /* workers still running this generation */
    atomic_bool quit;
    int sleepers;         /* workers waiting on `start` (under lock) */
    bool caller_sleeping; /* caller waiting on `done` (under lock) */
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
    for (;;) {
        unsigned long g;
        int spins = 0;
        while ((g = atomic_load(&p->generation)) == seen && !atomic_load(&p->quit) &&
               spins < SPIN_ROUNDS + YIELD_ROUNDS) {
            if (spins++ < SPIN_ROUNDS)
                CPU_RELAX();
            else
                sched_yield();
        }
        if (g == seen && !atomic_load(&p->quit)) {
            pthread_mutex_lock(&p->lock);
            p->sleepers++;
            while ((g = atomic_load(&p->generation)) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->start, &p->lock);
            p->sleepers--;
            pthread_mutex_unlock(&p->lock);
        }
        if (atomic_load(&p->quit)) break;
        seen = g;
        p->fn(p->ctx, ith, p->n);
        if (atomic_fetch_sub(&p->pending, 1) == 1) {
            pthread_mutex_lock(&p->lock);
            if (p->caller_sleeping) pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
    return NULL;
}

static atomic_long pools_created; /* for tests: who starts compute threads */

long rg_pool_created(void)
{
    return atomic_load(&pools_created);
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
    atomic_fetch_add(&pools_created, 1);
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
    atomic_store(&p->quit, true);
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

int rg_pool_size(const struct rg_pool *p)
{
    return p ? p->n : 1;
}

void rg_pool_run(struct rg_pool *p, rg_pool_fn fn, void *ctx)
{
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, p->n - 1);
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add(&p->generation, 1);
    if (p->sleepers) pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    fn(ctx, 0, p->n);
    int spins = 0;
    while (atomic_load(&p->pending) > 0 && spins < SPIN_ROUNDS + YIELD_ROUNDS) {
        if (spins++ < SPIN_ROUNDS)
            CPU_RELAX();
        else
            sched_yield();
    }
    if (atomic_load(&p->pending) > 0) {
        pthread_mutex_lock(&p->lock);
        p->caller_sleeping = true;
        while (atomic_load(&p->pending) > 0)
            pthread_cond_wait(&p->done, &p->lock);
        p->caller_sleeping = false;
        pthread_mutex_unlock(&p->lock);
    }
}
