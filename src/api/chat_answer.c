/*
 * Answers in kept conversations (docs/chat.md): a posted message, an edit, a
 * regeneration or a continuation becomes a prompt built from the stored
 * branch (chat/ renders it in the model's template), the engine answers, the
 * stream stage sends it and this file saves it.
 *
 *   POST /chat/conversations/{id}/messages   a user message and its answer
 *   POST /chat/messages/{id}/edit            a new version of a message
 *   POST /chat/messages/{id}/regenerate      a new version of an answer
 *   POST /chat/messages/{id}/continue        an answer goes on where it stopped
 *
 * Order of work, so that a refusal saves nothing and a crash loses nothing
 * committed: the body is checked, the model held, the prompt built and
 * sized; the engine takes the request; only then are the user message and
 * the (empty, incomplete) answer saved, and the "start" event sent. The
 * answer's text is saved when the request ends, however it ends: a client
 * that leaves stops the generation and its partial answer is kept, marked
 * incomplete. The first answer of an untitled conversation queues a
 * chat.title job (background priority on the engine).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api_internal.h"
#include "api/chat_context.h"
#include "api/chat_internal.h"
#include "api/memory.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/str.h"
#include "api/api_jobs.h"
#include "engine/catalog/catalog.h"
#include "index/library.h"
#include "index/search.h"
#include "jobs/jobs.h"

#define TITLE_MAX_TOKENS 24
#define TITLE_BYTES 60

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* ---- settings ------------------------------------------------------------------- */

/* The settings a conversation or a request may carry (docs/chat.md; the
 * same set chat_store.c keeps), and their types; ranges are the generation
 * parser's to check. */
static const struct {
    const char *key;
    int type; /* 's' string, 'n' number, 'i' integer, 'c' collection ids, 'm' memory sources */
} SETTINGS[] = {
    {"system", 's'}, {"temperature", 'n'}, {"top_p", 'n'}, {"top_k", 'i'},  {"max_tokens", 'i'},
    {"seed", 'i'},   {"collections", 'c'}, {"style", 's'}, {"memory", 'm'},
};

#define COLLECTIONS_MAX 16 /* collections one answer may search */
#define SOURCES_MAX 6      /* passages one answer may be given */

/* An array of 0..COLLECTIONS_MAX positive integers. */
static bool collections_valid(const json_t *v)
{
    if (!json_is_array(v) || json_array_size(v) > COLLECTIONS_MAX) return false;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) if (!json_is_integer(x) || json_integer_value(x) < 1) return false;
    return true;
}

/* Checks a settings object (request or stored); RG_EINVAL naming the field. */
static int settings_check(const json_t *o, const char *where, struct rg_req_err *e)
{
    if (!json_is_object(o))
        return rg_req_err_set(e, 400, where, NULL, "'%s' must be an object", where);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        int type = 0;
        for (size_t i = 0; i < RG_ARRAY_LEN(SETTINGS); i++)
            if (!strcmp(key, SETTINGS[i].key)) type = SETTINGS[i].type;
        if (!type)
            return rg_req_err_set(e, 400, where, NULL, "'%s': unknown setting '%.40s'", where, key);
        bool ok = json_is_null(v) || (type == 's' && json_is_string(v)) ||
                  (type == 'n' && json_is_number(v)) || (type == 'i' && json_is_integer(v)) ||
                  (type == 'c' && collections_valid(v)) ||
                  (type == 'm' && rg_api_chat_memory_valid(v));
        if (!ok)
            return rg_req_err_set(e, 400, where, NULL, "'%s.%s' has the wrong type", where, key);
    }
    return RG_OK;
}

/* The conversation's settings with the request's over them (a new object). */
static json_t *settings_merge(const char *stored, const json_t *over, struct rg_req_err *e)
{
    json_t *s = stored && *stored ? json_loads(stored, 0, NULL) : json_object();
    if (!json_is_object(s)) { /* never written by us; ignored rather than failing every answer */
        json_decref(s);
        s = json_object();
    }
    if (over && json_object_update(s, (json_t *)over) != 0) {
        json_decref(s);
        rg_req_err_set(e, 500, NULL, NULL, "out of memory");
        return NULL;
    }
    return s;
}

/* ---- the default model ---------------------------------------------------------- */

/* The model an answer uses: asked, else the conversation's, else the
 * server's first (-m files first, then the models dir). "" if none. */
static void pick_model(const struct rg_api_state *st, const char *asked, const char *conv,
                       char *out, size_t n)
{
    out[0] = '\0';
    if (asked && *asked) {
        rg_strlcpy(out, asked, n);
    } else if (conv && *conv) {
        rg_strlcpy(out, conv, n);
    } else if (st->cfg->models.n) {
        rg_engine_model_id_of(st->cfg->models.v[0], out, n);
    } else {
        struct rg_model_list l;
        char err[RG_ERR_SIZE];
        if (rg_catalog_scan(st->cfg->models_dir, &l, err) != RG_OK) return;
        for (size_t i = 0; i < l.n && !out[0]; i++)
            if (!l.v[i].error && l.v[i].arch && strcmp(l.v[i].arch, "bert"))
                rg_strlcpy(out, l.v[i].name, n);
        rg_catalog_free(&l);
    }
}

/* ---- an answer being made --------------------------------------------------------- */

enum answer_kind { ANSWER_POST, ANSWER_REGEN, ANSWER_CONTINUE };

struct answer {
    struct rg_api_state *st;
    enum answer_kind kind;
    int64_t owner, conv_id;
    int64_t parent_id; /* POST: the new user message's parent; REGEN: the user message */
    char *content;     /* POST: the user's text */
    int64_t user_id;   /* POST: saved by begin */
    int64_t asst_id;   /* saved by begin (CONTINUE: the message going on) */
    char *prefix;      /* CONTINUE: its text so far */
    char model[128];
    char *settings; /* JSON text of what the answer used */
    bool title;     /* the conversation has no title yet: queue the job after this answer */
    char *context;  /* JSON text of the context record (kept in the answer's settings) */
    int shift;      /* POST, topic shift: 0 none, 1 suggest, 2 new thread */
    double shift_distance;
    int64_t shift_thread;
    bool dry; /* the context inspector's dry run: reply with the record, answer nothing */
    double t0;
};

