/*
 * The budgeted prompt (context.h). Each piece's cost is what it adds to the
 * rendered prompt: a message, the tokens of its turn alone less those of an
 * empty prompt; a piece of the system message, what the system turn grows
 * by when the piece is appended. Pieces are taken greedily in priority
 * order; the whole prompt is then rendered once more and, should the
 * template's joins make it longer than the sum (they do not for the usual
 * formats), pieces are dropped from the lowest priority up until it fits,
 * so the budget holds by the real count, never by an estimate.
 */
#include "chat/context.h"

#include <stdio.h>
#include <string.h>

#include "chat/chat.h"
#include "common/alloc.h"
#include "common/buf.h"

static const char *const NAMES[RG_CTX_N_SOURCES] = {"system",   "style",   "message", "summary",
                                                    "glossary", "library", "prior"};

const char *rg_ctx_source_name(enum rg_ctx_source s)
{
    return (unsigned)s < RG_CTX_N_SOURCES ? NAMES[s] : "?";
}

size_t rg_ctx_tokens(const struct rg_vocab *v, const char *text)
{
    int32_t *t = NULL;
    size_t n = 0;
    if (rg_tokenize_alloc(v, text, strlen(text), false, false, &t, &n) != RG_OK) n = 0;
    rg_free(t);
    return n;
}

/* What became of one piece. */
struct pick {
    bool in;
    bool seen;       /* considered (it has a record item) */
    size_t tokens;   /* its cost */
    const char *why; /* reason when left out */
};

struct work {
    const struct rg_ctx_in *in;
    struct pick *p;
    size_t base; /* tokens of the empty prompt */
    char err[RG_ERR_SIZE];
};

/* Tokens of msgs rendered; RG_OK or the tokenizer's error. */
static int render(struct work *w, const struct rg_chat_msg *msgs, size_t n, size_t *out)
{
    int32_t *t = NULL;
    size_t nt = 0;
    int rc = rg_chat_tokenize_msgs(w->in->v, w->in->fmt, msgs, n, &t, &nt, w->err);
    rg_free(t);
    *out = nt;
    return rc;
}

/* The system text of the included system-message pieces (priority order). */
static int system_text(struct work *w, struct rg_buf *b)
{
    const struct rg_ctx_in *in = w->in;
    for (int s = 0; s < RG_CTX_N_SOURCES; s++) {
        if (s == RG_CTX_MESSAGE) continue;
        bool first = true;
        for (size_t i = 0; i < in->n; i++) {
            if ((int)in->pieces[i].source != s || !w->p[i].in) continue;
            if (b->len && rg_buf_append(b, "\n\n", 2) != RG_OK) return RG_ENOMEM;
            if (first && in->intro[s] && rg_buf_printf(b, "%s", in->intro[s]) != RG_OK)
                return RG_ENOMEM;
            first = false;
            if (rg_buf_printf(b, "%s", in->pieces[i].text) != RG_OK) return RG_ENOMEM;
        }
    }
    return rg_buf_append(b, "", 1) == RG_OK ? RG_OK : RG_ENOMEM; /* NUL, not counted in len */
}

/* Tokens of the whole prompt as it stands (into *n); with msgs_out, the
 * messages as JSON too. */
static int total(struct work *w, size_t *n, json_t **msgs_out)
{
    const struct rg_ctx_in *in = w->in;
    struct rg_buf sys;
    rg_buf_init(&sys, SIZE_MAX);
    int rc = system_text(w, &sys);
    size_t sl = sys.len ? sys.len - 1 : 0;
    struct rg_chat_msg *m = rc ? NULL : rg_malloc((in->n + 1) * sizeof *m);
    size_t k = 0;
    if (!rc && !m) rc = RG_ENOMEM;
    if (!rc && sl) m[k++] = (struct rg_chat_msg){"system", sys.data};
    for (size_t i = 0; !rc && i < in->n; i++)
        if (in->pieces[i].source == RG_CTX_MESSAGE && w->p[i].in)
            m[k++] = (struct rg_chat_msg){in->pieces[i].role, in->pieces[i].text};
    if (!rc) rc = render(w, m, k, n);
    if (!rc && msgs_out) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < k; i++)
            if (json_array_append_new(
                    a, json_pack("{s:s, s:s}", "role", m[i].role, "content", m[i].content)) != 0) {
                json_decref(a);
                a = NULL;
            }
        *msgs_out = a;
        if (!a) rc = RG_ENOMEM;
    }
    rg_free(m);
    rg_buf_free(&sys);
    return rc;
}

/* Tokens of the system turn alone with the included pieces (0: none). */
static int system_cost(struct work *w, size_t *cost)
{
    struct rg_buf sys;
    rg_buf_init(&sys, SIZE_MAX);
    int rc = system_text(w, &sys);
    *cost = 0;
    if (!rc && sys.len > 1) {
        struct rg_chat_msg m = {"system", sys.data};
        size_t n = 0;
        rc = render(w, &m, 1, &n);
        *cost = n > w->base ? n - w->base : 0;
    }
    rg_buf_free(&sys);
    return rc;
}

