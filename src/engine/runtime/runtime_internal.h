/*
 * What the runtime's files share: the registry (registry.c) owns the table
 * of served models; each served model has a scheduler thread
 * (scheduler.c) that owns its context, slots and running requests; each
 * request has an event queue (events.c) that its caller reads.
 *
 * Locks, outermost first: e->lock (the model table, holders, states) ->
 * s->lock (a model's queue, slots' busy flags, stop) -> q->lock (one
 * request's events). None is held across a model load, a KV allocation,
 * a decode step or a caller's notify function.
 */
#ifndef RG_ENGINE_RUNTIME_INTERNAL_H
#define RG_ENGINE_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "common/buf.h"
#include "engine/constrain/constrain.h"
#include "engine/constrain/grammar.h"
#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"

#define RG_RT_MAX_MODELS 64

struct rg_rt_req;

enum rg_rt_state { RG_RT_LOADING, RG_RT_READY, RG_RT_FAILED };

struct rg_rt_slot {
    int32_t *cached; /* (n_ctx + 1) tokens this sequence of the context holds */
    int32_t n_cached;
    uint64_t last_used; /* admission count when its last request arrived; 0 = never */
    bool busy;          /* under s->lock */
    struct rg_rt_req *req;
};

/* A model being served: weights, one context whose n_slots sequences are
 * the slots, and the scheduler thread that owns them. */
struct rg_rt_served {
    char id[128];
    char path[4096];
    struct rg_engine *e;
    /* under e->lock */
    enum rg_rt_state state;
    char load_err[RG_ERR_SIZE];
    int load_rc;
    int users;        /* holders (callers and requests) */
    double last_used; /* when the last holder left */
    double keep;      /* keep_alive of the last release that set one; NAN: the engine's */
    bool pinned;      /* a -m model: loaded at start, never unloaded */
    size_t mem;       /* weights + KV, against max_memory */
    /* set by the load, then read-only */
    struct rg_model *m;
    enum rg_chat_format fmt;
    int32_t n_ctx; /* per slot */
    int n_slots;
    bool embed_only; /* an encoder (bert): no generation context */
    /* under lock */
    pthread_mutex_t lock;
    pthread_cond_t work;     /* a request was queued or cancelled, or stop */
    struct rg_rt_req *queue; /* by priority, then arrival */
    int queued[2];           /* per priority */
    uint64_t admitted;
    bool stop;
    pthread_t sched;
    bool sched_started;
    /* the scheduler thread's own */
    struct rg_ctx *ctx;       /* generation: n_seq = n_slots */
    struct rg_ctx *embed_ctx; /* embeddings: one sequence, the generation context's threads */
    struct rg_rt_slot *slots;
    struct rg_jg_vocab *tv; /* every token's bytes as a trie, for the grammar */
};

/* A caller's hold on a served model. */
struct rg_engine_model {
    struct rg_rt_served *s;
};

struct rg_engine {
    struct rg_engine_params p;
    char **model_paths; /* copies of p.models */
    char *models_dir;
    pthread_mutex_t lock;   /* models[], each served's e->lock fields */
    pthread_cond_t changed; /* a load ended, a holder left, or stop */
    struct rg_rt_served *models[RG_RT_MAX_MODELS];
    int n_models;
    bool stopping;
    pthread_t reaper, preload;
    bool reaper_started, preload_started;
    /* live requests by id */
    pthread_mutex_t req_lock;
    struct rg_rt_req *reqs;
    atomic_ullong next_id;
};

/* ---- a request's event queue (events.c) ---- */
struct rg_rt_queue {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct rg_engine_event *ev; /* FIFO ring of n events at head */
    int head, n, cap;
    size_t bytes;  /* text and vector bytes queued */
    bool ended;    /* END is queued: nothing more comes */
    bool read_end; /* the caller read END */
};

int rg_rt_queue_init(struct rg_rt_queue *q);
void rg_rt_queue_free(struct rg_rt_queue *q);
/* Appends text (and its tokens' logprobs) to the last TEXT event of the
 * same choice or a new one. RG_ENOMEM also when more than max bytes are
 * unread. */
int rg_rt_queue_text(struct rg_rt_queue *q, int choice, const char *text, size_t len, int n_tok,
                     const struct rg_engine_logprob *lp, int lp_stride, size_t max);
/* Appends an event (taking what it holds). */
int rg_rt_queue_push(struct rg_rt_queue *q, struct rg_engine_event *ev, size_t max);
/* Appends END and calls notify(user) before the caller can take it. */
int rg_rt_queue_push_end(struct rg_rt_queue *q, struct rg_engine_event *ev,
                         rg_engine_notify_fn notify, void *user);
/* 1 with *ev, 0 none within timeout_ms. */
int rg_rt_queue_pop(struct rg_rt_queue *q, struct rg_engine_event *ev, int timeout_ms);

/* ---- a request (scheduler.c) ---- */
enum rg_rt_phase {
    RG_RT_QUEUED,
    RG_RT_PREFILL, /* set up, find the cached prefix */
    RG_RT_PROMPT,  /* the rest of the prompt goes in, a chunk per step */
    RG_RT_DECODE,  /* a token per step */
    RG_RT_DONE
};

struct rg_rt_req {
    uint64_t id;
    char log_id[64];
    struct rg_engine *e;
    struct rg_rt_served *s;     /* held from submit until END is queued */
    struct rg_engine_request r; /* with owned copies of tokens, stops, bias */
    int32_t **toks;             /* r.n_inputs prompts */
    int32_t *n_toks;
    char **stops; /* r.n_stops owned copies */
    struct rg_logit_bias *bias;
    rg_engine_notify_fn notify;
    void *user;
    atomic_bool cancel;
    struct rg_rt_queue q;
    int refs; /* scheduler + caller; under e->req_lock */
    struct rg_rt_req *qnext, *live_next;
    /* generation state, the scheduler thread's own */
    enum rg_rt_phase phase;
    int slot;
    int choice; /* answer being generated: prompt choice / n, its (choice % n)-th */
    const int32_t *cur;
    int32_t n_cur;
    struct rg_sampler *smp;
    struct rg_detok d;
    struct rg_buf pending; /* text held back: it may be the start of a stop string */
    float *logits, *raw, *scratch;
    struct rg_jg_state *jst;
    struct rg_engine_logprob *lp; /* this token's logprobs (1 + top_logprobs) */
    int32_t next, fed, take;
    long n_gen;
    bool tell; /* events queued since the caller was last told */
    const char *finish;
    int rc;
    char err[RG_ERR_SIZE];
    long n_prompt_total, n_cached_total, n_gen_total;
    double t_queued, t_admit, t_first, t_done;
};

/* scheduler.c */
void *rg_rt_scheduler(void *served);
/* Ends a request that never reached a slot (stop, cancel while queued). */
void rg_rt_req_end(struct rg_rt_req *j, int rc, const char *why);
/* registry.c: drops one reference to a request (frees it at zero). */
void rg_rt_req_unref(struct rg_rt_req *j);
void rg_rt_release_served(struct rg_rt_served *s, double keep);
double rg_rt_now(void);

#endif