static void answer_free(void *user)
{
    struct answer *a = user;
    if (!a) return;
    rg_free(a->content);
    rg_free(a->prefix);
    rg_free(a->settings);
    rg_free(a->context);
    rg_free(a);
}

static int status_of(int rc)
{
    return rc == RG_ENOTFOUND ? 404 : rc == RG_EINVAL ? 400 : rc == RG_EBUSY ? 503 : 500;
}

/* The record's new message gets its id once it is saved. */
static void record_user_id(struct answer *a)
{
    json_t *s = a->settings ? json_loads(a->settings, 0, NULL) : NULL;
    json_t *items = json_object_get(json_object_get(s, "context"), "items");
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *src = json_string_value(json_object_get(it, "source"));
        if (src && !strcmp(src, "message") && !json_object_get(it, "ref")) {
            json_object_set_new(it, "ref",
                                json_pack("{s:I}", "message_id", (json_int_t)a->user_id));
            char *t = json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS);
            if (t) {
                rg_free(a->settings);
                a->settings = t;
            }
            break;
        }
    }
    json_decref(s);
}

static int answer_begin(void *user, json_t **start, int *status, char *err)
{
    struct answer *a = user;
    int64_t now = now_ms();
    struct rg_db *db = a->st->db;
    struct rg_db_msg um = {0}, am = {0};
    int rc = RG_OK;
    a->t0 = mono_ms();
    if (a->kind == ANSWER_POST) {
        struct rg_db_msg_new n = {.conv_id = a->conv_id,
                                  .parent_id = a->parent_id,
                                  .type = "user",
                                  .content = a->content,
                                  .set_active = true,
                                  .now = now};
        rc = rg_db_msg_add(db, a->owner, &n, &um, err);
        a->user_id = um.id;
        if (rc == RG_OK) record_user_id(a);
    }
    struct rg_db_thread nt = {0};
    bool moved = false;
    if (rc == RG_OK && a->kind == ANSWER_POST && a->shift == 2) {
        /* a topic shift: the message (and so its answer) starts a new thread */
        char merr[RG_ERR_SIZE];
        if (rg_db_msg_move(db, a->owner, a->user_id, 0, NULL, now, &nt, merr) == RG_OK) {
            moved = true;
            um.thread_id = nt.id;
        } else {
            rg_log(RG_LOG_WARN, "cannot start a new thread", "error", 's', merr, RG_LOG_END);
        }
    }
    if (rc == RG_OK && a->kind != ANSWER_CONTINUE) {
        struct rg_db_msg_new n = {.conv_id = a->conv_id,
                                  .parent_id = a->kind == ANSWER_POST ? a->user_id : a->parent_id,
                                  .type = "assistant",
                                  .content = "",
                                  .model = a->model,
                                  .settings = a->settings,
                                  .incomplete = true,
                                  .set_active = true,
                                  .now = now};
        rc = rg_db_msg_add(db, a->owner, &n, &am, err);
        a->asst_id = am.id;
    } else if (rc == RG_OK) {
        rc = rg_db_msg_get(db, a->owner, a->asst_id, &am, err);
        if (rc == RG_OK)
            rc = rg_db_conv_set_active(db, a->owner, a->conv_id, a->asst_id, false, &(int64_t){0},
                                       err);
    }
    if (rc == RG_OK) {
        *start =
            json_pack("{s:o, s:o}", "user_message",
                      a->kind == ANSWER_POST ? rg_api_chat_msg_json(&um, NULL, 0) : json_null(),
                      "assistant_message", rg_api_chat_msg_json(&am, NULL, 0));
        if (*start && moved)
            json_object_set_new(*start, "new_thread", rg_api_chat_thread_json(&nt));
        if (*start && a->shift == 1)
            json_object_set_new(*start, "topic_shift",
                                json_pack("{s:f, s:I}", "distance", a->shift_distance, "thread_id",
                                          (json_int_t)a->shift_thread));
        if (!*start) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    } else {
        *status = status_of(rc);
        if (rc == RG_ENOTFOUND) rg_err_set(err, rc, "no such conversation or message");
    }
    rg_db_msg_clear(&um);
    rg_db_msg_clear(&am);
    return rc;
}

/* Queues the title job of the conversation; its id, or 0. */
static int64_t title_job(struct answer *a)
{
    json_t *p = json_pack("{s:I}", "conversation_id", (json_int_t)a->conv_id);
    int64_t id = 0;
    char err[RG_ERR_SIZE];
    if (p && rg_jobs_submit(a->st->jobs, "chat.title", a->owner, p, 0, 2, &id, err) != RG_OK) {
        rg_log(RG_LOG_WARN, "cannot queue the title job", "error", 's', err, RG_LOG_END);
        id = 0;
    }
    json_decref(p);
    return id;
}

