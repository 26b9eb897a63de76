/*
 * What goes into an answer's prompt and what keeps it small
 * (docs/memory.md): the pieces of the context (instructions, style, the
 * branch, the thread's summary, glossary, library, the user's other
 * conversations) gathered for chat/context.c to fit in the budget, the
 * record of it, thread summaries, topic shift and message vectors.
 *
 *   GET  /chat/messages/{id}/context         an answer's context record
 *   POST /chat/conversations/{id}/context    the record a message would get (dry run)
 *   POST /chat/threads/{id}/summarize        queues the thread's summary (chat.summary)
 *
 * Jobs: chat.summary (a thread's summary, made from the old one and the
 * messages after it) and chat.embed (message vectors, with an embedder).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "api/api_jobs.h"
#include "api/chat_context.h"
#include "api/chat_internal.h"
#include "api/memory.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/str.h"
#include "db/msgvec.h"
#include "index/library.h"
#include "jobs/jobs.h"

#define GLOSSARY_MAX 32                /* entries one prompt may be given */
#define PRIOR_K 3                      /* messages of other conversations one prompt may be given */
#define PRIOR_MIN_SCORE 0.25           /* less similar than this is not relevant */
#define PRIOR_BYTES 1000               /* of one such message */
#define EMBED_BYTES 2000               /* of a text embedded */
#define SHIFT_RECENT 6                 /* messages of the thread a new one is compared with */
#define GLOSSARY_TEXT_MAX (256u << 10) /* bytes of the conversation matched */
#define SUMMARY_MAX_TOKENS 200
#define SUMMARY_BYTES 4000

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* UTF-8 text cut to at most max bytes at a character boundary: its length. */
static size_t cut(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* ---- settings ------------------------------------------------------------------- */

static const char *const MEMORY_KEYS[] = {"summaries", "prior", "glossary", "library"};

bool rg_api_chat_memory_valid(const json_t *v)
{
    if (json_is_null(v)) return true;
    if (!json_is_object(v)) return false;
    const char *key;
    json_t *x;
    json_object_foreach((json_t *)v, key, x)
    {
        bool known = false;
        for (size_t i = 0; i < RG_ARRAY_LEN(MEMORY_KEYS); i++)
            known = known || !strcmp(key, MEMORY_KEYS[i]);
        if (!known || !(json_is_boolean(x) || json_is_null(x))) return false;
    }
    return true;
}

size_t rg_api_chat_budget(const struct rg_api_state *st, const json_t *use, long n_ctx,
                          size_t extra)
{
    json_t *mt = json_object_get(use, "max_tokens");
    long room;
    if (json_is_integer(mt) && json_integer_value(mt) > 0)
        room = (long)RG_MIN(json_integer_value(mt), (json_int_t)n_ctx);
    else if (st->cfg->default_max_tokens > 0 && st->cfg->default_max_tokens <= n_ctx / 2)
        room = st->cfg->default_max_tokens;
    else
        room = n_ctx / 4;
    long left = n_ctx - room - (long)extra;
    return left > 0 ? (size_t)left : 0;
}

/* ---- embeddings ------------------------------------------------------------------ */

/* texts[0..n) embedded one by one into *out (n * *dim floats, rg_free). */
static int embed(const struct rg_library_embedder *em, const char *const *texts, size_t n,
                 float **out, int *dim, char *err)
{
    void *sess = NULL;
    size_t max_tokens = 0;
    *out = NULL;
    int rc = em->hold(em->user, &sess, dim, &max_tokens, err);
    if (rc) return rc;
    float *v = rg_calloc(n ? n : 1, (size_t)*dim * sizeof *v);
    if (!v) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        size_t len = cut(texts[i], EMBED_BYTES);
        rc = em->embed(sess, &texts[i], &len, 1, v + i * (size_t)*dim, err);
    }
    em->release(sess);
    if (rc)
        rg_free(v);
    else
        *out = v;
    return rc;
}

/* ---- the pieces of a prompt ---------------------------------------------------------- */

/* What rg_api_chat_context gathers; everything freed by pieces_free. */
struct pieces {
    struct rg_ctx_piece *v;
    size_t n, cap;
    json_t *keep; /* refs and texts the pieces point into */
    struct rg_buf style;
};

