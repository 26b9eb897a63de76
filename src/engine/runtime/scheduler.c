/*
 * One scheduler thread per served model: it owns the model's context (one
 * KV sequence per slot), the slots and every request admitted to them.
 * Each step decodes every generating request's next token and, in the room
 * left, chunks of new prompts, all in one batched forward pass (continuous
 * batching: a new request joins the next step). A request takes the free
 * slot whose cache shares most of its prompt, or copies the K/V rows of a
 * busy slot that does; then it samples, applies the grammar and the stop
 * strings, and pushes its text into its event queue. Embeddings run on the
 * same thread between steps, one input at a time, with the context's own
 * compute threads.
 *
 * Phases: QUEUED -> PREFILL (set up, find the cached prefix) -> PROMPT (the
 * rest of the prompt, a chunk per step) -> DECODE (a token per step) -> DONE.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "engine/runtime/runtime_internal.h"

/* Tokens one step decodes at most: every generating sequence's next token,
 * then prompt chunks of new requests in what is left. Small enough that
 * streams keep flowing while a long prompt is read. */
#define STEP_TOKENS 128

/* ---- requests: creation and end ---- */

static void req_free(struct rg_rt_req *j)
{
    for (int i = 0; j->toks && i < j->r.n_inputs; i++)
        rg_free(j->toks[i]);
    rg_free(j->toks);
    rg_free(j->n_toks);
    for (int i = 0; j->stops && i < j->r.n_stops; i++)
        rg_free(j->stops[i]);
    rg_free(j->stops);
    rg_free(j->bias);
    rg_jg_free(j->r.grammar);
    rg_sampler_free(j->smp);
    rg_buf_free(&j->pending);
    rg_free(j->logits);
    rg_free(j->raw);
    rg_free(j->scratch);
    rg_free(j->jst);
    rg_free(j->lp);
    rg_rt_queue_free(&j->q);
    rg_free(j);
}

void rg_rt_req_unref(struct rg_rt_req *j)
{
    struct rg_engine *e = j->e;
    pthread_mutex_lock(&e->req_lock);
    bool last = --j->refs == 0;
    if (last)
        for (struct rg_rt_req **p = &e->reqs; *p; p = &(*p)->live_next)
            if (*p == j) {
                *p = j->live_next;
                break;
            }
    pthread_mutex_unlock(&e->req_lock);
    if (last) req_free(j);
}

static bool req_cancelled(struct rg_rt_req *j)
{
    return atomic_load(&j->cancel) || (j->r.cancelled && j->r.cancelled(j->user));
}

static void notify(struct rg_rt_req *j)
{
    if (j->notify) j->notify(j->user);
}

static void fail(struct rg_rt_req *j, int rc, const char *msg)
{
    if (j->rc == RG_OK) {
        j->rc = rc;
        snprintf(j->err, sizeof j->err, "%s", msg);
    }
    j->phase = RG_RT_DONE;
}

static void push_text(struct rg_rt_req *j, const char *text, size_t len, int n_tok,
                      const struct rg_engine_logprob *lp)
{
    if (!len && !n_tok) return;
    int rc = rg_rt_queue_text(&j->q, j->choice, text, len, n_tok, lp, 1 + j->r.top_logprobs,
                              j->s->e->p.max_event_bytes);
    if (rc != RG_OK) fail(j, RG_ENOMEM, "the caller is not reading this request's output");
    j->tell = true; /* told once the step is done, with every other request of the step */
}

/*
 * The end of a request: the log line, the model released (before the caller
 * sees END, so its next request never finds the model still held), END
 * with the usage, and the scheduler's reference dropped.
 */