static json_t *answer_end(void *user, const struct rg_api_kept_end *k, const char **event)
{
    struct answer *a = user;
    struct rg_buf text;
    rg_buf_init(&text, SIZE_MAX);
    if (a->prefix) rg_buf_append(&text, a->prefix, strlen(a->prefix));
    rg_buf_append(&text, k->text, k->len);
    rg_buf_append(&text, "", 1); /* NUL */
    bool ended = k->rc == RG_OK;
    struct rg_db_msg_end e = {
        .content = text.data ? text.data : "",
        .finish = k->finish,
        .incomplete = !ended,
        .prompt_tokens = k->prompt_tokens,
        .completion_tokens = k->completion_tokens,
        .duration_ms = (int64_t)(mono_ms() - a->t0),
        /* a continuation keeps the record of its own prompt */
        .settings = a->kind == ANSWER_CONTINUE ? a->settings : NULL,
        .now = now_ms(),
    };
    struct rg_db_msg m = {0};
    struct rg_db_conv c = {0};
    char err[RG_ERR_SIZE];
    int rc = rg_db_msg_finish(a->st->db, a->owner, a->asst_id, &e, &m, err);
    rg_buf_free(&text);
    if (rc != RG_OK) {
        rg_log(RG_LOG_ERROR, "cannot save an answer", "message", 'i', (long long)a->asst_id,
               "error", 's', err, RG_LOG_END);
        *event = "error";
        return json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message",
                         "the answer could not be saved", "type", "server_error", "param", "code");
    }
    int64_t job = ended && a->title ? title_job(a) : 0;
    rg_api_mem_answered(a->st, a->owner, a->conv_id, ended);
    if (ended) rg_api_chat_answer_saved(a->st, a->owner, a->conv_id, a->user_id, a->asst_id);
    struct rg_db_msg *all = NULL;
    size_t n = 0;
    if (rg_db_msg_list(a->st->db, a->owner, a->conv_id, &all, &n, err) != RG_OK) n = 0;
    json_t *mj = rg_api_chat_msg_json(&m, all, n);
    rg_db_msg_list_free(all, n);
    json_t *o;
    if (ended || k->rc == RG_ECANCELED) {
        *event = "end";
        o = json_pack("{s:o, s:{s:I, s:I}}", "message", mj, "usage", "prompt_tokens",
                      (json_int_t)k->prompt_tokens, "completion_tokens",
                      (json_int_t)k->completion_tokens);
        if (o && rg_db_conv_get(a->st->db, a->owner, a->conv_id, &c, err) == RG_OK)
            json_object_set_new(o, "conversation", rg_api_chat_conv_json(&c));
        if (o && job) json_object_set_new(o, "title_job", json_integer(job));
    } else {
        *event = "error";
        o = json_pack("{s:{s:s, s:s, s:n, s:n}, s:o}", "error", "message", k->err, "type",
                      "server_error", "param", "code", "message", mj);
    }
    rg_db_conv_clear(&c);
    rg_db_msg_clear(&m);
    return o;
}

/* ---- building the prompt ------------------------------------------------------------- */

/* The OpenAI-shaped body chat/ and the settings parser read: the sampling
 * settings and the messages the context builder chose (docs/memory.md). */
static json_t *prompt_body(const json_t *settings, json_t *messages, bool stream)
{
    json_t *b = json_deep_copy(settings);
    if (!b) return NULL;
    static const char *const drop[] = {"system", "collections", "sources",
                                       "style",  "memory",      "context"};
    for (size_t i = 0; i < RG_ARRAY_LEN(drop); i++)
        json_object_del(b, drop[i]);
    if (json_object_set(b, "messages", messages) != 0 ||
        json_object_set_new(b, "stream", json_boolean(stream)) != 0) {
        json_decref(b);
        return NULL;
    }
    return b;
}

/* ---- answers from the library (docs/chat.md) ---------------------------------------- */

/* UTF-8 text cut to at most max bytes at a character boundary: its length. */
static size_t utf8_cut(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static int retrieve(struct rg_api_state *st, int64_t owner, const json_t *use, const char *query,
                    const struct rg_vocab *v, size_t budget, struct rg_buf *passages,
                    json_t **sources, bool texts, struct rg_req_err *e)
{
    *sources = NULL;
    json_t *cv = json_object_get(use, "collections");
    if (cv && !collections_valid(cv))
        return rg_req_err_set(e, 400, "collections", NULL,
                              "'collections' must be at most %d collection ids", COLLECTIONS_MAX);
    size_t nc = json_array_size(cv);
    if (!nc || !query || !*query) return RG_OK;
    int64_t ids[COLLECTIONS_MAX];
    char err[RG_ERR_SIZE];
    for (size_t i = 0; i < nc && i < COLLECTIONS_MAX; i++) {
        ids[i] = json_integer_value(json_array_get(cv, i));
        struct rg_db_collection c;
        int rc = rg_db_collection_get(st->db, owner, ids[i], &c, err);
        if (rc == RG_ENOTFOUND)
            return rg_req_err_set(e, 404, "settings.collections", "not_found",
                                  "no such collection: %lld", (long long)ids[i]);
        if (rc) return rg_req_err_set(e, 500, NULL, NULL, "the library is unavailable");
    }
    struct rg_library *lib = rg_api_library_get(st);
    if (!lib) return RG_OK;
    char q[512];
    size_t qn = utf8_cut(query, sizeof q - 1);
    memcpy(q, query, qn);
    q[qn] = '\0';
    struct rg_search_query sq = {.user = owner,
                                 .q = q,
                                 .mode = RG_SEARCH_HYBRID,
                                 .any_word =
                                     true, /* a question's words are not all in its answer */
                                 .collections = ids,
                                 .n_collections = RG_MIN(nc, (size_t)COLLECTIONS_MAX),
                                 .limit = SOURCES_MAX};
    struct rg_search_result res = {0};
    if (rg_library_search(lib, &sq, &res, err) != RG_OK) {
        rg_log(RG_LOG_WARN, "library search for an answer failed", "error", 's', err, RG_LOG_END);
        return RG_OK;
    }
    json_t *src = json_array();
    size_t used = 0;
    for (size_t i = 0; src && i < res.n; i++) {
        const struct rg_db_chunk_hit *h = &res.hits[i].c;
        struct rg_db_chunk ch = {0};
        struct rg_db_document doc;
        if (rg_db_chunk_get(st->db, owner, h->chunk_id, &ch, &doc, err) != RG_OK) continue;
        const char *text = ch.text ? ch.text : "";
        int32_t *toks = NULL;
        size_t nt = 0;
        bool fits = rg_tokenize_alloc(v, text, strlen(text), false, false, &toks, &nt) == RG_OK &&
                    used + nt + 32 <= budget;
        rg_free(toks);
        if (fits) {
            used += nt + 32; /* the label line */
            size_t n = json_array_size(src) + 1, at = passages->len;
            rg_buf_printf(passages, "[%zu] %s", n, h->title[0] ? h->title : "Untitled");
            if (h->heading[0]) rg_buf_printf(passages, " — %s", h->heading);
            if (h->page_from > 0)
                rg_buf_printf(passages, h->page_to > h->page_from ? " (pp. %d-%d)" : " (p. %d)",
                              h->page_from, h->page_to);
            rg_buf_printf(passages, "\n%s", text);
            json_t *own = texts && passages->len >= at
                              ? rg_api_json_text(passages->data + at, passages->len - at)
                              : NULL;
            rg_buf_printf(passages, "\n\n");
            json_array_append_new(
                src, json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:i, s:i, s:o}", "n", (json_int_t)n,
                               "chunk_id", (json_int_t)h->chunk_id, "document_id",
                               (json_int_t)h->doc_id, "collection_id", (json_int_t)h->collection_id,
                               "title", rg_api_json_text(h->title, strlen(h->title)), "heading",
                               rg_api_json_text(h->heading, strlen(h->heading)), "page_from",
                               h->page_from, "page_to", h->page_to, "snippet",
                               rg_api_json_text(h->snippet, strlen(h->snippet))));
            if (own)
                json_object_set_new(json_array_get(src, json_array_size(src) - 1), "text", own);
        }
        rg_db_chunk_clear(&ch);
    }
    rg_search_result_free(&res);
    if (src && json_array_size(src))
        *sources = src;
    else
        json_decref(src);
    return RG_OK;
}