static struct rg_ctx_piece *piece_add(struct pieces *p, enum rg_ctx_source s, const char *text,
                                      json_t *ref, const char *reason)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 32;
        struct rg_ctx_piece *v = rg_realloc(p->v, cap * sizeof *v);
        if (!v) {
            json_decref(ref);
            return NULL;
        }
        p->v = v;
        p->cap = cap;
    }
    /* the texts and refs live in keep, so the pieces may point into them */
    json_t *t = json_pack("{s:s, s:s}", "text", text ? text : "", "reason", reason ? reason : "");
    if (!t || (ref && json_object_set_new(t, "ref", ref) != 0) ||
        json_array_append_new(p->keep, t)) {
        if (!t) json_decref(ref);
        return NULL;
    }
    struct rg_ctx_piece *pc = &p->v[p->n++];
    *pc = (struct rg_ctx_piece){.source = s,
                                .text = json_string_value(json_object_get(t, "text")),
                                .ref = json_object_get(t, "ref"),
                                .reason = json_string_value(json_object_get(t, "reason"))};
    return pc;
}

static void pieces_free(struct pieces *p)
{
    rg_free(p->v);
    json_decref(p->keep);
    rg_buf_free(&p->style);
}

/* The thread's summary message (found: true), from the conversation's threads. */
static bool thread_summary(struct rg_api_state *st, int64_t owner, int64_t conv, int64_t thread,
                           struct rg_db_msg *out)
{
    struct rg_db_thread *t = NULL;
    size_t n = 0;
    char err[RG_ERR_SIZE];
    int64_t sid = 0;
    if (rg_db_thread_list(st->db, owner, conv, &t, &n, err) == RG_OK)
        for (size_t i = 0; i < n; i++)
            if (t[i].id == thread) sid = t[i].summary_id;
    rg_free(t);
    return sid && rg_db_msg_get(st->db, owner, sid, out, err) == RG_OK &&
           !strcmp(out->type, "summary");
}

/* The covers of a summary's settings: {"from", "to", "n"} (zeros when absent). */
static void covers_of(const struct rg_db_msg *m, int64_t *from, int64_t *to, int64_t *n)
{
    *from = *to = *n = 0;
    json_t *s = m->settings ? json_loads(m->settings, 0, NULL) : NULL;
    json_t *c = json_object_get(s, "covers");
    *from = json_integer_value(json_object_get(c, "from"));
    *to = json_integer_value(json_object_get(c, "to"));
    *n = json_integer_value(json_object_get(c, "n"));
    json_decref(s);
}

/* Whether source s is on: the user's setting, with the conversation's or request's over it. */
static bool source_on(const json_t *use, const char *key, bool pref)
{
    json_t *v = json_object_get(json_object_get(use, "memory"), key);
    return json_is_boolean(v) ? json_is_true(v) : pref;
}

static int add_prior(struct rg_api_state *st, const struct rg_api_ctx_req *q, struct pieces *p)
{
    const struct rg_library_embedder *em = rg_api_embedder(st);
    if (!em || !q->question || !*q->question) return RG_OK;
    float *v = NULL;
    int dim = 0;
    char err[RG_ERR_SIZE];
    if (embed(em, &q->question, 1, &v, &dim, err) != RG_OK) {
        rg_log(RG_LOG_WARN, "cannot embed a question", "error", 's', err, RG_LOG_END);
        return RG_OK; /* the prior messages are lost, not the answer */
    }
    struct rg_db_msgvec_hit *h = NULL;
    size_t n = 0;
    int rc =
        rg_db_msgvec_search(st->db, q->owner, em->model, v, dim, q->conv_id, PRIOR_K, &h, &n, err);
    rg_free(v);
    if (rc) {
        rg_log(RG_LOG_WARN, "cannot search messages", "error", 's', err, RG_LOG_END);
        return RG_OK;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        if (h[i].score < PRIOR_MIN_SCORE) continue;
        char reason[64];
        snprintf(reason, sizeof reason, "similar to your question (%.2f)", h[i].score);
        struct rg_buf t;
        rg_buf_init(&t, SIZE_MAX);
        rg_buf_printf(&t, "%.*s", (int)cut(h[i].content, PRIOR_BYTES), h[i].content);
        rg_buf_append(&t, "", 1);
        if (!t.data || !piece_add(p, RG_CTX_PRIOR, t.data,
                                  json_pack("{s:I, s:I}", "message_id", (json_int_t)h[i].message_id,
                                            "conversation_id", (json_int_t)h[i].conv_id),
                                  reason))
            rc = RG_ENOMEM;
        rg_buf_free(&t);
    }
    rg_db_msgvec_hits_free(h, n);
    return rc;
}