/* Takes piece i into the system message if it fits in what is left. */
static int try_system(struct work *w, size_t i, size_t *used)
{
    size_t before, after;
    int rc = system_cost(w, &before);
    if (rc) return rc;
    w->p[i].in = true;
    rc = system_cost(w, &after);
    if (rc) return rc;
    w->p[i].seen = true;
    w->p[i].tokens = after > before ? after - before : 0;
    if (*used + w->p[i].tokens <= w->in->budget) {
        *used += w->p[i].tokens;
    } else {
        w->p[i].in = false;
        w->p[i].why = "over the budget";
    }
    return RG_OK;
}

static int fail(int rc, struct work *w, struct rg_req_err *e)
{
    if (rc == RG_EUNSUPPORTED) return rg_req_err_set(e, 501, NULL, NULL, "%s", w->err);
    if (rc == RG_EINVAL) return rg_req_err_set(e, 400, "messages", NULL, "%s", w->err);
    return rg_req_err_set(e, 500, NULL, NULL, "out of memory");
}

static json_t *item(enum rg_ctx_source s, const json_t *ref, size_t tokens, bool in,
                    const char *reason)
{
    json_t *o = json_pack("{s:s, s:I, s:b, s:s}", "source", rg_ctx_source_name(s), "tokens",
                          (json_int_t)tokens, "included", in, "reason", reason ? reason : "");
    if (o && ref && json_object_set_new(o, "ref", json_deep_copy(ref)) != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* The record's items, in priority order (messages newest first). */
static json_t *items(struct work *w)
{
    const struct rg_ctx_in *in = w->in;
    json_t *a = json_array();
    for (int s = 0; a && s < RG_CTX_N_SOURCES; s++) {
        if (in->off[s]) {
            if (json_array_append_new(a, item(s, NULL, 0, false, "turned off")) != 0) goto oom;
            continue;
        }
        size_t listed = 0, more = 0, more_tokens = 0;
        for (size_t j = 0; j < in->n; j++) {
            size_t i = s == RG_CTX_MESSAGE ? in->n - 1 - j : j;
            const struct rg_ctx_piece *pc = &in->pieces[i];
            if ((int)pc->source != s || !w->p[i].seen) continue;
            if (s == RG_CTX_MESSAGE && !w->p[i].in && listed >= RG_CTX_RECORD_MESSAGES) {
                more++;
                more_tokens += w->p[i].tokens;
                continue;
            }
            if (s == RG_CTX_MESSAGE && !w->p[i].in) listed++;
            const char *why = w->p[i].in ? (pc->reason ? pc->reason : "") : w->p[i].why;
            if (json_array_append_new(a, item(s, pc->ref, w->p[i].tokens, w->p[i].in, why)) != 0)
                goto oom;
        }
        if (more) {
            char why[64];
            snprintf(why, sizeof why, "%zu older messages over the budget", more);
            if (json_array_append_new(a, item(s, NULL, more_tokens, false, why)) != 0) goto oom;
        }
    }
    return a;
oom:
    json_decref(a);
    return NULL;
}

/*
 * Step 2: the messages newest first while whole ones fit under limit (used
 * grows); the rest left out. RG_ETOOBIG (*need: what it would take) when
 * the required message does not fit. Every message's state is set afresh,
 * so a second call with another limit replaces the first.
 */
static int fill_messages(struct work *w, size_t limit, size_t *used, bool *left_out, size_t *need)
{
    const struct rg_ctx_in *in = w->in;
    bool stopped = false;
    *left_out = false;
    for (size_t j = 0; j < in->n && !in->off[RG_CTX_MESSAGE]; j++) {
        size_t i = in->n - 1 - j;
        const struct rg_ctx_piece *pc = &in->pieces[i];
        if (pc->source != RG_CTX_MESSAGE) continue;
        if (!w->p[i].seen) { /* its size, once */
            struct rg_chat_msg m = {pc->role, pc->text};
            size_t n = 0;
            int rc = render(w, &m, 1, &n);
            if (rc) return rc;
            w->p[i].seen = true;
            w->p[i].tokens = n > w->base ? n - w->base : 0;
        }
        w->p[i].in = false;
        w->p[i].why = NULL;
        if (!stopped && *used + w->p[i].tokens <= limit) {
            w->p[i].in = true;
            *used += w->p[i].tokens;
        } else if (pc->required) {
            *need = *used + w->p[i].tokens;
            return RG_ETOOBIG;
        } else {
            stopped = *left_out = true;
            w->p[i].why = "over the budget";
        }
    }
    return RG_OK;
}

/* Tokens to keep for the thread's summary: what it costs as a system turn
 * of its own (its source's intro and text, the template's framing), with a
 * little slack for the separator when it joins other instructions. 0
 * without one (or when it cannot be measured: then nothing is kept). */
static size_t summary_room(struct work *w)
{
    const struct rg_ctx_in *in = w->in;
    if (in->off[RG_CTX_SUMMARY]) return 0;
    for (size_t i = 0; i < in->n; i++)
        if (in->pieces[i].source == RG_CTX_SUMMARY && in->pieces[i].text[0]) {
            const char *intro = in->intro[RG_CTX_SUMMARY];
            struct rg_buf b;
            rg_buf_init(&b, SIZE_MAX);
            if (rg_buf_printf(&b, "%s%s", intro ? intro : "", in->pieces[i].text) != RG_OK ||
                !b.data) {
                rg_buf_free(&b);
                return 0;
            }
            struct rg_chat_msg m = {"system", b.data};
            size_t n = 0;
            int rc = render(w, &m, 1, &n);
            rg_buf_free(&b);
            return rc || n <= w->base ? 0 : n - w->base + 4;
        }
    return 0;
}

int rg_ctx_build(const struct rg_ctx_in *in, struct rg_ctx_out *out, struct rg_req_err *e)
{
    memset(out, 0, sizeof *out);
    struct work w = {.in = in};
    w.p = rg_calloc(in->n + 1, sizeof *w.p);
    if (!w.p) return rg_req_err_set(e, 500, NULL, NULL, "out of memory");
    int rc = render(&w, NULL, 0, &w.base);
    size_t used = w.base;
    /* 1. instructions */
    for (int s = RG_CTX_SYSTEM; !rc && s <= RG_CTX_STYLE; s++)
        for (size_t i = 0; !rc && i < in->n; i++)
            if ((int)in->pieces[i].source == s && !in->off[s] && in->pieces[i].text[0])
                rc = try_system(&w, i, &used);
    /* 2. the messages, newest first, as long as whole ones fit; when they do
     * not all fit and the thread has a summary, room for the summary is kept
     * first (it stands for the older part that is left out) */
    size_t before = used, need = 0;
    bool left_out = false;
    if (!rc) rc = fill_messages(&w, in->budget, &used, &left_out, &need);
    size_t reserve = !rc && left_out ? summary_room(&w) : 0;
    if (reserve && before + reserve < in->budget) {
        size_t u2 = before;
        bool lo2 = false;
        int rc2 = fill_messages(&w, in->budget - reserve, &u2, &lo2, &need);
        if (rc2 == RG_OK) {
            used = u2;
            left_out = true;
        } else if (rc2 == RG_ETOOBIG) { /* the new message needs that room: as before */
            used = before;
            rc = fill_messages(&w, in->budget, &used, &left_out, &need);
        } else {
            rc = rc2;
        }
    }
    if (rc == RG_ETOOBIG) {
        rg_free(w.p);
        return rg_req_err_set(e, 400, "content", "context_length_exceeded",
                              "the message needs %zu tokens with the instructions; this "
                              "model's context leaves %zu for the prompt",
                              need, in->budget);
    }
    /* 3.-6. the summary (only for a left-out part), glossary, library, prior */
    for (int s = RG_CTX_SUMMARY; !rc && s < RG_CTX_N_SOURCES; s++) {
        if (in->off[s]) continue;
        for (size_t i = 0; !rc && i < in->n; i++) {
            if ((int)in->pieces[i].source != s || !in->pieces[i].text[0]) continue;
            if (s == RG_CTX_SUMMARY && !left_out) {
                w.p[i].seen = true;
                w.p[i].why = "no message was left out";
                continue;
            }
            rc = try_system(&w, i, &used);
        }
    }
    /* the real count; drop from the lowest priority while over */
    size_t n = 0;
    while (!rc && !(rc = total(&w, &n, NULL)) && n > in->budget) {
        size_t drop = SIZE_MAX;
        for (int s = RG_CTX_N_SOURCES - 1; s >= 0 && drop == SIZE_MAX; s--)
            for (size_t i = 0; i < in->n && drop == SIZE_MAX; i++) /* oldest message first */
                if ((int)in->pieces[i].source == s && w.p[i].in && !in->pieces[i].required)
                    drop = i;
        if (drop == SIZE_MAX) {
            rg_free(w.p);
            return rg_req_err_set(e, 400, "content", "context_length_exceeded",
                                  "the prompt needs %zu tokens; this model's context leaves %zu", n,
                                  in->budget);
        }
        w.p[drop].in = false;
        w.p[drop].why = "over the budget";
    }
    if (!rc) rc = total(&w, &out->used, &out->messages);
    json_t *it = rc ? NULL : items(&w);
    if (!rc && it)
        out->record = json_pack("{s:I, s:I, s:I, s:o}", "n_ctx", (json_int_t)in->n_ctx, "budget",
                                (json_int_t)in->budget, "used", (json_int_t)out->used, "items", it);
    if (!rc && !out->record) rc = RG_ENOMEM;
    rg_free(w.p);
    if (rc) {
        rg_ctx_out_free(out);
        return fail(rc, &w, e);
    }
    return RG_OK;
}

void rg_ctx_out_free(struct rg_ctx_out *out)
{
    json_decref(out->messages);
    json_decref(out->record);
    memset(out, 0, sizeof *out);
}
