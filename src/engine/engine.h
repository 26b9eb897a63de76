/*
 * RustyGPT's inference engine: the public API (everything else in
 * src/engine is internal). Depends on src/common alone.
 *
 * Objects and threads:
 *   struct rg_model  weights (memory-mapped GGUF), hyperparameters, vocabulary.
 *                    Immutable after load: share it between any number of
 *                    contexts and threads.
 *   struct rg_ctx    one sequence's KV cache, scratch buffers and a compute
 *                    thread pool. Use a context from one thread at a time.
 *
 * Errors are RG_E* codes (common/err.h) with a one-line message in an
 * RG_ERR_SIZE buffer.
 */
#ifndef RG_ENGINE_H
#define RG_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "engine/quant/quant.h"
#include "engine/sample/sample.h"
#include "engine/template/template.h"
#include "engine/tokenizer/tokenizer.h"

struct rg_model;
struct rg_ctx;

enum rg_rope_type { RG_ROPE_NORM = 0, RG_ROPE_NEOX = 2 };

struct rg_model_info {
    const char *arch; /* general.architecture */
    const char *name; /* general.name or the file name */
    int32_t n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, n_ff, head_dim, n_rot;
    float rms_eps, rope_base, rope_scale;
    enum rg_rope_type rope_type;
    enum rg_type ftype; /* most common matrix type */
    uint64_t n_params;
    size_t file_size;
    bool tied_embeddings;
};

struct rg_model_params {
    bool vocab_only; /* tokenizer only: no tensors are bound */
};
struct rg_model_params rg_model_default_params(void);

/* Loads a GGUF model. NULL with the reason in err: unreadable or malformed
 * file, unsupported architecture, a tensor missing or of the wrong shape or
 * type (named), vocabulary problems. */
struct rg_model *rg_model_load(const char *path, const struct rg_model_params *p, char *err);
void rg_model_free(struct rg_model *m); /* accepts NULL */
const struct rg_model_info *rg_model_info(const struct rg_model *m);
const struct rg_vocab *rg_model_vocab(const struct rg_model *m);
const struct rg_gguf *rg_model_gguf(const struct rg_model *m);

struct rg_ctx_params {
    const struct rg_ctx *share_pool; /* use this context's compute threads instead of starting
                                      * a pool (both contexts then run from one thread only) */
    int32_t n_ctx;        /* positions in the KV cache; 0 = the model's own context length */
    int32_t n_threads;    /* compute threads; 0 = one per core */
    int32_t n_batch;      /* most tokens per forward pass; 0 = 512 */
    int32_t n_seq;        /* sequences with their own KV cache, decoded together; 0 = 1 */
    enum rg_type kv_type; /* the KV cache's elements: RG_TYPE_F32 (0, the default: llama.cpp's
                           * F32 numbers) or RG_TYPE_F16 (half the memory, what llama.cpp and
                           * Ollama keep by default) */
};
struct rg_ctx_params rg_ctx_default_params(void);

struct rg_ctx *rg_ctx_new(struct rg_model *m, const struct rg_ctx_params *p, char *err);
void rg_ctx_free(struct rg_ctx *c);
int32_t rg_ctx_n_ctx(const struct rg_ctx *c);
/* Positions held in the KV cache (the next token goes at this position). */
int32_t rg_ctx_n_past(const struct rg_ctx *c);
/* Forgets cached positions from n_keep on (prefix reuse: keep the shared
 * part, decode the rest). RG_EINVAL if n_keep > n_past. */
int rg_ctx_truncate(struct rg_ctx *c, int32_t n_keep);

/*
 * Feeds n tokens at positions n_past.. n_past+n-1 (split into batches of at
 * most n_batch). Logits: if all_logits, logits must hold n * n_vocab floats
 * and gets one row per token; otherwise it holds n_vocab floats for the last
 * token (logits may be NULL to skip them). RG_EOVERFLOW when the context
 * would overflow (nothing is changed), RG_EINVAL for a token id out of range.
 */