int rg_api_chat_context(struct rg_api_state *st, const struct rg_api_ctx_req *q,
                        struct rg_ctx_out *out, json_t **sources, struct rg_req_err *e)
{
    *sources = NULL;
    memset(out, 0, sizeof *out);
    struct rg_api_mem_prefs prefs;
    int rc = rg_api_mem_prefs_get(st, q->owner, &prefs, e);
    if (rc) return rc;
    struct pieces p = {.keep = json_array()};
    rg_buf_init(&p.style, SIZE_MAX);
    struct rg_ctx_in in = {.v = q->v, .fmt = q->fmt, .n_ctx = q->n_ctx, .budget = q->budget};
    in.off[RG_CTX_SUMMARY] = !source_on(q->use, "summaries", prefs.use_summaries);
    in.off[RG_CTX_GLOSSARY] = !source_on(q->use, "glossary", prefs.use_glossary);
    in.off[RG_CTX_LIBRARY] = !source_on(q->use, "library", prefs.use_library);
    in.off[RG_CTX_PRIOR] = !source_on(q->use, "prior", prefs.use_prior);
    in.intro[RG_CTX_SUMMARY] = "Summary of the earlier conversation:\n";
    in.intro[RG_CTX_GLOSSARY] = "The user's glossary:\n";
    in.intro[RG_CTX_LIBRARY] = RG_API_CHAT_CITE;
    in.intro[RG_CTX_PRIOR] = "From the user's other conversations:\n";
    bool oom = !p.keep;
    /* 1. instructions */
    if (!oom && prefs.system && *prefs.system)
        oom = !piece_add(&p, RG_CTX_SYSTEM, prefs.system, NULL, "your instructions");
    const char *csys = json_string_value(json_object_get(q->use, "system"));
    if (!oom && csys && *csys)
        oom = !piece_add(&p, RG_CTX_SYSTEM, csys, NULL, "the conversation's instructions");
    const char *style = json_string_value(json_object_get(q->use, "style"));
    if (!oom && style && *style) {
        rc = rg_api_mem_style_prompt(st, q->owner, style, &p.style, e);
        if (!rc && p.style.len) {
            char reason[96];
            snprintf(reason, sizeof reason, "style %.64s", style);
            rg_buf_append(&p.style, "", 1);
            oom = !piece_add(&p, RG_CTX_STYLE, p.style.data, json_pack("{s:s}", "style", style),
                             reason);
        }
    }
    /* 2. the branch and the new message */
    struct rg_ctx_piece *last = NULL;
    int64_t thread = 0;
    struct rg_buf all; /* the conversation's text, for the glossary */
    rg_buf_init(&all, GLOSSARY_TEXT_MAX);
    for (size_t i = 0; !rc && !oom && i < q->nb; i++) {
        const struct rg_db_msg *m = &q->branch[i];
        const char *role = !strcmp(m->type, "user")        ? "user"
                           : !strcmp(m->type, "assistant") ? "assistant"
                           : !strcmp(m->type, "system")    ? "system"
                                                           : NULL; /* notes, summaries, tools */
        thread = m->thread_id;
        if (!role) continue;
        struct rg_ctx_piece *pc =
            piece_add(&p, RG_CTX_MESSAGE, m->content ? m->content : "",
                      json_pack("{s:I}", "message_id", (json_int_t)m->id), "recent message");
        if (!pc)
            oom = true;
        else {
            pc->role = role;
            last = pc;
            rg_buf_printf(&all, "%s\n", pc->text);
        }
    }
    if (!rc && !oom && q->new_text) {
        last = piece_add(&p, RG_CTX_MESSAGE, q->new_text, NULL, "your new message");
        if (!last)
            oom = true;
        else {
            last->role = "user";
            rg_buf_printf(&all, "%s\n", q->new_text);
        }
    }
    if (last) last->required = true;
    /* 3. the thread's summary */
    struct rg_db_msg sm = {0};
    if (!rc && !oom && !in.off[RG_CTX_SUMMARY] && q->nb &&
        thread_summary(st, q->owner, q->conv_id, thread, &sm)) {
        int64_t from, to, n;
        covers_of(&sm, &from, &to, &n);
        char reason[64];
        snprintf(reason, sizeof reason, "summary of %lld older messages", (long long)n);
        oom = !piece_add(&p, RG_CTX_SUMMARY, sm.content,
                         json_pack("{s:I, s:I}", "message_id", (json_int_t)sm.id, "thread_id",
                                   (json_int_t)thread),
                         reason);
    }
    rg_db_msg_clear(&sm);
    /* 4. glossary */
    if (!rc && !oom && !in.off[RG_CTX_GLOSSARY] && all.len) {
        rg_buf_append(&all, "", 1);
        json_t *g = NULL;
        rc = rg_api_mem_glossary_match(st, q->owner, all.data ? all.data : "", GLOSSARY_MAX, &g, e);
        size_t i;
        json_t *x;
        json_array_foreach(g, i, x)
        {
            const char *term = json_string_value(json_object_get(x, "term"));
            const char *def = json_string_value(json_object_get(x, "definition"));
            if (!term || !def) continue;
            struct rg_buf t;
            rg_buf_init(&t, SIZE_MAX);
            rg_buf_printf(&t, "%s: %s", term, def);
            rg_buf_append(&t, "", 1);
            char reason[300];
            snprintf(reason, sizeof reason, "'%s' appears in the conversation", term);
            if (!t.data || !piece_add(&p, RG_CTX_GLOSSARY, t.data,
                                      json_pack("{s:O, s:s}", "glossary_id",
                                                json_object_get(x, "id"), "term", term),
                                      reason))
                oom = true;
            rg_buf_free(&t);
        }
        json_decref(g);
    }
    rg_buf_free(&all);
    /* 5. library passages */
    json_t *src = NULL;
    if (!rc && !oom && !in.off[RG_CTX_LIBRARY])
        rc = rg_api_chat_passages(st, q->owner, q->use, q->question, q->v, q->budget, &src, e);
    size_t i;
    json_t *x;
    json_array_foreach(src, i, x)
    {
        char reason[64];
        snprintf(reason, sizeof reason, "passage [%lld] for the question",
                 (long long)json_integer_value(json_object_get(x, "n")));
        const char *t = json_string_value(json_object_get(x, "text"));
        if (!oom && !piece_add(&p, RG_CTX_LIBRARY, t ? t : "",
                               json_pack("{s:O, s:O}", "chunk_id", json_object_get(x, "chunk_id"),
                                         "document_id", json_object_get(x, "document_id")),
                               reason))
            oom = true;
    }
    /* 6. the user's other conversations */
    if (!rc && !oom && !in.off[RG_CTX_PRIOR] && add_prior(st, q, &p) != RG_OK) oom = true;
    if (!rc && oom) rc = rg_req_err_set(e, 500, NULL, NULL, "out of memory");
    in.pieces = p.v;
    in.n = p.n;
    if (!rc) rc = rg_ctx_build(&in, out, e);
    /* the sources that went in, without their texts */
    if (!rc && src) {
        json_t *kept = json_array();
        size_t k = 0;
        for (size_t j = 0; j < p.n; j++) {
            if (p.v[j].source != RG_CTX_LIBRARY) continue;
            json_t *s = json_array_get(src, k++);
            json_t *items = json_object_get(out->record, "items");
            size_t ii;
            json_t *it;
            bool in_prompt = false;
            json_array_foreach(items, ii, it) if (json_is_true(json_object_get(it, "included")) &&
                                                  json_equal(json_object_get(it, "ref"),
                                                             p.v[j].ref)) in_prompt = true;
            if (s && in_prompt) {
                json_object_del(s, "text");
                json_array_append(kept, s);
            }
        }
        if (json_array_size(kept))
            *sources = kept;
        else
            json_decref(kept);
    }
    json_decref(src);
    pieces_free(&p);
    rg_api_mem_prefs_clear(&prefs);
    return rc;
}