int rg_api_chat_retrieve(struct rg_api_state *st, int64_t owner, const json_t *use,
                         const char *query, const struct rg_vocab *v, size_t budget,
                         struct rg_buf *passages, json_t **sources, struct rg_req_err *e)
{
    return retrieve(st, owner, use, query, v, budget, passages, sources, false, e);
}

int rg_api_chat_passages(struct rg_api_state *st, int64_t owner, const json_t *use,
                         const char *query, const struct rg_vocab *v, size_t budget,
                         json_t **sources, struct rg_req_err *e)
{
    struct rg_buf b;
    rg_buf_init(&b, SIZE_MAX);
    int rc = retrieve(st, owner, use, query, v, budget, &b, sources, true, e);
    rg_buf_free(&b);
    return rc;
}

/*
 * The common path of the four routes: a holds what begin and end need; leaf
 * is the end of the history the prompt is built from (0: none); user_text
 * the new message (POST) or NULL; body the request (model, settings,
 * stream). Replies in every case and frees a.
 */
static void answer_run(struct rg_http_req *r, struct rg_api_state *st, struct answer *a,
                       const struct rg_db_conv *conv, int64_t leaf, const json_t *body)
{
    struct rg_req_err e = {0};
    json_t *over = json_object_get(body, "settings");
    json_t *mv = json_object_get(body, "model");
    json_t *sv = json_object_get(body, "stream");
    int rc = RG_OK;
    if (over && !json_is_null(over)) rc = settings_check(over, "settings", &e);
    if (!rc && mv && !json_is_string(mv))
        rc = rg_req_err_set(&e, 400, "model", NULL, "'model' must be a string");
    if (!rc && sv && !json_is_boolean(sv))
        rc = rg_req_err_set(&e, 400, "stream", NULL, "'stream' must be a boolean");
    json_t *use =
        rc ? NULL : settings_merge(conv->settings, json_is_object(over) ? over : NULL, &e);
    if (!rc && !use) rc = RG_ENOMEM;
    if (rc) {
        rg_api_reply_err(r, &e);
        json_decref(use);
        answer_free(a);
        return;
    }
    pick_model(st, json_string_value(mv), conv->model, a->model, sizeof a->model);
    if (!a->model[0]) {
        rg_http_reply_error(r, 503, NULL, "no_model", "model",
                            "no model to answer with: add one "
                            "to the models dir or give -m");
        json_decref(use);
        answer_free(a);
        return;
    }
    struct rg_engine_model *m = rg_api_model_hold(r, st, a->model);
    if (!m) {
        json_decref(use);
        answer_free(a);
        return;
    }
    struct rg_db_msg *branch = NULL;
    size_t nb = 0;
    char err[RG_ERR_SIZE];
    if (leaf > 0 &&
        (rc = rg_db_msg_branch(st->db, a->owner, a->conv_id, leaf, &branch, &nb, err))) {
        rg_api_chat_db_fail(r, rc, "message", err);
        rg_engine_release(m, NAN);
        json_decref(use);
        answer_free(a);
        return;
    }
    bool stream = !sv || json_is_true(sv);
    const struct rg_model *model = rg_engine_model_get(m);
    /* the library's passages and the prior messages are found for the
     * question asked (POST: the new text; else the branch's last user message) */
    const char *question = a->kind == ANSWER_POST ? a->content : NULL;
    for (size_t i = nb; !question && i > 0; i--)
        if (!strcmp(branch[i - 1].type, "user")) question = branch[i - 1].content;
    long n_ctx = rg_engine_model_n_ctx(m);
    size_t extra = a->prefix && *a->prefix ? rg_ctx_tokens(rg_model_vocab(model), a->prefix) : 0;
    struct rg_api_ctx_req q = {.owner = a->owner,
                               .conv_id = a->conv_id,
                               .use = use,
                               .branch = branch,
                               .nb = nb,
                               .new_text = a->kind == ANSWER_POST ? a->content : NULL,
                               .question = question,
                               .v = rg_model_vocab(model),
                               .fmt = rg_engine_model_chat_format(m),
                               .n_ctx = n_ctx,
                               .budget = rg_api_chat_budget(st, use, n_ctx, extra)};
    struct rg_ctx_out co = {0};
    json_t *sources = NULL;
    rc = rg_api_chat_context(st, &q, &co, &sources, &e);
    if (rc == RG_OK && a->kind == ANSWER_POST && !a->dry) { /* docs/memory.md, topic shift */
        struct rg_api_mem_prefs prefs;
        struct rg_req_err pe;
        if (rg_api_mem_prefs_get(st, a->owner, &prefs, &pe) == RG_OK &&
            strcmp(prefs.auto_thread, "off") != 0 &&
            rg_api_chat_topic_shift(st, a->owner, branch, nb, a->content, &a->shift_distance,
                                    &a->shift_thread) &&
            a->shift_distance > prefs.auto_thread_distance)
            a->shift = !strcmp(prefs.auto_thread, "new") ? 2 : 1;
        rg_api_mem_prefs_clear(&prefs);
    }
    rg_db_msg_list_free(branch, nb);
    if (rc == RG_OK && a->dry) {
        json_object_set_new(co.record, "message_id", json_null());
        rg_http_reply_json(r, 200, json_incref(co.record));
    }
    if (rc != RG_OK || a->dry) {
        if (rc != RG_OK) rg_api_reply_err(r, &e);
        rg_ctx_out_free(&co);
        json_decref(sources);
        rg_engine_release(m, NAN);
        json_decref(use);
        answer_free(a);
        return;
    }
    if (sources) json_object_set(use, "sources", sources); /* kept with the answer */
    json_object_set(use, "context", co.record);
    a->settings = json_dumps(use, JSON_COMPACT | JSON_SORT_KEYS);
    if (a->settings && strlen(a->settings) > RG_DB_CONV_SETTINGS_MAX) {
        /* never with the record's bounds; kept short rather than failing the answer */
        json_object_set_new(use, "context",
                            json_pack("{s:O, s:O, s:O, s:[], s:b}", "n_ctx",
                                      json_object_get(co.record, "n_ctx"), "budget",
                                      json_object_get(co.record, "budget"), "used",
                                      json_object_get(co.record, "used"), "items", "truncated", 1));
        rg_free(a->settings);
        a->settings = json_dumps(use, JSON_COMPACT | JSON_SORT_KEYS);
    }
    json_decref(sources);
    json_t *pb = prompt_body(use, co.messages, stream);
    rg_ctx_out_free(&co);
    json_decref(use);
    struct rg_api_gen g = {0};
    struct rg_chat_prompt cp = {0};
    rc = pb ? rg_api_gen_parse(pb, NULL, RG_API_OPENAI_CHAT, rg_model_info(model)->n_vocab, &g, &e)
            : rg_req_err_set(&e, 500, NULL, NULL, "out of memory");
    if (rc == RG_OK)
        rc = rg_chat_prompt_build(pb, rg_model_vocab(model), rg_engine_model_chat_format(m), &cp,
                                  &e);
    json_decref(pb);
    if (rc == RG_OK && a->prefix && *a->prefix) { /* the answer goes on from its own text */
        int32_t *more = NULL;
        size_t nm = 0;
        rc = rg_tokenize_alloc(rg_model_vocab(model), a->prefix, strlen(a->prefix), false, false,
                               &more, &nm);
        int32_t *all = rc ? NULL : rg_realloc(cp.tokens, (cp.n_tokens + nm) * sizeof *all);
        if (all) {
            memcpy(all + cp.n_tokens, more, nm * sizeof *more);
            cp.tokens = all;
            cp.n_tokens += nm;
        } else {
            rc = rg_req_err_set(&e, 500, NULL, NULL, "out of memory");
        }
        rg_free(more);
    }
    if (rc == RG_OK) rc = rg_api_prompt_fits(cp.n_tokens, n_ctx, "content", &e);
    if (rc == RG_OK)
        rc = rg_api_gen_fit_default(&g, 1, n_ctx, st->cfg->max_request_work,
                                    st->cfg->default_max_tokens, &e);
    if (rc == RG_OK && !a->settings) rc = rg_req_err_set(&e, 500, NULL, NULL, "out of memory");
    if (rc != RG_OK) {
        rg_api_reply_err(r, &e);
        rg_engine_release(m, NAN);
        answer_free(a);
    } else {
        a->title = conv->title_auto && !conv->title[0];
        struct rg_api_keep keep = {answer_begin, answer_end, answer_free, a};
        rg_api_generate_kept(r, st, m, &g, cp.tokens, (int32_t)cp.n_tokens, &keep);
    }
    rg_api_gen_free(&g);
    rg_chat_prompt_free(&cp);
}