int rg_decode(struct rg_ctx *c, const int32_t *tokens, int32_t n, float *logits, bool all_logits,
              char *err);

/*
 * Sentence embedding of tokens: the model's final hidden states (after the
 * output norm), mean-pooled and L2-normalized, into out (n_embd floats).
 * Uses and then forgets the context's cache (n_past is 0 afterwards).
 */
int rg_embed(struct rg_ctx *c, const int32_t *tokens, int32_t n, float *out, char *err);

/*
 * Several sequences in one step: each item's token goes at the next position
 * of its sequence (items of one sequence in order), every weight matrix is
 * read once for the whole batch, and attention stays within each sequence.
 * logits gets one row of n_vocab floats per item with .logits set, in order
 * (may be NULL). Errors (bad sequence or token, a sequence's context full)
 * change nothing.
 */
struct rg_batch_item {
    int32_t token, seq;
    bool logits;
};
int rg_decode_batch(struct rg_ctx *c, const struct rg_batch_item *items, int32_t n, float *logits,
                    char *err);
int32_t rg_ctx_n_seq(const struct rg_ctx *c);
int32_t rg_ctx_seq_past(const struct rg_ctx *c, int32_t seq);           /* -1 for a bad seq */
int rg_ctx_seq_truncate(struct rg_ctx *c, int32_t seq, int32_t n_keep); /* RG_EINVAL if bad */
/* Positions from..n-1 of sequence src are copied into sequence dst (their K
 * and V rows), which keeps its first `from` positions (the caller knows they
 * hold the same tokens) and then holds n. For a prompt that starts like
 * another sequence's: copying rows is far cheaper than computing them.
 * RG_EINVAL for a bad sequence, dst == src, from > what dst holds, or
 * from > n > what src holds; nothing changes then. */
int rg_ctx_seq_copy(struct rg_ctx *c, int32_t src, int32_t dst, int32_t from, int32_t n);

/* ==== The runtime: models served to many callers ====
 *
 * struct rg_engine keeps a registry of models (loaded on demand, kept
 * --keep-alive seconds after their last use, unloaded least recently used
 * first when a memory budget is short) and runs one scheduler thread per
 * loaded model. Callers hold a model with rg_engine_acquire() (for its
 * vocabulary, chat format and context), submit requests to it, and read each
 * request's events: the scheduler decodes every active request in one batched
 * step (continuous batching), reuses cached prompt prefixes, samples, applies
 * stop strings and the response grammar, and pushes small events into a
 * bounded queue per request. It never formats a reply and never holds a lock
 * across a model load or a KV allocation.
 *
 * Threads: every function here may be called from any thread.
 */
struct rg_engine;
struct rg_engine_model;
struct rg_jg;

struct rg_engine_params {
    const char *const *models; /* -m files: loaded at start, never unloaded */
    size_t n_models;
    const char *models_dir; /* <dir>/<id>.gguf */
    int32_t n_ctx;          /* per slot; 0 = the model's own, at most 4096 */
    int n_slots;            /* sequences decoded together per model; 0 = 1 */
    int n_threads;          /* compute threads per model; 0 = one per core */
    bool kv_f16;            /* KV cache of half floats */
    long keep_alive;        /* seconds an idle model stays loaded; < 0 forever */
    size_t max_memory;      /* weights + KV of loaded models; 0 = no limit */
    int max_queue;          /* requests waiting per model beyond its slots; more: RG_EBUSY */
    size_t max_event_bytes; /* unread event bytes per request before it is ended; 0 = 4 MiB */
    int load_delay_ms;      /* tests: a pause before each load, as a slow disk would make */
    bool preload;           /* load the -m models in the background at start (default) */
};
struct rg_engine_params rg_engine_default_params(void);

/* Copies the params (strings too). Starts loading the -m models in the
 * background (unless !preload). NULL on ENOMEM. */