/* ---- topic shift ----------------------------------------------------------------------- */

bool rg_api_chat_topic_shift(struct rg_api_state *st, int64_t owner, const struct rg_db_msg *branch,
                             size_t nb, const char *text, double *distance, int64_t *thread_id)
{
    const struct rg_library_embedder *em = rg_api_embedder(st);
    if (!em || !nb || !text) return false;
    int64_t thread = branch[nb - 1].thread_id;
    const char *texts[SHIFT_RECENT + 2];
    size_t n = 0;
    struct rg_db_msg sm = {0};
    bool has_summary = thread_summary(st, owner, branch[nb - 1].conv_id, thread, &sm);
    if (has_summary) texts[n++] = sm.content;
    size_t recent = 0;
    for (size_t i = nb; i > 0 && recent < SHIFT_RECENT; i--) {
        const struct rg_db_msg *m = &branch[i - 1];
        if (m->thread_id != thread || (strcmp(m->type, "user") && strcmp(m->type, "assistant")))
            continue;
        if (!m->content || !*m->content) continue;
        texts[n++] = m->content;
        recent++;
    }
    bool ok = false;
    if (n) {
        texts[n] = text;
        float *v = NULL;
        int dim = 0;
        char err[RG_ERR_SIZE];
        if (embed(em, texts, n + 1, &v, &dim, err) == RG_OK) {
            double dot = 0, a = 0, b = 0;
            for (int d = 0; d < dim; d++) {
                double mean = 0;
                for (size_t k = 0; k < n; k++)
                    mean += v[k * (size_t)dim + d];
                mean /= (double)n;
                double y = v[n * (size_t)dim + d];
                dot += mean * y;
                a += mean * mean;
                b += y * y;
            }
            *distance = a > 0 && b > 0 ? 1 - dot / sqrt(a * b) : 1;
            *thread_id = thread;
            ok = true;
            rg_free(v);
        } else {
            rg_log(RG_LOG_WARN, "cannot embed for the topic shift", "error", 's', err, RG_LOG_END);
        }
    }
    rg_db_msg_clear(&sm);
    return ok;
}