/* ---- the routes ---------------------------------------------------------------------- */

/* The user's text: a string of 1..RG_DB_MSG_CONTENT_MAX bytes of UTF-8. */
static const char *user_text(struct rg_http_req *r, const json_t *body)
{
    json_t *c = json_object_get(body, "content");
    const char *s = json_string_value(c);
    size_t n = s ? json_string_length(c) : 0;
    if (!s || !n || n > RG_DB_MSG_CONTENT_MAX || strlen(s) != n) {
        rg_http_reply_error(r, 400, NULL, NULL, "content",
                            "'content' must be a non-empty string of at most %u bytes",
                            RG_DB_MSG_CONTENT_MAX);
        return NULL;
    }
    return s;
}

static struct answer *answer_new(struct rg_http_req *r, struct rg_api_state *st,
                                 enum answer_kind kind, int64_t owner, int64_t conv)
{
    struct answer *a = rg_calloc(1, sizeof *a);
    if (!a) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return NULL;
    }
    a->st = st;
    a->kind = kind;
    a->owner = owner;
    a->conv_id = conv;
    return a;
}

static const char *const POST_FIELDS[] = {"content",  "parent_id", "model",
                                          "settings", "stream",    NULL};

static void post_message(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t owner = rg_api_chat_user(r);
    if (!owner) return;
    int64_t id = rg_api_chat_path_id(r, "conversation");
    if (!id) return;
    json_t *body = rg_http_req_json(r);
    if (!body || !rg_api_chat_fields_known(r, body, POST_FIELDS)) return;
    const char *text = user_text(r, body);
    if (!text) return;
    json_t *pv = json_object_get(body, "parent_id");
    if (pv && !json_is_null(pv) && (!json_is_integer(pv) || json_integer_value(pv) < 0)) {
        rg_http_reply_error(r, 400, NULL, NULL, "parent_id",
                            "'parent_id' must be a message id (or 0 for a new root)");
        return;
    }
    struct rg_db_conv c = {0};
    char err[RG_ERR_SIZE];
    int rc = rg_db_conv_get(st->db, owner, id, &c, err);
    if (rc) {
        rg_api_chat_db_fail(r, rc, "conversation", err);
        return;
    }
    struct answer *a = answer_new(r, st, ANSWER_POST, owner, id);
    if (a) {
        a->parent_id = pv && json_is_integer(pv) ? json_integer_value(pv) : c.active_leaf;
        a->content = rg_strdup(text);
        if (!a->content) {
            rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
            answer_free(a);
        } else {
            answer_run(r, st, a, &c, a->parent_id, body);
        }
    }
    rg_db_conv_clear(&c);
}

static const char *const DRY_FIELDS[] = {"content", "parent_id", "model", "settings", NULL};