struct rg_engine *rg_engine_new(const struct rg_engine_params *p, char *err);
/* Cancels every request, stops the schedulers, frees every model. Requests
 * whose events were not read to the end are freed too: call it after the
 * callers are gone. Accepts NULL. */
void rg_engine_free(struct rg_engine *e);

/* The model id of a path: its file name without ".gguf". */
void rg_engine_model_id_of(const char *path, char *id, size_t n);
/* Ollama's names: "x:latest" is model x (the tag Ollama gives a name
 * without one, which Open WebUI and others always add). Returns id itself,
 * or buf holding it without ":latest". */
const char *rg_engine_model_id_canon(const char *id, char *buf, size_t n);
/* The file of a model id, in either form: a -m file, else
 * <models_dir>/<id>.gguf that exists; false for an unknown id or one that
 * would leave the dir. */
bool rg_engine_model_path(const struct rg_engine *e, const char *id, char *out, size_t n);
/* The context served per slot for a model trained on n_ctx_train. */
int32_t rg_engine_served_ctx(const struct rg_engine *e, int64_t n_ctx_train);

/*
 * Holds model `id`, loading it if needed (other callers and other models
 * are not held up by a load: a second caller of the same id waits for it).
 * Returns RG_OK with *out, or:
 *   RG_ENOTFOUND  no such model;
 *   RG_EBUSY      the memory budget is held by models in use (err says how much);
 *   RG_EFORMAT    the file could not be loaded (err says why);
 *   RG_ENOMEM, RG_ECANCELED (the engine is stopping).
 */
int rg_engine_acquire(struct rg_engine *e, const char *id, struct rg_engine_model **out, char *err);
/* Done with a model. keep_alive: seconds it stays loaded once idle from now
 * on (Ollama's keep_alive; 0 = unload when idle); NAN = unchanged. */
void rg_engine_release(struct rg_engine_model *m, double keep_alive);
const char *rg_engine_model_name(const struct rg_engine_model *m);
const struct rg_model *rg_engine_model_get(const struct rg_engine_model *m);
int32_t rg_engine_model_n_ctx(const struct rg_engine_model *m); /* per request */
/* The model's chat format, detected once from its template at load. */
enum rg_chat_format rg_engine_model_chat_format(const struct rg_engine_model *m);
/* Sets how long an idle model stays (Ollama's keep_alive), loaded or not
 * (no effect when it is not loaded). */
void rg_engine_set_keep_alive(struct rg_engine *e, const char *id, double seconds);

enum rg_engine_kind { RG_ENGINE_GENERATE = 1, RG_ENGINE_EMBED };

/* Stop strings one request may give, each at most RG_ENGINE_MAX_STOP_LEN
 * bytes. Editors send many (Continue's autocomplete sends a dozen); the
 * check after each token costs stops x length, so both are capped. */
#define RG_ENGINE_MAX_STOPS 64
#define RG_ENGINE_MAX_STOP_LEN 256
enum rg_engine_priority { RG_ENGINE_INTERACTIVE = 0, RG_ENGINE_BACKGROUND = 1 };

struct rg_engine_request {
    enum rg_engine_kind kind;
    enum rg_engine_priority priority;
    const char *log_id; /* shown in the log line ("chatcmpl-..."); may be NULL */
    /* The prompts (GENERATE) or inputs (EMBED), token ids; copied. */
    const int32_t *const *tokens;
    const int32_t *n_tokens;
    int n_inputs;
    /* GENERATE: each prompt is answered n times, one after the other, each
     * answer with seed sp.seed + its index. */
    int n;
    struct rg_sample_params sp; /* bias copied */
    long max_tokens;            /* per answer; < 0: until the context is full */
    const char *const *stops;   /* never sent; the answer ends at them (copied) */
    int n_stops;                /* 0 to RG_ENGINE_MAX_STOPS */
    struct rg_jg *grammar;      /* the answer must be a document of it; the request owns it from
                                 * submit on, even when submit fails */
    bool ignore_eos;
    int top_logprobs; /* 0-20 alternatives per token (with logprobs) */
    bool logprobs;    /* each token's log probability in its TEXT event */
    /* Polled every step (may be NULL): true when the caller is gone. */
    bool (*cancelled)(void *user);
};