/* ---- summaries ------------------------------------------------------------------------- */

/* Messages of thread on the active branch not covered by a summary that
 * ends at covered_to (0: none): their indexes in branch into idx (rg_free). */
static size_t uncovered(const struct rg_db_msg *branch, size_t nb, int64_t thread,
                        int64_t covered_to, size_t **idx)
{
    size_t start = 0;
    for (size_t i = 0; covered_to && i < nb; i++)
        if (branch[i].id == covered_to) start = i + 1;
    *idx = rg_malloc((nb ? nb : 1) * sizeof **idx);
    size_t n = 0;
    for (size_t i = start; *idx && i < nb; i++) {
        const struct rg_db_msg *m = &branch[i];
        if (m->thread_id != thread || (strcmp(m->type, "user") && strcmp(m->type, "assistant")))
            continue;
        if (covered_to && m->id <= covered_to && start == 0) continue; /* not on this branch */
        (*idx)[n++] = i;
    }
    return n;
}

/* The thread (by id) for owner; RG_ENOTFOUND. */
static int thread_get(struct rg_api_state *st, int64_t owner, int64_t id, struct rg_db_thread *t,
                      char *err)
{
    return rg_db_thread_update(st->db, owner, id, NULL, -1, -1, t, err); /* changes nothing */
}

static int summary_check(const json_t *p, void *user, char *err)
{
    (void)user;
    json_t *id = json_object_get(p, "thread_id");
    if (!json_is_object(p) || json_object_size(p) != 1 || !json_is_integer(id) ||
        json_integer_value(id) < 1)
        return rg_err_set(err, RG_EINVAL, "payload must be {\"thread_id\": N}");
    return RG_OK;
}

/* A summary without a model's help: the old one and the first words of each new message. */
static void summary_plain(const char *old, const struct rg_db_msg *branch, const size_t *idx,
                          size_t n, struct rg_buf *out)
{
    if (old && *old) rg_buf_printf(out, "%s\n", old);
    for (size_t i = 0; i < n; i++) {
        const struct rg_db_msg *m = &branch[idx[i]];
        const char *c = m->content ? m->content : "";
        rg_buf_printf(out, "%s: %.*s\n", !strcmp(m->type, "user") ? "User" : "Assistant",
                      (int)cut(c, 160), c);
    }
}