void rg_rt_req_end(struct rg_rt_req *j, int rc, const char *why)
{
    struct rg_rt_served *s = j->s;
    if (rc != RG_OK && j->rc == RG_OK) {
        j->rc = rc;
        snprintf(j->err, sizeof j->err, "%s", why ? why : rg_strerror(rc));
    }
    j->t_done = rg_rt_now();
    struct rg_engine_event ev = {.type = RG_ENGINE_EV_END, .rc = j->rc};
    snprintf(ev.err, sizeof ev.err, "%s", j->rc == RG_OK ? "" : j->err);
    ev.prompt_tokens = j->n_prompt_total;
    ev.cached_tokens = j->n_cached_total;
    ev.completion_tokens = j->n_gen_total;
    ev.queue_ms = ((j->t_admit > 0 ? j->t_admit : j->t_done) - j->t_queued) * 1e3;
    ev.total_ms = (j->t_done - j->t_queued) * 1e3;
    ev.ttft_ms = j->t_first > 0 ? (j->t_first - j->t_queued) * 1e3 : 0;
    double gen_s = j->t_first > 0 && j->n_gen_total > 1
                       ? (double)(j->n_gen_total - 1) / (j->t_done - j->t_first)
                       : 0;
    const char *outcome = j->rc == RG_OK ? "ok" : j->rc == RG_ECANCELED ? "cancelled" : "error";
    rg_log(j->rc == RG_OK || j->rc == RG_ECANCELED ? RG_LOG_INFO : RG_LOG_WARN, "engine request",
           "id", 's', j->log_id, "kind", 's', j->r.kind == RG_ENGINE_EMBED ? "embed" : "generate",
           "priority", 's', j->r.priority == RG_ENGINE_BACKGROUND ? "background" : "interactive",
           "model", 's', s->id, "prompt_tokens", 'i', (long long)j->n_prompt_total, "cached_tokens",
           'i', (long long)j->n_cached_total, "completion_tokens", 'i', (long long)j->n_gen_total,
           "outcome", 's', outcome, "error", 's', j->rc == RG_OK ? "" : j->err, "queue_ms", 'f',
           ev.queue_ms, "ttft_ms", 'f', ev.ttft_ms, "tokens_per_s", 'f', gen_s, "total_ms", 'f',
           ev.total_ms, RG_LOG_END);
    rg_rt_release_served(s, NAN);
    rg_rt_queue_push_end(&j->q, &ev, j->notify, j->user);
    rg_rt_req_unref(j);
}