struct rg_engine_logprob {
    int32_t token;
    float logprob;
};

enum rg_engine_event_type {
    RG_ENGINE_EV_TEXT = 1,   /* text of an answer (may be empty: held back for a stop string) */
    RG_ENGINE_EV_CHOICE_END, /* an answer ended: finish "stop" or "length" */
    RG_ENGINE_EV_EMBEDDING,  /* one input's vector */
    RG_ENGINE_EV_END,        /* the request ended: usage, rc; nothing follows */
};

struct rg_engine_event {
    enum rg_engine_event_type type;
    int choice; /* which answer (prompt p's k-th answer is p * n + k), or which input */
    /* TEXT */
    char *text; /* len bytes (NUL after them) */
    size_t len;
    int n_tok;                    /* tokens generated for this text */
    struct rg_engine_logprob *lp; /* with logprobs: n_tok * (1 + top_logprobs) entries, each
                                   * token's own first, then its alternatives best first */
    int lp_stride;                /* 1 + top_logprobs */
    /* CHOICE_END */
    const char *finish;
    /* EMBEDDING */
    float *vec;
    int n_vec;
    /* END */
    int rc; /* RG_OK; RG_ECANCELED (cancelled or the caller left), RG_EINVAL (no token could
             * continue the grammar), RG_ENOMEM (events not read), other engine errors */
    char err[RG_ERR_SIZE];
    long prompt_tokens, cached_tokens, completion_tokens;
    double queue_ms, ttft_ms, total_ms;
};
/* Frees what an event holds (its text, logprobs, vector). */
void rg_engine_event_clear(struct rg_engine_event *ev);

/* Told on the scheduler's thread that a request has new events: must be
 * quick and must not call back into the engine (queue a wake-up). For the
 * END event it is called before the caller can take END, and never after. */
typedef void (*rg_engine_notify_fn)(void *user);

/*
 * Queues a request on a held model (the request holds it too, until its
 * END). Returns its id (> 0), or 0 with err and *rc: RG_EINVAL (bad
 * request: empty or over-long prompt, bad kind), RG_EBUSY (every slot busy
 * and max_queue requests waiting), RG_ENOMEM. A request that was given an id
 * always ends with an END event, which the caller must read.
 */
uint64_t rg_engine_submit(struct rg_engine_model *m, const struct rg_engine_request *req,
                          rg_engine_notify_fn notify, void *user, int *rc, char *err);
/* Takes the request's next event into *ev (rg_engine_event_clear it): 1; 0
 * when none came within timeout_ms (0: do not wait; < 0: wait for one);
 * RG_ENOTFOUND for an unknown id or one whose END was read. */
int rg_engine_next(struct rg_engine *e, uint64_t id, struct rg_engine_event *ev, int timeout_ms);
/* Asks a request to stop at its next step (queued: at once). It still ends
 * with an END event (rc RG_ECANCELED). Unknown ids are ignored. */
void rg_engine_cancel(struct rg_engine *e, uint64_t id);

/* Loaded models for /status and /api/ps (a JSON array, caller decrefs):
 * id, state (loading, ready), arch, n_ctx, memory, chat format, slots busy,
 * queued by priority, holders, idle seconds and keep_alive. */
json_t *rg_engine_status(struct rg_engine *e);
struct rg_engine_totals {
    long slots, busy, queued, loading, models;
};
void rg_engine_totals(struct rg_engine *e, struct rg_engine_totals *out);
/* Compute thread pools started so far (tests: embeddings share a model's). */
long rg_engine_pools_started(void);

/* Peak resident memory of the process so far, bytes (from the kernel). */
size_t rg_peak_rss(void);

#endif