static int summary_run(struct rg_job_ctx *ctx, const json_t *payload, json_t **result, char *err)
{
    struct rg_api_state *st = rg_job_user(ctx);
    int64_t owner = rg_job_owner(ctx);
    int64_t tid = json_integer_value(json_object_get(payload, "thread_id"));
    struct rg_db_thread t = {0};
    struct rg_db_conv c = {0};
    struct rg_db_msg old = {0};
    struct rg_db_msg *branch = NULL;
    size_t nb = 0, *idx = NULL;
    int rc = thread_get(st, owner, tid, &t, err);
    if (rc == RG_OK) rc = rg_db_conv_get(st->db, owner, t.conv_id, &c, err);
    if (rc == RG_ENOTFOUND) { /* deleted meanwhile */
        *result = json_pack("{s:b}", "skipped", 1);
        return RG_OK;
    }
    if (rc == RG_OK) rc = rg_db_msg_branch(st->db, owner, t.conv_id, 0, &branch, &nb, err);
    if (rc != RG_OK) {
        rg_db_conv_clear(&c);
        return rc;
    }
    int64_t from = 0, to = 0, covered = 0;
    bool has_old = t.summary_id && rg_db_msg_get(st->db, owner, t.summary_id, &old, err) == RG_OK &&
                   !strcmp(old.type, "summary");
    if (has_old) covers_of(&old, &from, &to, &covered);
    size_t n = uncovered(branch, nb, tid, to, &idx);
    if (!idx) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    if (!rc && n == 0) {
        *result = json_pack("{s:b}", "skipped", 1);
        goto out;
    }
    /* the model's summary, else the plain one */
    const char *model = c.model;
    for (size_t i = 0; i < nb; i++)
        if (!strcmp(branch[i].type, "assistant") && branch[i].model[0]) model = branch[i].model;
    struct rg_buf text;
    rg_buf_init(&text, SIZE_MAX);
    for (size_t each = 1500; !rc && model[0] && each >= 200 && !text.len; each /= 3) {
        struct rg_buf q;
        rg_buf_init(&q, SIZE_MAX);
        rg_buf_printf(&q, "Summarise this conversation in a few sentences for whoever continues "
                          "it. Answer with the summary only.\n\n");
        if (has_old)
            rg_buf_printf(&q, "The summary so far: %.*s\n\n", (int)cut(old.content, each),
                          old.content);
        for (size_t i = 0; i < n && q.len < 6 * each; i++) {
            const struct rg_db_msg *m = &branch[idx[i]];
            rg_buf_printf(&q, "%s: %.*s\n\n", !strcmp(m->type, "user") ? "User" : "Assistant",
                          (int)cut(m->content, each), m->content);
        }
        rg_buf_append(&q, "", 1);
        char merr[RG_ERR_SIZE];
        if (q.data && rg_api_chat_model_text(ctx, st, model, q.data, SUMMARY_MAX_TOKENS, &text,
                                             merr) != RG_OK)
            text.len = 0;
        rg_buf_free(&q);
        if (rg_job_cancelled(ctx)) rc = RG_ECANCELED;
        /* only whitespace: nothing said */
        size_t k = 0;
        while (k < text.len && strchr(" \t\r\n", text.data[k]))
            k++;
        if (k == text.len) text.len = 0;
    }
    if (!rc && !text.len) summary_plain(has_old ? old.content : NULL, branch, idx, n, &text);
    rg_buf_append(&text, "", 1);
    if (!rc && !text.data) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    int64_t new_id = 0;
    if (!rc) {
        char *body = text.data;
        body[cut(body, SUMMARY_BYTES)] = '\0';
        if (!rg_utf8_valid(body, strlen(body)))
            body[rg_utf8_valid_prefix(body, strlen(body))] = '\0';
        int64_t first = has_old && from ? from : branch[idx[0]].id;
        int64_t last = branch[idx[n - 1]].id;
        json_t *set = json_pack("{s:{s:I, s:I, s:I}}", "covers", "from", (json_int_t)first, "to",
                                (json_int_t)last, "n", (json_int_t)(covered + (int64_t)n));
        char *stxt = set ? json_dumps(set, JSON_COMPACT) : NULL;
        json_decref(set);
        struct rg_db_msg_new nm = {.conv_id = t.conv_id,
                                   .parent_id = 0, /* a root of its own: never in a branch */
                                   .thread_id = tid,
                                   .type = "summary",
                                   .content = body,
                                   .model = model,
                                   .settings = stxt,
                                   .set_active = false,
                                   .now = now_ms()};
        struct rg_db_msg sm = {0};
        struct rg_db_thread tu = {0};
        rc = stxt ? rg_db_msg_add(st->db, owner, &nm, &sm, err)
                  : rg_err_set(err, RG_ENOMEM, "out of memory");
        free(stxt);
        new_id = sm.id;
        if (!rc) rc = rg_db_thread_update(st->db, owner, tid, NULL, -1, new_id, &tu, err);
        if (!rc && has_old) rg_db_msg_delete(st->db, owner, old.id, NULL, err); /* replaced */
        if (!rc)
            *result = json_pack("{s:I, s:I, s:{s:I, s:I, s:I}}", "summary_id", (json_int_t)new_id,
                                "thread_id", (json_int_t)tid, "covers", "from", (json_int_t)first,
                                "to", (json_int_t)last, "n", (json_int_t)(covered + (int64_t)n));
        rg_db_msg_clear(&sm);
    }
    rg_buf_free(&text);
out:
    rg_free(idx);
    rg_db_msg_list_free(branch, nb);
    rg_db_msg_clear(&old);
    rg_db_conv_clear(&c);
    if (!rc && !*result) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    return rc;
}

static int64_t summary_job(struct rg_api_state *st, int64_t owner, int64_t thread, int priority)
{
    json_t *p = json_pack("{s:I}", "thread_id", (json_int_t)thread);
    int64_t id = 0;
    char err[RG_ERR_SIZE];
    if (!p || rg_jobs_submit(st->jobs, "chat.summary", owner, p, priority, 2, &id, err) != RG_OK) {
        rg_log(RG_LOG_WARN, "cannot queue a summary", "error", 's', err, RG_LOG_END);
        id = 0;
    }
    json_decref(p);
    return id;
}

/* ---- message vectors ------------------------------------------------------------------- */