void rg_api_chat_dry_run(struct rg_http_req *r, struct rg_api_state *st, int64_t owner,
                         const struct rg_db_conv *conv, const json_t *body)
{
    if (!rg_api_chat_fields_known(r, body, DRY_FIELDS)) return;
    const char *text = user_text(r, body);
    if (!text) return;
    json_t *pv = json_object_get(body, "parent_id");
    if (pv && !json_is_null(pv) && (!json_is_integer(pv) || json_integer_value(pv) < 0)) {
        rg_http_reply_error(r, 400, NULL, NULL, "parent_id",
                            "'parent_id' must be a message id (or 0 for a new root)");
        return;
    }
    struct answer *a = answer_new(r, st, ANSWER_POST, owner, conv->id);
    if (!a) return;
    a->dry = true;
    a->parent_id = pv && json_is_integer(pv) ? json_integer_value(pv) : conv->active_leaf;
    a->content = rg_strdup(text);
    if (!a->content) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        answer_free(a);
        return;
    }
    answer_run(r, st, a, conv, a->parent_id, body);
}

/* The message of {id} and its conversation; false when replied (404...). */
static bool msg_and_conv(struct rg_http_req *r, struct rg_api_state *st, int64_t owner,
                         struct rg_db_msg *m, struct rg_db_conv *c)
{
    int64_t id = rg_api_chat_path_id(r, "message");
    if (!id) return false;
    char err[RG_ERR_SIZE];
    int rc = rg_db_msg_get(st->db, owner, id, m, err);
    if (rc == RG_OK) rc = rg_db_conv_get(st->db, owner, m->conv_id, c, err);
    if (rc) rg_api_chat_db_fail(r, rc, "message", err);
    return rc == RG_OK;
}

static const char *const EDIT_FIELDS[] = {"content", "model", "settings", "stream", NULL};

static void edit_message(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t owner = rg_api_chat_user(r);
    if (!owner) return;
    json_t *body = rg_http_req_json(r);
    if (!body || !rg_api_chat_fields_known(r, body, EDIT_FIELDS)) return;
    const char *text = user_text(r, body);
    if (!text) return;
    struct rg_db_msg m = {0};
    struct rg_db_conv c = {0};
    if (!msg_and_conv(r, st, owner, &m, &c)) goto out;
    if (strcmp(m.type, "user") != 0) { /* a new version, nothing to answer */
        struct rg_db_msg_new n = {.conv_id = m.conv_id,
                                  .parent_id = m.parent_id,
                                  .thread_id = m.thread_id,
                                  .type = m.type,
                                  .role = m.role,
                                  .content = text,
                                  .model = m.model,
                                  .settings = m.settings,
                                  .set_active = true,
                                  .now = now_ms()};
        struct rg_db_msg out = {0};
        char err[RG_ERR_SIZE];
        int rc = rg_db_msg_add(st->db, owner, &n, &out, err);
        if (rc) {
            rg_api_chat_db_fail(r, rc, "message", err);
        } else {
            struct rg_db_msg *all = NULL;
            size_t na = 0;
            if (rg_db_msg_list(st->db, owner, m.conv_id, &all, &na, err) != RG_OK) na = 0;
            rg_http_reply_json(r, 201, rg_api_chat_msg_json(&out, all, na));
            rg_db_msg_list_free(all, na);
        }
        rg_db_msg_clear(&out);
        goto out;
    }
    struct answer *a = answer_new(r, st, ANSWER_POST, owner, m.conv_id);
    if (a) {
        a->parent_id = m.parent_id;
        a->content = rg_strdup(text);
        if (!a->content) {
            rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
            answer_free(a);
        } else {
            answer_run(r, st, a, &c, m.parent_id, body);
        }
    }
out:
    rg_db_msg_clear(&m);
    rg_db_conv_clear(&c);
}

static const char *const REGEN_FIELDS[] = {"model", "settings", "stream", NULL};
static const char *const CONTINUE_FIELDS[] = {"stream", NULL};

/* regenerate and continue: both start from an assistant message. */
static void again(struct rg_http_req *r, struct rg_api_state *st, enum answer_kind kind)
{
    int64_t owner = rg_api_chat_user(r);
    if (!owner) return;
    size_t blen = 0;
    rg_http_req_body(r, &blen);
    json_t *body = blen ? rg_http_req_json(r) : NULL; /* an empty body is fine here */
    if (blen && !body) return;
    if (body &&
        !rg_api_chat_fields_known(r, body, kind == ANSWER_REGEN ? REGEN_FIELDS : CONTINUE_FIELDS))
        return;
    struct rg_db_msg m = {0};
    struct rg_db_conv c = {0};
    if (!msg_and_conv(r, st, owner, &m, &c)) goto out;
    if (strcmp(m.type, "assistant") != 0) {
        rg_http_reply_error(r, 400, NULL, NULL, "id",
                            "only an answer (an assistant message) can be %s",
                            kind == ANSWER_REGEN ? "regenerated" : "continued");
        goto out;
    }
    struct answer *a = answer_new(r, st, kind, owner, m.conv_id);
    if (!a) goto out;
    a->parent_id = m.parent_id;
    if (kind == ANSWER_CONTINUE) {
        a->asst_id = m.id;
        a->prefix = rg_strdup(m.content ? m.content : "");
        if (!a->prefix) {
            rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
            answer_free(a);
            goto out;
        }
        /* the answer goes on with its own model and settings */
        json_t *mb = json_pack("{s:s, s:b}", "model", m.model[0] ? m.model : c.model, "stream",
                               !body || !json_is_false(json_object_get(body, "stream")));
        json_t *saved = m.settings ? json_loads(m.settings, 0, NULL) : NULL;
        if (json_is_object(saved)) {
            json_object_del(saved, "system");  /* the conversation's own is used */
            json_object_del(saved, "sources"); /* found again for the question */
            json_object_del(saved, "context"); /* built again */
            json_object_set(mb, "settings", saved);
        }
        json_decref(saved);
        answer_run(r, st, a, &c, m.parent_id, mb);
        json_decref(mb);
    } else {
        json_t *empty = body ? NULL : json_object();
        answer_run(r, st, a, &c, m.parent_id, body ? body : empty);
        json_decref(empty);
    }
out:
    rg_db_msg_clear(&m);
    rg_db_conv_clear(&c);
}

static void regenerate(struct rg_http_req *r, void *ctx)
{
    again(r, ctx, ANSWER_REGEN);
}