uint64_t rg_engine_submit(struct rg_engine_model *m, const struct rg_engine_request *req,
                          rg_engine_notify_fn fn, void *user, int *rcp, char *err)
{
    struct rg_rt_served *s = m->s;
    struct rg_engine *e = s->e;
    int rc_local;
    int *rc = rcp ? rcp : &rc_local;
    struct rg_jg *grammar = req->grammar; /* ours from here on */
    struct rg_rt_req *j = rg_calloc(1, sizeof *j);
    if (!j || rg_rt_queue_init(&j->q) != RG_OK) {
        rg_jg_free(grammar);
        if (j) rg_free(j);
        *rc = rg_err_set(err, RG_ENOMEM, "out of memory");
        return 0;
    }
    j->r = *req;
    j->r.tokens = NULL;
    j->r.n_tokens = NULL;
    j->r.stops = NULL;
    j->s = s;
    j->e = e;
    j->notify = fn;
    j->user = user;
    j->refs = 1;
    *rc = RG_OK;
    int32_t n_vocab = rg_model_info(s->m)->n_vocab;
    if (req->kind != RG_ENGINE_GENERATE && req->kind != RG_ENGINE_EMBED)
        *rc = rg_err_set(err, RG_EINVAL, "unknown request kind %d", (int)req->kind);
    else if (req->kind == RG_ENGINE_GENERATE && s->n_slots == 0)
        *rc =
            rg_err_set(err, RG_EINVAL, "'%.100s' is an embedding model: it cannot generate", s->id);
    else if (req->n_inputs < 1 || req->n_inputs > 4096)
        *rc = rg_err_set(err, RG_EINVAL, "a request has 1 to 4096 inputs, not %d", req->n_inputs);
    else if (req->n_stops < 0 || req->n_stops > RG_ENGINE_MAX_STOPS)
        *rc = rg_err_set(err, RG_EINVAL, "at most %d stop sequences", RG_ENGINE_MAX_STOPS);
    else if (req->top_logprobs < 0 || req->top_logprobs > 20)
        *rc = rg_err_set(err, RG_EINVAL, "top_logprobs is 0 to 20");
    if (j->r.n < 1) j->r.n = 1;
    if (*rc == RG_OK) {
        j->toks = rg_calloc((size_t)req->n_inputs, sizeof *j->toks);
        j->n_toks = rg_calloc((size_t)req->n_inputs, sizeof *j->n_toks);
        if (!j->toks || !j->n_toks) *rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    for (int i = 0; *rc == RG_OK && i < req->n_inputs; i++) {
        int32_t n = req->n_tokens[i];
        int32_t most = req->kind == RG_ENGINE_EMBED ? s->n_ctx : s->n_ctx - 1;
        if (n <= 0 || n > most) {
            *rc = n <= 0 ? rg_err_set(err, RG_EINVAL, "input %d is empty", i)
                         : rg_err_set(err, RG_EOVERFLOW,
                                      "This model's maximum context length is %d tokens; "
                                      "input %d has %d",
                                      s->n_ctx, i, n);
            break;
        }
        for (int32_t k = 0; k < n; k++)
            if (req->tokens[i][k] < 0 || req->tokens[i][k] >= n_vocab) {
                *rc = rg_err_set(err, RG_EINVAL,
                                 "input %d: token %d is not a token id of "
                                 "this model",
                                 i, k);
                break;
            }
        if (*rc != RG_OK) break;
        j->toks[i] = rg_malloc_array((size_t)n, sizeof(int32_t));
        if (!j->toks[i]) {
            *rc = rg_err_set(err, RG_ENOMEM, "out of memory");
            break;
        }
        memcpy(j->toks[i], req->tokens[i], (size_t)n * sizeof(int32_t));
        j->n_toks[i] = n;
        j->n_prompt_total += n;
    }
    if (*rc == RG_OK && req->n_stops > 0 &&
        !(j->stops = rg_calloc((size_t)req->n_stops, sizeof *j->stops)))
        *rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    for (int i = 0; *rc == RG_OK && j->stops && i < req->n_stops; i++)
        if (strlen(req->stops[i]) > RG_ENGINE_MAX_STOP_LEN)
            *rc = rg_err_set(err, RG_EINVAL, "a stop sequence is at most %d bytes",
                             RG_ENGINE_MAX_STOP_LEN);
        else if (!(j->stops[i] = rg_strdup(req->stops[i])))
            *rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    if (*rc == RG_OK && req->sp.n_bias) {
        j->bias = rg_malloc_array(req->sp.n_bias, sizeof *j->bias);
        if (!j->bias)
            *rc = rg_err_set(err, RG_ENOMEM, "out of memory");
        else
            memcpy(j->bias, req->sp.bias, req->sp.n_bias * sizeof *j->bias);
        j->r.sp.bias = j->bias;
    }
    j->id = atomic_fetch_add(&e->next_id, 1);
    snprintf(j->log_id, sizeof j->log_id, "%s",
             req->log_id                    ? req->log_id
             : req->kind == RG_ENGINE_EMBED ? "embed"
                                            : "generate");
    if (*rc != RG_OK) {
        req_free(j);
        return 0;
    }
    /* the request holds the model until its END */
    pthread_mutex_lock(&e->lock);
    s->users++;
    pthread_mutex_unlock(&e->lock);
    pthread_mutex_lock(&s->lock);
    int busy = 0;
    for (int i = 0; i < s->n_slots; i++)
        busy += s->slots[i].busy;
    if (busy + s->queued[0] + s->queued[1] >= s->n_slots + e->p.max_queue) {
        pthread_mutex_unlock(&s->lock);
        rg_rt_release_served(s, NAN);
        *rc = rg_err_set(err, RG_EBUSY,
                         "every slot of '%.100s' is busy and %d requests already wait; try "
                         "again shortly",
                         s->id, e->p.max_queue);
        req_free(j);
        return 0;
    }
    uint64_t id = j->id;
    pthread_mutex_lock(&e->req_lock);
    j->refs = 2; /* the scheduler's and the caller's */
    j->live_next = e->reqs;
    e->reqs = j;
    pthread_mutex_unlock(&e->req_lock);
    j->phase = RG_RT_QUEUED;
    j->t_queued = rg_rt_now();
    struct rg_rt_req **p = &s->queue; /* after every request of its priority or a higher one */
    while (*p && (*p)->r.priority <= j->r.priority)
        p = &(*p)->qnext;
    j->qnext = *p;
    *p = j;
    s->queued[j->r.priority == RG_ENGINE_BACKGROUND]++;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    return id;
}

/* ---- generation ---- */

/* Every token's bytes as a trie, once per model, for the grammar. */
static bool build_trie(struct rg_rt_served *s)
{
    if (s->tv) return true;
    char err[RG_ERR_SIZE];
    s->tv = rg_jg_vocab_new(rg_model_vocab(s->m), err);
    return s->tv != NULL;
}

/* Samples under the grammar: the sampled token when it fits (the common
 * case), else every token that does not fit is masked (a walk of the trie
 * from the current state, pruned at the first byte refused) and the sampler
 * runs again on what is left. -1 when no token can continue the document,
 * -2 when the request was cancelled meanwhile. */
static int32_t sample_constrained(struct rg_rt_req *j)
{
    struct rg_rt_served *s = j->s;
    int32_t n = rg_model_info(s->m)->n_vocab;
    memcpy(j->scratch, j->logits, (size_t)n * sizeof *j->scratch);
    int32_t t = rg_sampler_sample(j->smp, j->scratch);
    if (rg_jg_allows(j->r.grammar, j->jst, s->tv, t, NULL)) return t;
    if (req_cancelled(j)) return -2;
    int32_t left = rg_jg_mask(j->r.grammar, j->jst, s->tv, j->logits, &j->cancel);
    if (left == RG_ECANCELED) return -2;
    if (left <= 0) return -1;
    t = rg_sampler_sample(j->smp, j->logits);
    return j->logits[t] == -INFINITY ? -1 : t;
}

/* The chosen token's log probability and the top alternatives into j->lp,
 * from the model's own distribution (before penalties, bias, temperature). */
static void record_logprobs(struct rg_rt_req *j, int32_t chosen)
{
    int32_t n = rg_model_info(j->s->m)->n_vocab;
    const float *l = j->raw;
    float max = l[0];
    for (int32_t i = 1; i < n; i++)
        if (l[i] > max) max = l[i];
    double sum = 0;
    for (int32_t i = 0; i < n; i++)
        sum += exp((double)l[i] - max);
    float lse = max + (float)log(RG_MAX(sum, 1.0)); /* sum >= 1: it has exp(max - max) */
    j->lp[0] = (struct rg_engine_logprob){chosen, l[chosen] - lse};
    for (int k = 0; k < j->r.top_logprobs; k++) {
        int32_t b = -1;
        for (int32_t i = 0; i < n; i++) {
            bool taken = false;
            for (int q = 0; q < k; q++)
                taken |= j->lp[1 + q].token == i;
            if (!taken && (b < 0 || l[i] > l[b])) b = i;
        }
        j->lp[1 + k] = (struct rg_engine_logprob){b, l[b] - lse};
    }
}

/* Longest suffix of text[0..n) that is a proper prefix of a stop string. */
static size_t held_back(const struct rg_rt_req *j, const char *text, size_t n)
{
    size_t best = 0;
    for (int k = 0; k < j->r.n_stops; k++) {
        size_t sl = strlen(j->stops[k]);
        for (size_t l = RG_MIN(sl - 1, n); l > best; l--)
            if (!memcmp(text + n - l, j->stops[k], l)) {
                best = l;
                break;
            }
    }
    return best;
}

/* After a logits row: sample, queue the text, decide whether to go on. */
static void job_advance(struct rg_rt_req *j)
{
    struct rg_rt_served *s = j->s;
    struct rg_rt_slot *sl = &s->slots[j->slot];
    const struct rg_vocab *v = rg_model_vocab(s->m);
    int32_t n_vocab = rg_model_info(s->m)->n_vocab;
    j->phase = RG_RT_DONE;
    if (j->r.max_tokens >= 0 && j->n_gen >= j->r.max_tokens) return;
    if (sl->n_cached >= s->n_ctx) return; /* context full: finish "length" */
    if (req_cancelled(j)) {
        fail(j, RG_ECANCELED, "cancelled");
        return;
    }
    if (j->raw) memcpy(j->raw, j->logits, (size_t)n_vocab * sizeof *j->raw);
    if (j->r.ignore_eos)
        for (int32_t i = 0; i < n_vocab; i++)
            if (rg_vocab_is_eog(v, i)) j->logits[i] = -INFINITY;
    int32_t t = j->jst ? sample_constrained(j) : rg_sampler_sample(j->smp, j->logits);
    if (t == -2) {
        fail(j, RG_ECANCELED, "cancelled");
        return;
    }
    if (t < 0) {
        fail(j, RG_EINVAL, "no token of this model can continue the JSON document");
        return;
    }
    if (rg_vocab_is_eog(v, t)) {
        j->finish = "stop";
        return;
    }
    if (j->raw) record_logprobs(j, t);
    rg_sampler_accept(j->smp, t);
    if (j->jst) rg_jg_allows(j->r.grammar, j->jst, s->tv, t, j->jst);
    if (j->n_gen++ == 0 && j->t_first == 0) j->t_first = rg_rt_now();
    char piece[512];
    int pl = rg_detok_push(&j->d, t, piece, sizeof piece);
    if (pl > 0 && rg_buf_append(&j->pending, piece, (size_t)pl) != RG_OK) {
        fail(j, RG_ENOMEM, "out of memory");
        return;
    }
    /* stop strings never reach the caller */
    bool stopped = false;
    for (int k = 0; k < j->r.n_stops && j->pending.len; k++) {
        const char *hit = strstr(j->pending.data, j->stops[k]);
        if (hit) {
            j->pending.len = (size_t)(hit - j->pending.data);
            j->pending.data[j->pending.len] = '\0';
            stopped = true;
        }
    }
    size_t hold =
        stopped ? 0 : held_back(j, j->pending.data ? j->pending.data : "", j->pending.len);
    size_t send = j->pending.len - hold;
    push_text(j, j->pending.data, send, 1, j->raw ? j->lp : NULL);
    if (j->pending.data) {
        memmove(j->pending.data, j->pending.data + send, hold);
        j->pending.len = hold;
        j->pending.data[hold] = '\0';
    }
    if (stopped || (j->jst && rg_jg_complete(j->jst))) {
        j->finish = "stop";
        return;
    }
    if (j->rc != RG_OK) return;
    j->next = t;
    j->phase = RG_RT_DECODE;
}

/* How many of j's prompt tokens the slot's cache starts with. */
static int32_t shared_prefix(const struct rg_rt_slot *sl, const struct rg_rt_req *j)
{
    int32_t n = 0;
    while (n < j->n_cur && n < sl->n_cached && sl->cached[n] == j->cur[n])
        n++;
    return n;
}

/* Sets up one answer and finds what the slot (or another slot) already
 * holds of its prompt. */
static void job_prefill(struct rg_rt_req *j)
{
    struct rg_rt_served *s = j->s;
    struct rg_rt_slot *sl = &s->slots[j->slot];
    int32_t n_vocab = rg_model_info(s->m)->n_vocab;
    if (!j->logits) { /* once per request; later answers reuse them */
        j->logits = rg_malloc_array((size_t)n_vocab, sizeof *j->logits);
        rg_buf_init(&j->pending, 1u << 20);
        if (j->r.logprobs) {
            j->raw = rg_malloc_array((size_t)n_vocab, sizeof *j->raw);
            j->lp = rg_calloc((size_t)j->r.top_logprobs + 1, sizeof *j->lp);
        }
        if (j->r.grammar) {
            j->jst = rg_malloc(sizeof *j->jst);
            j->scratch = rg_malloc_array((size_t)n_vocab, sizeof *j->scratch);
        }
    }
    /* each answer starts afresh, with its own seed */
    struct rg_sample_params sp = j->r.sp;
    sp.seed += (uint64_t)j->choice;
    rg_sampler_free(j->smp);
    j->smp = rg_sampler_new(&sp, n_vocab);
    j->pending.len = 0;
    rg_detok_init(&j->d, rg_model_vocab(s->m), false);
    j->finish = "length";
    j->n_gen = 0;
    if (j->jst) rg_jg_start(j->r.grammar, j->jst);
    if (!j->smp || !j->logits || (j->r.grammar && (!j->jst || !j->scratch || !build_trie(s))) ||
        (j->r.logprobs && (!j->raw || !j->lp))) {
        fail(j, RG_ENOMEM, "out of memory");
        return;
    }
    int32_t keep = shared_prefix(sl, j);
    /* another slot may hold more of this prompt (the same long system prompt,
     * tool definitions, a conversation that moved): its K/V rows are copied,
     * far cheaper than computing them */
    int src = -1;
    int32_t more = keep;
    for (int i = 0; i < s->n_slots; i++) {
        int32_t k = i == j->slot ? 0 : shared_prefix(&s->slots[i], j);
        if (k > more) src = i, more = k;
    }
    if (src >= 0 && rg_ctx_seq_copy(s->ctx, src, j->slot, keep, more) == RG_OK) {
        memcpy(sl->cached + keep, s->slots[src].cached + keep,
               (size_t)(more - keep) * sizeof *sl->cached);
        sl->n_cached = keep = more;
    }
    if (keep == j->n_cur) keep--; /* decode the last one again for its logits */
    if (j->choice % j->r.n == 0) j->n_cached_total += keep;
    rg_ctx_seq_truncate(s->ctx, j->slot, keep);
    sl->n_cached = keep;
    j->fed = keep;
    j->phase = RG_RT_PROMPT; /* the scheduler feeds the rest, chunk by chunk */
}

/* The whole prompt is in: its logits row is in j->logits. */
static void job_prompt_done(struct rg_rt_req *j)
{
    for (int32_t i = 0; i < j->n_cur; i++)
        rg_sampler_accept(j->smp, j->cur[i]);
    job_advance(j);
}

/* Points j at the prompt of its current answer. */
static void job_choose(struct rg_rt_req *j)
{
    int p = j->choice / j->r.n; /* prompt after prompt, n answers each */
    j->cur = j->toks[p];
    j->n_cur = j->n_toks[p];
}

/* An answer is done: its last text and CHOICE_END, then the next answer
 * (its prompt is cached) or the end. True when the request ended. */
static bool job_finish(struct rg_rt_req *j)
{
    if (j->rc == RG_OK) {
        char tail[16];
        int tl = rg_detok_flush(&j->d, tail, sizeof tail);
        if (tl > 0 && !strcmp(j->finish, "length")) rg_buf_append(&j->pending, tail, (size_t)tl);
        if (j->pending.len) push_text(j, j->pending.data, j->pending.len, 0, NULL);
        j->pending.len = 0;
    }
    j->n_gen_total += j->n_gen;
    if (j->rc == RG_OK) {
        struct rg_engine_event ev = {.type = RG_ENGINE_EV_CHOICE_END,
                                     .choice = j->choice,
                                     .finish = j->finish ? j->finish : "length"};
        if (rg_rt_queue_push(&j->q, &ev, j->s->e->p.max_event_bytes) != RG_OK)
            fail(j, RG_ENOMEM, "the caller is not reading this request's output");
        j->tell = true;
    }
    if (j->rc == RG_OK && j->choice + 1 < j->r.n * j->r.n_inputs) {
        j->choice++;
        job_choose(j);
        j->phase = RG_RT_PREFILL;
        return false;
    }
    rg_rt_req_end(j, j->rc, NULL);
    return true;
}

/* ---- embeddings ---- */

/* One input of an embedding request; true when the request ended. */
static bool embed_step(struct rg_rt_served *s, struct rg_rt_req *j)
{
    char err[RG_ERR_SIZE] = "";
    if (req_cancelled(j)) {
        rg_rt_req_end(j, RG_ECANCELED, "cancelled");
        return true;
    }
    if (!s->embed_ctx) {
        struct rg_ctx_params cp = rg_ctx_default_params();
        cp.n_ctx = s->n_ctx;
        cp.n_threads = s->e->p.n_threads;
        cp.share_pool = s->ctx; /* NULL for an encoder: then it starts the model's pool */
        s->embed_ctx = rg_ctx_new(s->m, &cp, err);
        if (!s->embed_ctx) {
            rg_rt_req_end(j, RG_ENOMEM, err);
            return true;
        }
    }
    int n_embd = rg_model_info(s->m)->n_embd;
    struct rg_engine_event ev = {.type = RG_ENGINE_EV_EMBEDDING, .choice = j->choice};
    ev.vec = rg_malloc_array((size_t)n_embd, sizeof *ev.vec);
    ev.n_vec = n_embd;
    if (j->t_first == 0) j->t_first = rg_rt_now();
    int rc = ev.vec ? rg_embed(s->embed_ctx, j->toks[j->choice], j->n_toks[j->choice], ev.vec, err)
                    : rg_err_set(err, RG_ENOMEM, "out of memory");
    if (rc == RG_OK) rc = rg_rt_queue_push(&j->q, &ev, s->e->p.max_event_bytes);
    rg_engine_event_clear(&ev);
    if (rc != RG_OK) {
        rg_rt_req_end(j, rc, err[0] ? err : "the caller is not reading this request's output");
        return true;
    }
    notify(j);
    if (++j->choice < j->r.n_inputs) return false;
    rg_rt_req_end(j, RG_OK, NULL);
    return true;
}

/* ---- the loop ---- */

/*
 * The free slot for j: the one whose cached tokens share the longest prefix
 * with j's first prompt, so a conversation's next turn finds its own slot
 * rather than whichever is free first; where none shares more than a first
 * token (BOS), the one used least recently (an empty one first), so the
 * cache overwritten is the one least likely to be wanted. -1 if all are busy.
 */
static int pick_slot(const struct rg_rt_served *s, const struct rg_rt_req *j)
{
    int best = -1;
    int32_t best_keep = -1;
    uint64_t best_used = 0;
    for (int i = 0; i < s->n_slots; i++) {
        const struct rg_rt_slot *sl = &s->slots[i];
        if (sl->busy) continue;
        int32_t keep = shared_prefix(sl, j);
        if (keep <= 1) keep = 0;
        if (keep > best_keep || (keep == best_keep && sl->last_used < best_used))
            best = i, best_keep = keep, best_used = sl->last_used;
    }
    return best;
}

struct step {
    float *logits; /* n_slots rows of n_vocab */
    struct rg_batch_item *items;
    struct rg_rt_req **rows, **prompting;
};

/* Admits queued requests (s->lock held): cancelled ones end, embeddings
 * become the current one when there is none, generations take free slots
 * in priority order. Requests to end are collected in *gone. */
static void admit(struct rg_rt_served *s, struct rg_rt_req **embedding, struct rg_rt_req **gone)
{
    bool slots_left = true;
    for (struct rg_rt_req **p = &s->queue; *p;) {
        struct rg_rt_req *j = *p;
        int i = -1;
        bool take = false;
        if (atomic_load(&j->cancel) || s->stop) {
            take = true;
        } else if (j->r.kind == RG_ENGINE_EMBED) {
            take = *embedding == NULL;
        } else if (slots_left) {
            j->choice = 0;
            job_choose(j);
            i = pick_slot(s, j);
            slots_left = i >= 0;
            take = i >= 0;
        }
        if (!take) {
            p = &j->qnext;
            continue;
        }
        *p = j->qnext;
        s->queued[j->r.priority == RG_ENGINE_BACKGROUND]--;
        j->t_admit = rg_rt_now();
        if (atomic_load(&j->cancel) || s->stop) {
            j->qnext = *gone;
            *gone = j;
        } else if (j->r.kind == RG_ENGINE_EMBED) {
            *embedding = j;
        } else {
            j->slot = i;
            j->phase = RG_RT_PREFILL;
            s->slots[i].last_used = ++s->admitted;
            s->slots[i].busy = true;
            s->slots[i].req = j;
        }
    }
}

/* One batched step over the slots' requests. */
static void step(struct rg_rt_served *s, struct step *st)
{
    int32_t n_vocab = rg_model_info(s->m)->n_vocab;
    for (int i = 0; i < s->n_slots; i++) {
        struct rg_rt_req *j = s->slots[i].req;
        if (j && j->phase == RG_RT_PREFILL) job_prefill(j);
        if (j && j->phase == RG_RT_PROMPT && req_cancelled(j))
            fail(j, RG_ECANCELED, "cancelled"); /* left while its prompt was being read */
    }
    /* every generating sequence's next token, then prompt chunks in the room
     * left; one logits row per request that needs one, in item order */
    int n = 0, n_rows = 0, n_prompt = 0;
    for (int i = 0; i < s->n_slots; i++) {
        struct rg_rt_req *j = s->slots[i].req;
        if (j && j->phase == RG_RT_DECODE) {
            st->items[n++] = (struct rg_batch_item){j->next, i, true};
            st->rows[n_rows++] = j;
        }
    }
    int budget = RG_MAX(STEP_TOKENS - n, STEP_TOKENS / 4);
    for (int i = 0; i < s->n_slots && budget > 0; i++) {
        struct rg_rt_req *j = s->slots[i].req;
        if (!j || j->phase != RG_RT_PROMPT) continue;
        j->take = RG_MIN(budget, j->n_cur - j->fed);
        for (int32_t t = 0; t < j->take; t++) {
            int32_t pos = j->fed + t;
            st->items[n++] = (struct rg_batch_item){j->cur[pos], i, pos == j->n_cur - 1};
        }
        budget -= j->take;
        if (j->fed + j->take == j->n_cur) st->rows[n_rows++] = j;
        st->prompting[n_prompt++] = j;
    }
    if (n == 0) return;
    char err[RG_ERR_SIZE];
    int rc = rg_decode_batch(s->ctx, st->items, n, st->logits, err);
    for (int i = 0; i < s->n_slots; i++) {
        struct rg_rt_req *j = s->slots[i].req;
        if (!j || (j->phase != RG_RT_DECODE && j->phase != RG_RT_PROMPT)) continue;
        struct rg_rt_slot *sl = &s->slots[i];
        bool in_step = j->phase == RG_RT_DECODE;
        for (int k = 0; !in_step && k < n_prompt; k++)
            in_step = st->prompting[k] == j;
        if (!in_step) continue;
        if (rc != RG_OK) {
            fail(j, rc, err);
            sl->n_cached = 0;
            rg_ctx_seq_truncate(s->ctx, i, 0);
        } else if (j->phase == RG_RT_DECODE) {
            sl->cached[sl->n_cached++] = j->next;
        } else {
            memcpy(sl->cached + j->fed, j->cur + j->fed, (size_t)j->take * sizeof *j->cur);
            j->fed += j->take;
            sl->n_cached = j->fed;
        }
    }
    for (int k = 0; rc == RG_OK && k < n_rows; k++) {
        struct rg_rt_req *j = st->rows[k];
        memcpy(j->logits, st->logits + (size_t)k * n_vocab, (size_t)n_vocab * sizeof *j->logits);
        if (j->phase == RG_RT_PROMPT)
            job_prompt_done(j);
        else
            job_advance(j);
    }
}

void *rg_rt_scheduler(void *arg)
{
    struct rg_rt_served *s = arg;
    int32_t n_vocab = rg_model_info(s->m)->n_vocab;
    int ns = RG_MAX(s->n_slots, 1);
    struct step st = {
        .logits = rg_malloc_array((size_t)ns * (size_t)n_vocab, sizeof(float)),
        .items =
            rg_calloc((size_t)ns + STEP_TOKENS + STEP_TOKENS / 4, sizeof(struct rg_batch_item)),
        .rows = rg_calloc((size_t)ns, sizeof(struct rg_rt_req *)),
        .prompting = rg_calloc((size_t)ns, sizeof(struct rg_rt_req *)),
    };
    bool ok = st.logits && st.items && st.rows && st.prompting;
    struct rg_rt_req *embedding = NULL;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        struct rg_rt_req *gone = NULL;
        admit(s, &embedding, &gone);
        int active = embedding != NULL;
        for (int i = 0; i < s->n_slots; i++)
            active += s->slots[i].req != NULL;
        if (!active && !gone) {
            if (s->stop && !s->queue) break;
            pthread_cond_wait(&s->work, &s->lock);
            continue;
        }
        pthread_mutex_unlock(&s->lock);
        while (gone) {
            struct rg_rt_req *j = gone;
            gone = j->qnext;
            rg_rt_req_end(j, RG_ECANCELED, s->stop ? "the server is stopping" : "cancelled");
        }
        if (!ok) { /* no scratch for a step: everything admitted ends */
            for (int i = 0; i < s->n_slots; i++)
                if (s->slots[i].req) fail(s->slots[i].req, RG_ENOMEM, "out of memory");
        } else {
            step(s, &st);
        }
        if (embedding && embed_step(s, embedding)) embedding = NULL;
        /* finished answers: the next of their n, or the slot is free */
        for (int i = 0; i < s->n_slots; i++) {
            struct rg_rt_req *j = s->slots[i].req;
            if (!j || j->phase != RG_RT_DONE) continue;
            if (!job_finish(j)) continue;
            pthread_mutex_lock(&s->lock);
            s->slots[i].req = NULL;
            s->slots[i].busy = false;
            pthread_mutex_unlock(&s->lock);
        }
        /* one wake-up per request per step, all together: the stage formats
         * them in one go rather than being woken token by token */
        for (int i = 0; i < s->n_slots; i++) {
            struct rg_rt_req *j = s->slots[i].req;
            if (j && j->tell) {
                j->tell = false;
                notify(j);
            }
        }
        pthread_mutex_lock(&s->lock);
        if (s->stop) /* stopping: everything running ends at its next step */
            for (int i = 0; i < s->n_slots; i++)
                if (s->slots[i].req) atomic_store(&s->slots[i].req->cancel, true);
        if (s->stop && embedding) atomic_store(&embedding->cancel, true);
    }
    pthread_mutex_unlock(&s->lock);
    rg_free(st.logits);
    rg_free(st.items);
    rg_free(st.rows);
    rg_free(st.prompting);
    return NULL;
}