static int embed_check(const json_t *p, void *user, char *err)
{
    (void)user;
    json_t *ids = json_object_get(p, "message_ids");
    bool ok = json_is_object(p) && json_object_size(p) == 1 && json_is_array(ids) &&
              json_array_size(ids) >= 1 && json_array_size(ids) <= 16;
    size_t i;
    json_t *x;
    json_array_foreach(ids, i, x) ok = ok && json_is_integer(x) && json_integer_value(x) > 0;
    return ok ? RG_OK : rg_err_set(err, RG_EINVAL, "payload must be {\"message_ids\": [N, ...]}");
}

static int embed_run(struct rg_job_ctx *ctx, const json_t *payload, json_t **result, char *err)
{
    struct rg_api_state *st = rg_job_user(ctx);
    int64_t owner = rg_job_owner(ctx);
    const struct rg_library_embedder *em = rg_api_embedder(st);
    if (!em) {
        *result = json_pack("{s:b}", "skipped", 1);
        return RG_OK;
    }
    json_t *ids = json_object_get(payload, "message_ids");
    size_t i, done = 0;
    json_t *x;
    int rc = RG_OK;
    json_array_foreach(ids, i, x)
    {
        struct rg_db_msg m = {0};
        if (rg_db_msg_get(st->db, owner, json_integer_value(x), &m, err) != RG_OK ||
            !m.content[0]) { /* deleted meanwhile, or empty */
            rg_db_msg_clear(&m);
            continue;
        }
        float *v = NULL;
        int dim = 0;
        const char *t = m.content;
        rc = embed(em, &t, 1, &v, &dim, err);
        if (!rc) rc = rg_db_msgvec_put(st->db, owner, m.id, em->model, v, dim, now_ms(), err);
        if (rc == RG_ENOTFOUND)
            rc = RG_OK;
        else if (!rc)
            done++;
        rg_free(v);
        rg_db_msg_clear(&m);
        if (rc) break;
    }
    if (rc) return rc;
    *result = json_pack("{s:I}", "embedded", (json_int_t)done);
    return *result ? RG_OK : rg_err_set(err, RG_ENOMEM, "out of memory");
}

void rg_api_chat_answer_saved(struct rg_api_state *st, int64_t owner, int64_t conv_id,
                              int64_t user_id, int64_t asst_id)
{
    char err[RG_ERR_SIZE];
    if (rg_api_embedder(st)) {
        json_t *p = json_pack("{s:[]}", "message_ids");
        json_t *a = json_object_get(p, "message_ids");
        if (user_id) json_array_append_new(a, json_integer(user_id));
        if (asst_id) json_array_append_new(a, json_integer(asst_id));
        int64_t id;
        if (p && json_array_size(a) &&
            rg_jobs_submit(st->jobs, "chat.embed", owner, p, -1, 3, &id, err) != RG_OK)
            rg_log(RG_LOG_WARN, "cannot queue message vectors", "error", 's', err, RG_LOG_END);
        json_decref(p);
    }
    struct rg_api_mem_prefs prefs;
    struct rg_req_err e;
    if (rg_api_mem_prefs_get(st, owner, &prefs, &e) != RG_OK) return;
    int after = prefs.summary_after;
    rg_api_mem_prefs_clear(&prefs);
    if (after <= 0) return;
    struct rg_db_msg *branch = NULL;
    size_t nb = 0;
    if (rg_db_msg_branch(st->db, owner, conv_id, asst_id, &branch, &nb, err) != RG_OK) return;
    if (nb) {
        int64_t thread = branch[nb - 1].thread_id, from, to = 0, n;
        struct rg_db_msg sm = {0};
        if (thread_summary(st, owner, conv_id, thread, &sm)) covers_of(&sm, &from, &to, &n);
        rg_db_msg_clear(&sm);
        size_t *idx = NULL;
        size_t k = uncovered(branch, nb, thread, to, &idx);
        rg_free(idx);
        if (k >= (size_t)after) summary_job(st, owner, thread, -1);
    }
    rg_db_msg_list_free(branch, nb);
}

int rg_api_chat_context_jobs_register(struct rg_api_state *st, char *err)
{
    struct rg_job_kind s = {
        .name = "chat.summary", .run = summary_run, .check = summary_check, .user = st};
    struct rg_job_kind v = {
        .name = "chat.embed", .run = embed_run, .check = embed_check, .user = st};
    int rc = rg_jobs_register(st->jobs, &s, err);
    return rc ? rc : rg_jobs_register(st->jobs, &v, err);
}

/* ---- the routes ---------------------------------------------------------------------- */