static void continue_answer(struct rg_http_req *r, void *ctx)
{
    again(r, ctx, ANSWER_CONTINUE);
}

/* ---- the title job ------------------------------------------------------------------- */

static int title_check(const json_t *p, void *user, char *err)
{
    (void)user;
    json_t *id = json_object_get(p, "conversation_id");
    if (!json_is_object(p) || json_object_size(p) != 1 || !json_is_integer(id) ||
        json_integer_value(id) < 1)
        return rg_err_set(err, RG_EINVAL, "payload must be {\"conversation_id\": N}");
    return RG_OK;
}

void rg_api_chat_title_clean(const char *in, char *out, size_t size)
{
    out[0] = '\0';
    const char *p = in;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        const char *s = p, *e = p + n;
        while (s < e && strchr(" \t\r\"'*#`", *s))
            s++;
        if (e - s >= 6 && !strncasecmp(s, "title:", 6)) {
            s += 6;
            while (s < e && strchr(" \t\"'*", *s))
                s++;
        }
        while (e > s && strchr(" \t\r\"'*.`", e[-1]))
            e--;
        if (e > s) {
            size_t k = 0, cap = RG_MIN(size - 1, (size_t)TITLE_BYTES);
            bool space = false;
            for (const char *q = s; q < e && k < cap; q++) {
                bool ws = *q == ' ' || *q == '\t';
                if (ws) {
                    space = k > 0;
                    continue;
                }
                if (space) {
                    if (k + 1 >= cap) break;
                    out[k++] = ' ';
                    space = false;
                }
                out[k++] = *q;
            }
            out[k] = '\0';
            if (k == cap) { /* cut: back to the last word, or a whole character */
                char *sp = strrchr(out, ' ');
                if (sp && sp - out > (long)cap / 2)
                    *sp = '\0';
                else {
                    size_t ok = rg_utf8_valid_prefix(out, strlen(out));
                    out[ok] = '\0';
                }
            }
            if (!rg_utf8_valid(out, strlen(out)))
                out[rg_utf8_valid_prefix(out, strlen(out))] = '\0';
            if (out[0]) return;
        }
        if (!eol) break;
        p = eol + 1;
    }
}

static void no_wake(void *user)
{
    (void)user;
}

int rg_api_chat_model_text(struct rg_job_ctx *ctx, struct rg_api_state *st, const char *model_id,
                           const char *prompt, int max_tokens, struct rg_buf *out, char *err)
{
    struct rg_engine_model *m = NULL;
    int rc = rg_engine_acquire(st->engine, model_id, &m, err);
    if (rc != RG_OK) return rc;
    const struct rg_model *model = rg_engine_model_get(m);
    json_t *body = json_pack("{s:[{s:s}], s:i, s:f}", "messages", "role", "user", "max_tokens",
                             max_tokens, "temperature", 0.0);
    if (body)
        json_object_set_new(json_array_get(json_object_get(body, "messages"), 0), "content",
                            rg_api_json_text(prompt, strlen(prompt)));
    struct rg_api_gen g = {0};
    struct rg_chat_prompt cp = {0};
    struct rg_req_err e = {0};
    rc = body ? rg_api_gen_parse(body, NULL, RG_API_OPENAI_CHAT, rg_model_info(model)->n_vocab, &g,
                                 &e)
              : RG_ENOMEM;
    if (rc == RG_OK)
        rc = rg_chat_prompt_build(body, rg_model_vocab(model), rg_engine_model_chat_format(m), &cp,
                                  &e);
    json_decref(body);
    if (rc == RG_OK && cp.n_tokens + (size_t)max_tokens >= (size_t)rg_engine_model_n_ctx(m))
        rc = rg_req_err_set(&e, 400, NULL, NULL, "the prompt does not fit the context");
    if (rc == RG_OK) {
        struct rg_engine_request er = g.er;
        g.er.grammar = NULL;
        const int32_t *p = cp.tokens;
        int32_t n = (int32_t)cp.n_tokens;
        er.priority = RG_ENGINE_BACKGROUND;
        er.tokens = &p;
        er.n_tokens = &n;
        er.n_inputs = 1;
        er.n = 1;
        er.log_id = "chat.job";
        uint64_t id = rg_engine_submit(m, &er, no_wake, NULL, &rc, err);
        struct rg_engine_event ev;
        bool end = !id;
        double give_up = mono_ms() + 120000;
        while (!end && !rg_job_cancelled(ctx) && mono_ms() < give_up) {
            int got = rg_engine_next(st->engine, id, &ev, 100);
            if (got != 1) {
                end = got < 0;
                continue;
            }
            if (ev.type == RG_ENGINE_EV_TEXT) rg_buf_append(out, ev.text, ev.len);
            end = ev.type == RG_ENGINE_EV_END;
            rg_engine_event_clear(&ev);
        }
        if (!end) { /* stopping, or too slow: cancel, but read the request to its end */
            rg_engine_cancel(st->engine, id);
            while (rg_engine_next(st->engine, id, &ev, -1) == 1) {
                end = ev.type == RG_ENGINE_EV_END;
                rg_engine_event_clear(&ev);
                if (end) break;
            }
        }
        if (!id) rc = rc ? rc : RG_EINTERNAL;
    } else if (e.msg[0]) {
        rg_err_set(err, rc, "%s", e.msg);
    }
    rg_api_gen_free(&g);
    rg_chat_prompt_free(&cp);
    rg_engine_release(m, NAN);
    return rc;
}

/* The model's title for the first exchange; "" when it has none to give. */
static void title_from_model(struct rg_job_ctx *ctx, struct rg_api_state *st, const char *model_id,
                             const char *question, const char *answer, char *out, size_t size)
{
    out[0] = '\0';
    struct rg_buf q, text;
    rg_buf_init(&q, SIZE_MAX);
    rg_buf_init(&text, 4096);
    rg_buf_printf(&q,
                  "Write a title of at most six words for this conversation. "
                  "Answer with the title only.\n\nUser: %.1500s\n\nAssistant: %.1500s",
                  question, answer);
    char err[RG_ERR_SIZE];
    if (q.data &&
        rg_api_chat_model_text(ctx, st, model_id, q.data, TITLE_MAX_TOKENS, &text, err) == RG_OK) {
        rg_buf_append(&text, "", 1);
        rg_api_chat_title_clean(text.data ? text.data : "", out, size);
    }
    rg_buf_free(&text);
    rg_buf_free(&q);
}