static void get_context(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t owner = rg_api_chat_user(r);
    if (!owner) return;
    int64_t id = rg_api_chat_path_id(r, "message");
    if (!id) return;
    struct rg_db_msg m = {0};
    char err[RG_ERR_SIZE];
    int rc = rg_db_msg_get(st->db, owner, id, &m, err);
    if (rc) {
        rg_api_chat_db_fail(r, rc, "message", err);
        return;
    }
    json_t *s = m.settings ? json_loads(m.settings, 0, NULL) : NULL;
    json_t *rec = json_object_get(s, "context");
    if (!json_is_object(rec)) {
        rg_http_reply_error(r, 404, NULL, "not_found", "id",
                            "this message has no context record (only answers have one)");
    } else {
        json_t *o = json_deep_copy(rec);
        if (o) json_object_set_new(o, "message_id", json_integer(m.id));
        if (o)
            rg_http_reply_json(r, 200, o);
        else
            rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
    }
    json_decref(s);
    rg_db_msg_clear(&m);
}

static void dry_run(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t owner = rg_api_chat_user(r);
    if (!owner) return;
    int64_t id = rg_api_chat_path_id(r, "conversation");
    if (!id) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    struct rg_db_conv c = {0};
    char err[RG_ERR_SIZE];
    int rc = rg_db_conv_get(st->db, owner, id, &c, err);
    if (rc)
        rg_api_chat_db_fail(r, rc, "conversation", err);
    else
        rg_api_chat_dry_run(r, st, owner, &c, body);
    rg_db_conv_clear(&c);
}

static void summarize(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t owner = rg_api_chat_user(r);
    if (!owner) return;
    int64_t id = rg_api_chat_path_id(r, "thread");
    if (!id) return;
    struct rg_db_thread t;
    char err[RG_ERR_SIZE];
    int rc = thread_get(st, owner, id, &t, err);
    if (rc) {
        rg_api_chat_db_fail(r, rc, "thread", err);
        return;
    }
    int64_t job = summary_job(st, owner, id, 1);
    if (!job)
        rg_http_reply_error(r, 503, NULL, NULL, NULL, "the summary could not be queued");
    else
        rg_http_reply_json(r, 202, json_pack("{s:I}", "job", (json_int_t)job));
}

static const char CONTEXT_RESP[] =
    "{\"type\":\"object\",\"required\":[\"n_ctx\",\"budget\",\"used\",\"items\"],\"properties\":{"
    "\"message_id\":{\"type\":[\"integer\",\"null\"]},\"n_ctx\":{\"type\":\"integer\"},"
    "\"budget\":{\"type\":\"integer\"},\"used\":{\"type\":\"integer\"},\"items\":{\"type\":"
    "\"array\",\"items\":{\"type\":\"object\",\"required\":[\"source\",\"tokens\",\"included\","
    "\"reason\"],\"properties\":{\"source\":{\"enum\":[\"system\",\"style\",\"message\","
    "\"summary\",\"glossary\",\"library\",\"prior\"]},\"ref\":{\"type\":\"object\"},\"tokens\":{"
    "\"type\":\"integer\"},\"included\":{\"type\":\"boolean\"},\"reason\":{\"type\":\"string\"}}}}}"
    "}";
static const char DRY_REQ[] =
    "{\"type\":\"object\",\"required\":[\"content\"],\"additionalProperties\":false,"
    "\"properties\":{\"content\":{\"type\":\"string\",\"minLength\":1},"
    "\"parent_id\":{\"type\":\"integer\",\"minimum\":0},\"model\":{\"type\":\"string\"},"
    "\"settings\":{\"type\":\"object\"}}}";
static const char JOB_RESP[] =
    "{\"type\":\"object\",\"required\":[\"job\"],\"properties\":{\"job\":{\"type\":\"integer\"}}}";

size_t rg_api_chat_context_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const struct rg_route routes[] = {
        {RG_HTTP_GET, "/chat/messages/{id}/context", get_context, st, RG_ROLE_READONLY, 0, "chat",
         "What went into an answer's prompt and why (the context inspector)", NULL, CONTEXT_RESP},
        {RG_HTTP_POST, "/chat/conversations/{id}/context", dry_run, st, RG_ROLE_USER, 0, "chat",
         "The context record a message would get, before sending it (nothing is saved)", DRY_REQ,
         CONTEXT_RESP},
        {RG_HTTP_POST, "/chat/threads/{id}/summarize", summarize, st, RG_ROLE_USER, 0, "chat",
         "Queues the thread's summary (job chat.summary): 202 with the job", NULL, JOB_RESP},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n;
}