static int title_run(struct rg_job_ctx *ctx, const json_t *payload, json_t **result, char *err)
{
    struct rg_api_state *st = rg_job_user(ctx);
    int64_t owner = rg_job_owner(ctx);
    int64_t conv = json_integer_value(json_object_get(payload, "conversation_id"));
    struct rg_db_conv c = {0};
    struct rg_db_msg *branch = NULL;
    size_t n = 0;
    int rc = rg_db_conv_get(st->db, owner, conv, &c, err);
    if (rc == RG_ENOTFOUND) { /* deleted meanwhile: nothing to name */
        *result = json_pack("{s:b}", "skipped", 1);
        return RG_OK;
    }
    if (rc == RG_OK) rc = rg_db_msg_branch(st->db, owner, conv, 0, &branch, &n, err);
    if (rc != RG_OK) {
        rg_db_conv_clear(&c);
        return rc;
    }
    const char *question = "", *answer = "", *model = c.model;
    for (size_t i = 0; i < n; i++) {
        if (!question[0] && !strcmp(branch[i].type, "user"))
            question = branch[i].content;
        else if (question[0] && !answer[0] && !strcmp(branch[i].type, "assistant")) {
            answer = branch[i].content;
            if (branch[i].model[0]) model = branch[i].model;
        }
    }
    char title[TITLE_BYTES + 8] = "";
    if (question[0] && model[0])
        title_from_model(ctx, st, model, question, answer, title, sizeof title);
    if (rg_job_cancelled(ctx)) { /* the server is stopping: the job runs again after */
        rg_db_msg_list_free(branch, n);
        rg_db_conv_clear(&c);
        return RG_ECANCELED;
    }
    if (!title[0])
        rg_api_chat_title_clean(question[0] ? question : "New chat", title, sizeof title);
    if (!title[0]) rg_strlcpy(title, "New chat", sizeof title);
    struct rg_db_conv_change ch = {.title = title,
                                   .archived = -1,
                                   .pinned = -1,
                                   .title_auto = 1,
                                   .only_if_auto = true,
                                   .now = now_ms()};
    struct rg_db_conv out = {0};
    rc = rg_db_conv_update(st->db, owner, conv, &ch, &out, err);
    rg_db_conv_clear(&out);
    rg_db_msg_list_free(branch, n);
    rg_db_conv_clear(&c);
    if (rc == RG_ESTATE || rc == RG_ENOTFOUND) { /* renamed or deleted meanwhile */
        *result = json_pack("{s:b}", "skipped", 1);
        return RG_OK;
    }
    if (rc != RG_OK) return rc;
    *result = json_pack("{s:s}", "title", title);
    return *result ? RG_OK : rg_err_set(err, RG_ENOMEM, "out of memory");
}

int rg_api_chat_jobs_register(struct rg_api_state *st, char *err)
{
    struct rg_job_kind k = {
        .name = "chat.title", .run = title_run, .check = title_check, .user = st};
    int rc = rg_jobs_register(st->jobs, &k, err);
    return rc ? rc : rg_api_chat_context_jobs_register(st, err);
}

/* ---- the table ------------------------------------------------------------------------- */

static const char POST_REQ[] =
    "{\"type\":\"object\",\"required\":[\"content\"],\"additionalProperties\":false,"
    "\"properties\":{\"content\":{\"type\":\"string\",\"minLength\":1},"
    "\"parent_id\":{\"type\":\"integer\",\"minimum\":0},\"model\":{\"type\":\"string\"},"
    "\"settings\":{\"type\":\"object\"},\"stream\":{\"type\":\"boolean\"}}}";
static const char EDIT_REQ[] =
    "{\"type\":\"object\",\"required\":[\"content\"],\"additionalProperties\":false,"
    "\"properties\":{\"content\":{\"type\":\"string\",\"minLength\":1},"
    "\"model\":{\"type\":\"string\"},\"settings\":{\"type\":\"object\"},"
    "\"stream\":{\"type\":\"boolean\"}}}";
static const char REGEN_REQ[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "\"model\":{\"type\":\"string\"},\"settings\":{\"type\":\"object\"},"
    "\"stream\":{\"type\":\"boolean\"}}}";
static const char CONTINUE_REQ[] = "{\"type\":\"object\",\"additionalProperties\":false,"
                                   "\"properties\":{\"stream\":{\"type\":\"boolean\"}}}";
static const char ANSWER_RESP[] =
    "{\"type\":\"object\",\"properties\":{\"user_message\":{\"type\":[\"object\",\"null\"]},"
    "\"assistant_message\":{\"type\":\"object\"},\"message\":{\"type\":\"object\"},"
    "\"conversation\":{\"type\":\"object\"},\"usage\":{\"type\":\"object\"}}}";

size_t rg_api_chat_answer_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const struct rg_route routes[] = {
        {RG_HTTP_POST, "/chat/conversations/{id}/messages", post_message, st, RG_ROLE_USER,
         RG_ROUTE_STREAM, "chat",
         "Post a message and stream its answer (start, delta, end events); both are saved",
         POST_REQ, ANSWER_RESP},
        {RG_HTTP_POST, "/chat/messages/{id}/edit", edit_message, st, RG_ROLE_USER, RG_ROUTE_STREAM,
         "chat", "A new version of a message (a sibling); a user message gets a new answer",
         EDIT_REQ, ANSWER_RESP},
        {RG_HTTP_POST, "/chat/messages/{id}/regenerate", regenerate, st, RG_ROLE_USER,
         RG_ROUTE_STREAM, "chat", "A new version of an answer, streamed", REGEN_REQ, ANSWER_RESP},
        {RG_HTTP_POST, "/chat/messages/{id}/continue", continue_answer, st, RG_ROLE_USER,
         RG_ROUTE_STREAM, "chat", "An answer goes on from where it stopped, streamed", CONTINUE_REQ,
         ANSWER_RESP},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n + rg_api_chat_context_routes(out + n, max - n, st);
}
