/*
 * The memory module's routes, jobs and what the prompt builder asks of it
 * (memory.h; the REST contract is docs/memory.md): memory settings, the
 * thinking styles (built in from src/chat/styles/, and each user's own),
 * the glossary, answer ratings and assumption flags, and the conversation
 * type with its classification job. Thin handlers: each checks its input
 * strictly (unknown fields, wrong types and out-of-range values are 400
 * before anything is stored), calls src/db/memory.h with the caller as
 * owner (another user's ids are not found: 404) and replies.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "api/api_jobs.h"
#include "api/chat_internal.h"
#include "api/memory.h"
#include "chat/glossary.h"
#include "chat/styles.h"
#include "common/alloc.h"
#include "common/str.h"
#include "db/memory.h"
#include "index/library.h"
#include "jobs/jobs.h"

#define SYSTEM_MAX (16 * 1024) /* bytes of the user's own instructions */
#define GLOSSARY_Q_MAX 200

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- small input helpers ------------------------------------------------------------- */

static void reply_obj(struct rg_http_req *r, int status, json_t *o)
{
    if (!o) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return;
    }
    rg_http_reply_json(r, status, o);
}

/* A storage error: RG_EEXISTS 409 exists, the rest as the chat routes do. */
static void db_fail(struct rg_http_req *r, int rc, const char *what, const char *err)
{
    if (rc == RG_EEXISTS) {
        rg_http_reply_error(r, 409, NULL, "exists", NULL, "%s", err && *err ? err : "exists");
        return;
    }
    rg_api_chat_db_fail(r, rc, what, err);
}

/* The reply of a delete: 204, or the storage error (what names the thing). */
static void reply_deleted(struct rg_http_req *r, int rc, const char *what, const char *err)
{
    if (rc)
        db_fail(r, rc, what, err);
    else
        rg_http_reply(r, 204, NULL, NULL, 0);
}

/* Appends o (taken) to *a; on failure *a becomes NULL (freed), so a reply
 * built from it answers out of memory. */
static void push(json_t **a, json_t *o)
{
    if (*a && json_array_append_new(*a, o) != 0) {
        json_decref(*a);
        *a = NULL;
    } else if (!*a) {
        json_decref(o);
    }
}

/* A storage error as a request error (for the prompt builder's calls). */
static int db_err(struct rg_req_err *e, int rc, const char *err)
{
    if (rc == RG_EBUSY)
        return rg_req_err_set(e, 503, NULL, "busy", "the database is busy: try again");
    rg_log(RG_LOG_ERROR, "memory storage failed", "error", 's', err ? err : "", "code", 's',
           rg_strerror(rc), RG_LOG_END);
    return rg_req_err_set(e, 500, NULL, NULL, "internal error");
}

/* An optional string of at most max bytes (line: one line, no control
 * character but a tab): NULL when absent or null; *bad with 400 sent. */
static const char *opt_text(struct rg_http_req *r, const json_t *o, const char *key, size_t max,
                            bool line, bool *bad)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v) || *bad) return NULL;
    const char *p = json_string_value(v);
    if (!p || json_string_length(v) > max || strlen(p) != json_string_length(v)) {
        rg_http_reply_error(r, 400, NULL, NULL, key, "'%s' must be a string of at most %zu bytes",
                            key, max);
        *bad = true;
        return NULL;
    }
    for (size_t i = 0; line && p[i]; i++)
        if ((unsigned char)p[i] < 0x20 && p[i] != '\t') {
            rg_http_reply_error(r, 400, NULL, NULL, key, "'%s' must be one line of text", key);
            *bad = true;
            return NULL;
        }
    return p;
}

static json_t *text_json(const char *s)
{
    return rg_api_json_text(s ? s : "", s ? strlen(s) : 0);
}

/* ---- memory settings ------------------------------------------------------------------ */

static void prefs_defaults(struct rg_api_mem_prefs *p)
{
    memset(p, 0, sizeof *p);
    p->use_summaries = p->use_glossary = p->use_library = true;
    rg_strlcpy(p->auto_thread, "off", sizeof p->auto_thread);
    p->auto_thread_distance = 0.6;
    p->summary_after = 20;
}

/*
 * Applies the fields of o (a PUT body, or the stored settings) to p; with
 * r, a field of the wrong type or range is 400 sent (false); without r
 * (stored text), such a field is left at what p holds. p->system is
 * borrowed from o until the caller copies it.
 */
static bool prefs_apply(struct rg_http_req *r, const json_t *o, struct rg_api_mem_prefs *p,
                        const char **system)
{
    static const char *const names[] = {
        "system", "sources", "auto_thread", "auto_thread_distance", "summary_after", NULL};
    if (r && !rg_api_chat_fields_known(r, o, names)) return false;
    json_t *v = json_object_get(o, "system");
    if (v && !json_is_null(v)) {
        const char *s = json_string_value(v);
        if (!s || json_string_length(v) > SYSTEM_MAX || strlen(s) != json_string_length(v)) {
            if (r) {
                rg_http_reply_error(r, 400, NULL, NULL, "system",
                                    "'system' must be a string of at most %d bytes", SYSTEM_MAX);
                return false;
            }
        } else {
            *system = s;
        }
    }
    v = json_object_get(o, "sources");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v)) {
            if (r) {
                rg_http_reply_error(r, 400, NULL, NULL, "sources", "'sources' must be an object");
                return false;
            }
        } else {
            static const char *const src[] = {"summaries", "prior", "glossary", "library", NULL};
            bool *dst[] = {&p->use_summaries, &p->use_prior, &p->use_glossary, &p->use_library};
            const char *key;
            json_t *x;
            json_object_foreach(v, key, x)
            {
                size_t i = 0;
                while (src[i] && strcmp(src[i], key) != 0)
                    i++;
                if (!src[i] || !json_is_boolean(x)) {
                    if (!r) continue;
                    rg_http_reply_error(r, 400, NULL, NULL, "sources",
                                        "sources: '%.60s' is not one of summaries, prior, "
                                        "glossary, library with a boolean",
                                        key);
                    return false;
                }
                *dst[i] = json_is_true(x);
            }
        }
    }
    v = json_object_get(o, "auto_thread");
    if (v && !json_is_null(v)) {
        const char *s = json_string_value(v);
        if (s && (!strcmp(s, "off") || !strcmp(s, "suggest") || !strcmp(s, "new")))
            rg_strlcpy(p->auto_thread, s, sizeof p->auto_thread);
        else if (r) {
            rg_http_reply_error(r, 400, NULL, NULL, "auto_thread",
                                "'auto_thread' must be off, suggest or new");
            return false;
        }
    }
    v = json_object_get(o, "auto_thread_distance");
    if (v && !json_is_null(v)) {
        double d = json_is_number(v) ? json_number_value(v) : NAN;
        if (d > 0 && d <= 2)
            p->auto_thread_distance = d;
        else if (r) {
            rg_http_reply_error(r, 400, NULL, NULL, "auto_thread_distance",
                                "'auto_thread_distance' must be a number in (0, 2]");
            return false;
        }
    }
    v = json_object_get(o, "summary_after");
    if (v && !json_is_null(v)) {
        json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;
        if (n >= 0 && n <= 1000)
            p->summary_after = (int)n;
        else if (r) {
            rg_http_reply_error(r, 400, NULL, NULL, "summary_after",
                                "'summary_after' must be an integer 0..1000");
            return false;
        }
    }
    return true;
}

int rg_api_mem_prefs_get(struct rg_api_state *st, int64_t owner, struct rg_api_mem_prefs *out,
                         struct rg_req_err *e)
{
    prefs_defaults(out);
    char *txt = NULL, err[RG_ERR_SIZE] = "";
    int rc = rg_db_mem_prefs_get(st->db, owner, &txt, err);
    if (rc) return db_err(e, rc, err);
    json_t *o = txt ? json_loads(txt, 0, NULL) : NULL;
    rg_free(txt);
    const char *system = "";
    if (json_is_object(o)) prefs_apply(NULL, o, out, &system);
    out->system = rg_strdup(system);
    json_decref(o);
    return out->system ? RG_OK : rg_req_err_set(e, 500, NULL, NULL, "out of memory");
}

void rg_api_mem_prefs_clear(struct rg_api_mem_prefs *p)
{
    rg_free(p->system);
    memset(p, 0, sizeof *p);
}

static json_t *prefs_json(const struct rg_api_mem_prefs *p)
{
    return json_pack("{s:o, s:{s:b, s:b, s:b, s:b}, s:s, s:f, s:i}", "system", text_json(p->system),
                     "sources", "summaries", (int)p->use_summaries, "prior", (int)p->use_prior,
                     "glossary", (int)p->use_glossary, "library", (int)p->use_library,
                     "auto_thread", p->auto_thread, "auto_thread_distance", p->auto_thread_distance,
                     "summary_after", p->summary_after);
}

static void memory_get(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    struct rg_api_mem_prefs p;
    struct rg_req_err e;
    if (rg_api_mem_prefs_get(st, user, &p, &e) != RG_OK) {
        rg_api_reply_err(r, &e);
        return;
    }
    reply_obj(r, 200, prefs_json(&p));
    rg_api_mem_prefs_clear(&p);
}

static void memory_put(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    struct rg_api_mem_prefs p;
    struct rg_req_err e;
    if (rg_api_mem_prefs_get(st, user, &p, &e) != RG_OK) {
        rg_api_reply_err(r, &e);
        return;
    }
    const char *system = p.system;
    if (!prefs_apply(r, body, &p, &system)) {
        rg_api_mem_prefs_clear(&p);
        return;
    }
    char *keep = rg_strdup(system);
    rg_free(p.system);
    p.system = keep;
    json_t *o = keep ? prefs_json(&p) : NULL;
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    char err[RG_ERR_SIZE] = "";
    int rc = txt ? rg_db_mem_prefs_put(st->db, user, txt, now_ms(), err) : RG_ENOMEM;
    free(txt);
    rg_api_mem_prefs_clear(&p);
    if (rc) {
        json_decref(o);
        db_fail(r, rc == RG_ENOTFOUND ? RG_EINTERNAL : rc, "user", err);
        return;
    }
    reply_obj(r, 200, o);
}

/* ---- styles ------------------------------------------------------------------------------ */

#define CUSTOM_PREFIX "custom-"

/* The row id of "custom-N", or 0. */
static int64_t custom_id(const char *id)
{
    int64_t v = 0;
    if (!id || strncmp(id, CUSTOM_PREFIX, strlen(CUSTOM_PREFIX)) != 0) return 0;
    return rg_parse_i64(id + strlen(CUSTOM_PREFIX), 1, INT64_MAX, &v) == RG_OK ? v : 0;
}

static json_t *builtin_json(const struct rg_chat_style *s)
{
    return json_pack("{s:s, s:s, s:b, s:s, s:s%}", "id", s->id, "name", s->name, "builtin", 1,
                     "description", s->description, "prompt", s->prompt, s->prompt_len);
}

static json_t *custom_json(const struct rg_db_mem_style *s)
{
    char id[40];
    snprintf(id, sizeof id, CUSTOM_PREFIX "%lld", (long long)s->id);
    return json_pack("{s:s, s:o, s:b, s:o, s:o, s:I, s:I}", "id", id, "name", text_json(s->name),
                     "builtin", 0, "description", text_json(s->description), "prompt",
                     text_json(s->prompt), "created_at", (json_int_t)s->created_at, "updated_at",
                     (json_int_t)s->updated_at);
}

int rg_api_mem_style_prompt(struct rg_api_state *st, int64_t owner, const char *id,
                            struct rg_buf *out, struct rg_req_err *e)
{
    if (!id || !*id || !strcmp(id, "plain")) return RG_OK;
    const struct rg_chat_style *b = rg_chat_style_get(id);
    if (b) {
        if (rg_buf_append(out, b->prompt, b->prompt_len) != RG_OK)
            return rg_req_err_set(e, 500, NULL, NULL, "out of memory");
        return RG_OK;
    }
    int64_t n = custom_id(id);
    if (!n)
        return rg_req_err_set(e, 400, "settings.style", "unknown_style", "no such style: %.40s",
                              id);
    struct rg_db_mem_style s = {0};
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_mem_style_get(st->db, owner, n, &s, err);
    if (rc == RG_ENOTFOUND)
        return rg_req_err_set(e, 400, "settings.style", "unknown_style", "no such style: %.40s",
                              id);
    if (rc) return db_err(e, rc, err);
    rc = rg_buf_append(out, s.prompt, strlen(s.prompt));
    rg_db_mem_style_clear(&s);
    return rc == RG_OK ? RG_OK : rg_req_err_set(e, 500, NULL, NULL, "out of memory");
}

static void styles_list(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    struct rg_db_mem_style *v = NULL;
    size_t n = 0, nb = 0;
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_mem_style_list(st->db, user, &v, &n, err);
    if (rc) {
        db_fail(r, rc, "style", err);
        return;
    }
    const struct rg_chat_style *b = rg_chat_styles(&nb);
    json_t *a = json_array();
    for (size_t i = 0; a && i < nb; i++)
        push(&a, builtin_json(&b[i]));
    for (size_t i = 0; a && i < n; i++)
        push(&a, custom_json(&v[i]));
    rg_db_mem_style_list_free(v, n);
    reply_obj(r, 200, a ? json_pack("{s:o}", "data", a) : NULL);
}

static void style_get(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    const char *id = rg_http_req_param(r, "id");
    const struct rg_chat_style *b = rg_chat_style_get(id);
    if (b) {
        reply_obj(r, 200, builtin_json(b));
        return;
    }
    int64_t n = custom_id(id);
    struct rg_db_mem_style s = {0};
    char err[RG_ERR_SIZE] = "";
    int rc = n ? rg_db_mem_style_get(st->db, user, n, &s, err) : RG_ENOTFOUND;
    if (rc) {
        db_fail(r, rc, "style", err);
        return;
    }
    reply_obj(r, 200, custom_json(&s));
    rg_db_mem_style_clear(&s);
}

static void style_create(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    static const char *const names[] = {"name", "description", "prompt", NULL};
    bool bad = false;
    if (!rg_api_chat_fields_known(r, body, names)) return;
    const char *name = opt_text(r, body, "name", RG_DB_MEM_STYLE_NAME_MAX, true, &bad);
    const char *desc = opt_text(r, body, "description", RG_DB_MEM_STYLE_DESC_MAX, false, &bad);
    const char *prompt = opt_text(r, body, "prompt", RG_DB_MEM_STYLE_PROMPT_MAX, false, &bad);
    if (bad) return;
    if (!name || !*name || !prompt || !*prompt) {
        rg_http_reply_error(r, 400, NULL, NULL, !name || !*name ? "name" : "prompt",
                            "'name' and 'prompt' are required");
        return;
    }
    struct rg_db_mem_style s = {0};
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_mem_style_create(st->db, user, name, desc, prompt, now_ms(), &s, err);
    if (rc) {
        db_fail(r, rc == RG_ENOTFOUND ? RG_EINTERNAL : rc, "style", err);
        return;
    }
    reply_obj(r, 201, custom_json(&s));
    rg_db_mem_style_clear(&s);
}

/* The custom style's row id of the path, 0 with the reply sent (a built-in
 * one is 400 builtin_style, anything else 404). */
static int64_t custom_path(struct rg_http_req *r)
{
    const char *id = rg_http_req_param(r, "id");
    if (rg_chat_style_get(id)) {
        rg_http_reply_error(r, 400, NULL, "builtin_style", NULL,
                            "the built-in style '%s' cannot be changed: copy it into a style "
                            "of your own",
                            id);
        return 0;
    }
    int64_t n = custom_id(id);
    if (!n) rg_http_reply_error(r, 404, NULL, "not_found", NULL, "no such style");
    return n;
}

static void style_patch(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    int64_t n = custom_path(r);
    if (!n) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    static const char *const names[] = {"name", "description", "prompt", NULL};
    bool bad = false;
    if (!rg_api_chat_fields_known(r, body, names)) return;
    const char *name = opt_text(r, body, "name", RG_DB_MEM_STYLE_NAME_MAX, true, &bad);
    const char *desc = opt_text(r, body, "description", RG_DB_MEM_STYLE_DESC_MAX, false, &bad);
    const char *prompt = opt_text(r, body, "prompt", RG_DB_MEM_STYLE_PROMPT_MAX, false, &bad);
    if (bad) return;
    struct rg_db_mem_style s = {0};
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_mem_style_update(st->db, user, n, name, desc, prompt, now_ms(), &s, err);
    if (rc) {
        db_fail(r, rc, "style", err);
        return;
    }
    reply_obj(r, 200, custom_json(&s));
    rg_db_mem_style_clear(&s);
}

static void style_delete(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    int64_t n = custom_path(r);
    if (!n) return;
    char err[RG_ERR_SIZE] = "";
    reply_deleted(r, rg_db_mem_style_delete(st->db, user, n, err), "style", err);
}

/* ---- glossary ---------------------------------------------------------------------------- */

static json_t *term_json(const struct rg_db_mem_term *t)
{
    return json_pack("{s:I, s:o, s:o, s:I, s:I}", "id", (json_int_t)t->id, "term",
                     text_json(t->term), "definition", text_json(t->definition), "created_at",
                     (json_int_t)t->created_at, "updated_at", (json_int_t)t->updated_at);
}

/* The term's key (folded, without the spaces around it) into key. */
static void term_key(const char *term, char *key, size_t size)
{
    while (*term == ' ' || *term == '\t')
        term++;
    size_t n = rg_chat_gloss_fold(term, key, size);
    while (n && (key[n - 1] == ' ' || key[n - 1] == '\t'))
        key[--n] = '\0';
}

int rg_api_mem_glossary_match(struct rg_api_state *st, int64_t owner, const char *text, size_t max,
                              json_t **out, struct rg_req_err *e)
{
    *out = NULL;
    if (!text || !*text || !max) return RG_OK;
    struct rg_db_mem_term *v = NULL;
    size_t n = 0;
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_mem_term_list(st->db, owner, NULL, &v, &n, err);
    if (rc) return db_err(e, rc, err);
    if (!n) return RG_OK;
    struct rg_chat_gloss_text *t = rg_chat_gloss_text_new(text);
    struct hit {
        long at;
        size_t i;
    } *hits = t ? rg_malloc_array(n, sizeof *hits) : NULL;
    size_t nh = 0;
    for (size_t i = 0; hits && i < n; i++) {
        long at = rg_chat_gloss_text_find(t, v[i].term);
        if (at >= 0) hits[nh++] = (struct hit){at, i};
    }
    /* first appearance first (ties: the longer term, then the list order); insertion sort */
    for (size_t i = 1; hits && i < nh; i++) {
        struct hit h = hits[i];
        size_t j = i;
        while (j > 0 &&
               (hits[j - 1].at > h.at ||
                (hits[j - 1].at == h.at && strlen(v[hits[j - 1].i].term) < strlen(v[h.i].term)))) {
            hits[j] = hits[j - 1];
            j--;
        }
        hits[j] = h;
    }
    json_t *a = hits && nh ? json_array() : NULL;
    for (size_t k = 0; a && k < nh && k < max; k++) {
        const struct rg_db_mem_term *x = &v[hits[k].i];
        if (json_array_append_new(a, json_pack("{s:I, s:o, s:o}", "id", (json_int_t)x->id, "term",
                                               text_json(x->term), "definition",
                                               text_json(x->definition))) != 0) {
            json_decref(a);
            a = NULL;
            nh = 1; /* fails below */
        }
    }
    bool oom = !t || !hits || (nh && !a);
    rg_free(hits);
    rg_chat_gloss_text_free(t);
    rg_db_mem_term_list_free(v, n);
    if (oom) return rg_req_err_set(e, 500, NULL, NULL, "out of memory");
    *out = a;
    return RG_OK;
}

static void glossary_list(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    const char *q = rg_http_req_query(r, "q");
    if (q && strlen(q) > GLOSSARY_Q_MAX) {
        rg_http_reply_error(r, 400, NULL, NULL, "q", "q must be at most %d bytes", GLOSSARY_Q_MAX);
        return;
    }
    char key[GLOSSARY_Q_MAX * 2 + 8] = "";
    if (q) term_key(q, key, sizeof key);
    struct rg_db_mem_term *v = NULL;
    size_t n = 0;
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_mem_term_list(st->db, user, key, &v, &n, err);
    if (rc) {
        db_fail(r, rc, "glossary entry", err);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        push(&a, term_json(&v[i]));
    rg_db_mem_term_list_free(v, n);
    reply_obj(r, 200, a ? json_pack("{s:o}", "data", a) : NULL);
}

static bool term_fields(struct rg_http_req *r, const json_t *body, const char **term,
                        const char **def)
{
    static const char *const names[] = {"term", "definition", NULL};
    bool bad = false;
    if (!rg_api_chat_fields_known(r, body, names)) return false;
    *term = opt_text(r, body, "term", RG_DB_MEM_TERM_MAX, true, &bad);
    *def = opt_text(r, body, "definition", RG_DB_MEM_DEF_MAX, false, &bad);
    if (!bad && *term) {
        char key[RG_DB_MEM_TERM_MAX * 2 + 8];
        term_key(*term, key, sizeof key);
        if (!key[0]) {
            rg_http_reply_error(r, 400, NULL, NULL, "term", "'term' must not be empty");
            bad = true;
        }
    }
    return !bad;
}

static void glossary_create(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    const char *term = NULL, *def = NULL;
    if (!term_fields(r, body, &term, &def)) return;
    if (!term || !def) {
        rg_http_reply_error(r, 400, NULL, NULL, !term ? "term" : "definition",
                            "'term' and 'definition' are required");
        return;
    }
    char key[RG_DB_MEM_TERM_MAX * 2 + 8];
    term_key(term, key, sizeof key);
    struct rg_db_mem_term t = {0};
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_mem_term_create(st->db, user, term, key, def, now_ms(), &t, err);
    if (rc) {
        db_fail(r, rc == RG_ENOTFOUND ? RG_EINTERNAL : rc, "glossary entry", err);
        return;
    }
    reply_obj(r, 201, term_json(&t));
    rg_db_mem_term_clear(&t);
}

static void glossary_patch(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    int64_t id = rg_api_chat_path_id(r, "glossary entry");
    if (!id) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    const char *term = NULL, *def = NULL;
    if (!term_fields(r, body, &term, &def)) return;
    char key[RG_DB_MEM_TERM_MAX * 2 + 8] = "";
    if (term) term_key(term, key, sizeof key);
    struct rg_db_mem_term t = {0};
    char err[RG_ERR_SIZE] = "";
    int rc =
        rg_db_mem_term_update(st->db, user, id, term, term ? key : NULL, def, now_ms(), &t, err);
    if (rc) {
        db_fail(r, rc, "glossary entry", err);
        return;
    }
    reply_obj(r, 200, term_json(&t));
    rg_db_mem_term_clear(&t);
}

static void glossary_delete(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    int64_t id = rg_api_chat_path_id(r, "glossary entry");
    if (!id) return;
    char err[RG_ERR_SIZE] = "";
    reply_deleted(r, rg_db_mem_term_delete(st->db, user, id, err), "glossary entry", err);
}

/* ---- ratings and assumption flags ---------------------------------------------------------- */

static json_t *flag_json(const struct rg_db_mem_flag *f)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:I}", "id", (json_int_t)f->id, "message_id",
                     (json_int_t)f->message_id, "start", (json_int_t)f->start, "end",
                     (json_int_t)f->end, "quote", text_json(f->quote), "note", text_json(f->note),
                     "created_at", (json_int_t)f->created_at);
}

/* A rating with flags[0..nf) (those of its message only are taken). */
static json_t *rating_json(const struct rg_db_mem_rating *g, const struct rg_db_mem_flag *flags,
                           size_t nf)
{
    json_t *fa = json_array();
    for (size_t i = 0; fa && i < nf; i++)
        if (flags[i].message_id == g->message_id &&
            json_array_append_new(fa, flag_json(&flags[i])) != 0) {
            json_decref(fa);
            fa = NULL;
        }
    if (!fa) return NULL;
    return json_pack("{s:o, s:o, s:o, s:o}", "confidence",
                     g->confidence < 0 ? json_null() : json_integer(g->confidence), "thumbs",
                     g->thumbs[0] ? json_string(g->thumbs) : json_null(), "flags", fa, "updated_at",
                     g->updated_at ? json_integer(g->updated_at) : json_null());
}

static void rating_get(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r), id = user ? rg_api_chat_path_id(r, "message") : 0;
    if (!id) return;
    struct rg_db_mem_rating g;
    struct rg_db_mem_flag *f = NULL;
    size_t nf = 0;
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_mem_rating_get(st->db, user, id, &g, &f, &nf, err);
    if (rc) {
        db_fail(r, rc, "message", err);
        return;
    }
    reply_obj(r, 200, rating_json(&g, f, nf));
    rg_db_mem_flag_list_free(f, nf);
}

/* confidence of o: -2 absent (keep), -1 null, 0..100; *bad with 400 sent. */
static int opt_confidence(struct rg_http_req *r, const json_t *o, bool *bad)
{
    json_t *v = json_object_get(o, "confidence");
    if (!v) return -2;
    if (json_is_null(v)) return -1;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100) {
        rg_http_reply_error(r, 400, NULL, NULL, "confidence",
                            "'confidence' must be an integer 0..100 or null");
        *bad = true;
        return -2;
    }
    return (int)json_integer_value(v);
}

/* thumbs of o: NULL absent (keep), "" null, "up", "down"; *bad with 400 sent. */
static const char *opt_thumbs(struct rg_http_req *r, const json_t *o, bool *bad)
{
    json_t *v = json_object_get(o, "thumbs");
    if (!v) return NULL;
    if (json_is_null(v)) return "";
    const char *s = json_string_value(v);
    if (!s || (strcmp(s, "up") != 0 && strcmp(s, "down") != 0)) {
        rg_http_reply_error(r, 400, NULL, NULL, "thumbs", "'thumbs' must be up, down or null");
        *bad = true;
        return NULL;
    }
    return s;
}

static void rating_put(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r), id = user ? rg_api_chat_path_id(r, "message") : 0;
    if (!id) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    static const char *const names[] = {"confidence", "thumbs", NULL};
    bool bad = false;
    if (!rg_api_chat_fields_known(r, body, names)) return;
    int conf = opt_confidence(r, body, &bad);
    const char *thumbs = bad ? NULL : opt_thumbs(r, body, &bad);
    if (bad) return;
    struct rg_db_mem_rating g;
    struct rg_db_mem_flag *f = NULL;
    size_t nf = 0;
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_mem_rating_get(st->db, user, id, &g, &f, &nf, err);
    if (!rc) {
        char keep[8];
        rg_strlcpy(keep, g.thumbs, sizeof keep);
        rc = rg_db_mem_rating_put(st->db, user, id, conf == -2 ? g.confidence : conf,
                                  thumbs ? thumbs : keep, now_ms(), &g, err);
    }
    if (rc) {
        rg_db_mem_flag_list_free(f, nf);
        db_fail(r, rc, "message", err);
        return;
    }
    reply_obj(r, 200, rating_json(&g, f, nf));
    rg_db_mem_flag_list_free(f, nf);
}

static void flag_create(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r), id = user ? rg_api_chat_path_id(r, "message") : 0;
    if (!id) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    static const char *const names[] = {"start", "end", "note", NULL};
    bool bad = false;
    if (!rg_api_chat_fields_known(r, body, names)) return;
    json_t *s = json_object_get(body, "start"), *e = json_object_get(body, "end");
    if (!json_is_integer(s) || !json_is_integer(e) || json_integer_value(s) < 0 ||
        json_integer_value(e) <= json_integer_value(s)) {
        rg_http_reply_error(r, 400, NULL, NULL, !json_is_integer(s) ? "start" : "end",
                            "'start' and 'end' must be byte offsets, 0 <= start < end");
        return;
    }
    const char *note = opt_text(r, body, "note", RG_DB_MEM_NOTE_MAX, false, &bad);
    if (bad) return;
    struct rg_db_mem_flag f = {0};
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_mem_flag_add(st->db, user, id, json_integer_value(s), json_integer_value(e),
                                note, now_ms(), &f, err);
    if (rc) {
        db_fail(r, rc, "message", err);
        return;
    }
    reply_obj(r, 201, flag_json(&f));
    rg_db_mem_flag_clear(&f);
}

static void flag_delete(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r), id = user ? rg_api_chat_path_id(r, "flag") : 0;
    if (!id) return;
    char err[RG_ERR_SIZE] = "";
    reply_deleted(r, rg_db_mem_flag_delete(st->db, user, id, err), "flag", err);
}

/* A CSV field: quoted when it holds a comma, a quote or a line break;
 * *rc keeps the first failure (out of memory). */
static void csv_field(struct rg_buf *b, const char *s, bool last, int *rc)
{
    bool q = strpbrk(s, ",\"\r\n") != NULL;
    int e = q ? rg_buf_append(b, "\"", 1) : RG_OK;
    for (const char *p = s; !e && *p; p++) {
        if (*p == '"') e = rg_buf_append(b, "\"", 1);
        if (!e) e = rg_buf_append(b, p, 1);
    }
    if (!e && q) e = rg_buf_append(b, "\"", 1);
    if (!e) e = rg_buf_append(b, last ? "\r\n" : ",", last ? 2 : 1);
    if (e && !*rc) *rc = e;
}

static void csv_int(struct rg_buf *b, int64_t v, bool present, int *rc)
{
    char n[24] = "";
    if (present) snprintf(n, sizeof n, "%lld", (long long)v);
    csv_field(b, n, false, rc);
}

static void ratings_export(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    const char *format = rg_http_req_query(r, "format");
    bool csv = format && !strcmp(format, "csv");
    if (format && !csv && strcmp(format, "json") != 0) {
        rg_http_reply_error(r, 400, NULL, NULL, "format", "format must be json or csv");
        return;
    }
    struct rg_db_mem_rating *g = NULL;
    struct rg_db_mem_flag *f = NULL;
    size_t ng = 0, nf = 0;
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_mem_ratings_list(st->db, user, 0, &g, &ng, &f, &nf, err);
    if (rc) {
        db_fail(r, rc, "rating", err);
        return;
    }
    if (csv) {
        struct rg_buf b;
        rg_buf_init(&b, (size_t)1 << 30);
        int wrc = rg_buf_printf(&b, "message_id,conversation_id,model,confidence,thumbs,"
                                    "updated_at,flag_id,flag_start,flag_end,flag_quote,"
                                    "flag_note\r\n");
        size_t k = 0; /* flags are in message order too: one row per flag, or one without */
        for (size_t i = 0; i < ng; i++) {
            while (k < nf && f[k].message_id < g[i].message_id)
                k++;
            bool any = false;
            for (;;) {
                const struct rg_db_mem_flag *x =
                    k < nf && f[k].message_id == g[i].message_id ? &f[k] : NULL;
                if (!x && any) break;
                csv_int(&b, g[i].message_id, true, &wrc);
                csv_int(&b, g[i].conv_id, true, &wrc);
                csv_field(&b, g[i].model, false, &wrc);
                csv_int(&b, g[i].confidence, g[i].confidence >= 0, &wrc);
                csv_field(&b, g[i].thumbs, false, &wrc);
                csv_int(&b, g[i].updated_at, true, &wrc);
                csv_int(&b, x ? x->id : 0, x != NULL, &wrc);
                csv_int(&b, x ? x->start : 0, x != NULL, &wrc);
                csv_int(&b, x ? x->end : 0, x != NULL, &wrc);
                csv_field(&b, x ? x->quote : "", false, &wrc);
                csv_field(&b, x ? x->note : "", true, &wrc);
                if (!x) break;
                any = true;
                k++;
            }
        }
        rg_free(g);
        rg_db_mem_flag_list_free(f, nf);
        if (wrc) {
            rg_buf_free(&b);
            rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
            return;
        }
        rg_http_set_header(r, "Content-Disposition", "attachment; filename=\"ratings.csv\"");
        rg_http_reply(r, 200, "text/csv; charset=utf-8", b.data ? b.data : "", b.len);
        rg_buf_free(&b);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < ng; i++) {
        json_t *o = json_pack("{s:I, s:I, s:o, s:o}", "message_id", (json_int_t)g[i].message_id,
                              "conversation_id", (json_int_t)g[i].conv_id, "model",
                              text_json(g[i].model), "rating", rating_json(&g[i], f, nf));
        push(&a, o);
    }
    rg_free(g);
    rg_db_mem_flag_list_free(f, nf);
    reply_obj(r, 200, a ? json_pack("{s:o}", "data", a) : NULL);
}

static void admin_ratings(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    struct rg_db_mem_model_sum *v = NULL;
    size_t n = 0;
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_mem_ratings_summary(st->db, &v, &n, err);
    if (rc) {
        db_fail(r, rc, "rating", err);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *o =
            json_pack("{s:o, s:I, s:o, s:I, s:I, s:I}", "model", text_json(v[i].model),
                      "answers_rated", (json_int_t)v[i].answers_rated, "avg_confidence",
                      isnan(v[i].avg_confidence) ? json_null() : json_real(v[i].avg_confidence),
                      "thumbs_up", (json_int_t)v[i].thumbs_up, "thumbs_down",
                      (json_int_t)v[i].thumbs_down, "flags", (json_int_t)v[i].flags);
        push(&a, o);
    }
    rg_free(v);
    reply_obj(r, 200, a ? json_pack("{s:o}", "data", a) : NULL);
}

int rg_api_mem_add_ratings(struct rg_api_state *st, int64_t owner, int64_t conv_id, json_t *msgs,
                           char *err)
{
    struct rg_db_mem_rating *g = NULL;
    struct rg_db_mem_flag *f = NULL;
    size_t ng = 0, nf = 0;
    int rc = rg_db_mem_ratings_list(st->db, owner, conv_id, &g, &ng, &f, &nf, err);
    if (rc) {
        rg_log(RG_LOG_ERROR, "cannot read ratings", "error", 's', err, RG_LOG_END);
        return rc;
    }
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        int64_t id = json_integer_value(json_object_get(m, "id"));
        size_t lo = 0, hi = ng; /* ratings are by message id */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (g[mid].message_id < id)
                lo = mid + 1;
            else
                hi = mid;
        }
        /* flags of this message only: a window of f (also by message id) */
        size_t f0 = 0;
        while (f0 < nf && f[f0].message_id < id)
            f0++;
        size_t f1 = f0;
        while (f1 < nf && f[f1].message_id == id)
            f1++;
        json_t *v =
            lo < ng && g[lo].message_id == id ? rating_json(&g[lo], f + f0, f1 - f0) : json_null();
        if (!v || json_object_set_new(m, "rating", v) != 0) {
            rc = rg_err_set(err, RG_ENOMEM, "out of memory");
            break;
        }
    }
    rg_free(g);
    rg_db_mem_flag_list_free(f, nf);
    return rc;
}

bool rg_api_mem_rating_valid(const json_t *rating, const char *role, const char *content, char *err)
{
    if (!rating || json_is_null(rating)) return true;
    static const char *const names[] = {"confidence", "thumbs", "flags", "updated_at", NULL};
    const char *key;
    json_t *v;
    if (!json_is_object(rating)) {
        snprintf(err, RG_ERR_SIZE, "a message's rating must be an object or null");
        return false;
    }
    json_object_foreach((json_t *)rating, key, v)
    {
        size_t i = 0;
        while (names[i] && strcmp(names[i], key) != 0)
            i++;
        if (!names[i]) {
            snprintf(err, RG_ERR_SIZE, "rating: unknown field '%.60s'", key);
            return false;
        }
    }
    if (!role || strcmp(role, "assistant") != 0) {
        snprintf(err, RG_ERR_SIZE, "only an answer (role assistant) has a rating");
        return false;
    }
    v = json_object_get(rating, "confidence");
    if (v && !json_is_null(v) &&
        (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100)) {
        snprintf(err, RG_ERR_SIZE, "rating.confidence must be 0..100 or null");
        return false;
    }
    v = json_object_get(rating, "thumbs");
    const char *t = json_string_value(v);
    if (v && !json_is_null(v) && (!t || (strcmp(t, "up") != 0 && strcmp(t, "down") != 0))) {
        snprintf(err, RG_ERR_SIZE, "rating.thumbs must be up, down or null");
        return false;
    }
    v = json_object_get(rating, "flags");
    if (v && !json_is_null(v) && (!json_is_array(v) || json_array_size(v) > RG_DB_MEM_FLAGS_MAX)) {
        snprintf(err, RG_ERR_SIZE, "rating.flags must be an array of at most %d flags",
                 RG_DB_MEM_FLAGS_MAX);
        return false;
    }
    size_t len = content ? strlen(content) : 0, i;
    json_t *fl;
    json_array_foreach(v, i, fl)
    {
        json_t *s = json_object_get(fl, "start"), *e = json_object_get(fl, "end");
        json_t *note = json_object_get(fl, "note");
        json_int_t a = json_integer_value(s), b = json_integer_value(e);
        const unsigned char *c = (const unsigned char *)content;
        if (!json_is_object(fl) || !json_is_integer(s) || !json_is_integer(e) || a < 0 || b <= a ||
            (size_t)b > len || b - a > RG_DB_MEM_QUOTE_MAX || (c[a] & 0xC0) == 0x80 ||
            ((size_t)b < len && (c[b] & 0xC0) == 0x80) ||
            (note && !json_is_null(note) &&
             (!json_is_string(note) || json_string_length(note) > RG_DB_MEM_NOTE_MAX))) {
            snprintf(err, RG_ERR_SIZE,
                     "rating.flags[%zu]: start and end must be byte offsets of whole characters "
                     "of the content, note a string",
                     i);
            return false;
        }
    }
    return true;
}

int rg_api_mem_rating_import(struct rg_api_state *st, int64_t owner, int64_t msg_id,
                             const json_t *rating, char *err)
{
    if (!rating || json_is_null(rating)) return RG_OK;
    json_t *c = json_object_get(rating, "confidence");
    const char *t = json_string_value(json_object_get(rating, "thumbs"));
    struct rg_db_mem_rating g;
    int rc = rg_db_mem_rating_put(st->db, owner, msg_id,
                                  json_is_integer(c) ? (int)json_integer_value(c) : -1, t ? t : "",
                                  now_ms(), &g, err);
    size_t i;
    json_t *fl;
    json_array_foreach(json_object_get(rating, "flags"), i, fl)
    {
        if (rc) break;
        struct rg_db_mem_flag f = {0};
        rc = rg_db_mem_flag_add(st->db, owner, msg_id,
                                json_integer_value(json_object_get(fl, "start")),
                                json_integer_value(json_object_get(fl, "end")),
                                json_string_value(json_object_get(fl, "note")), now_ms(), &f, err);
        rg_db_mem_flag_clear(&f);
    }
    return rc;
}

/* ---- conversation type: the chat.classify job ------------------------------------------------ */

#define CLASSIFY_TEXT_MAX 4000 /* bytes of the conversation the classifiers read */
#define CLASSIFY_MAX_TOKENS 48

/* The labels and what each means: the model is told these, and the
 * embedding fallback compares the conversation with each description. */
static const struct {
    const char *label, *description;
} LABELS[] = {
    {"reflective", "Reflective: personal thoughts, feelings, values, meaning, memories, "
                   "relationships, self-understanding, journaling and life choices."},
    {"analytical", "Analytical: reasoning about ideas, evidence, arguments, data, theories, "
                   "comparisons and explanations of why and how things work."},
    {"practical", "Practical: getting something done: how to fix, install, build, cook, plan, "
                  "repair or do a task, with step-by-step instructions."},
};
#define N_LABELS (sizeof LABELS / sizeof LABELS[0])

/* The JSON schema that allows only {"type": label}. */
static json_t *type_schema(void)
{
    json_t *labels = json_array();
    for (size_t i = 0; labels && i < N_LABELS; i++)
        json_array_append_new(labels, json_string(LABELS[i].label));
    return json_pack("{s:s, s:{s:{s:s, s:o}}, s:[s], s:b}", "type", "object", "properties", "type",
                     "type", "string", "enum", labels, "required", "type", "additionalProperties",
                     0);
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void no_wake(void *user)
{
    (void)user;
}

/* The label in a model's answer {"type": label}, or -1. */
static int label_of_answer(const char *text)
{
    json_t *o = json_loads(text, JSON_DISABLE_EOF_CHECK, NULL);
    const char *t = json_string_value(json_object_get(o, "type"));
    int k = -1;
    for (size_t i = 0; t && i < N_LABELS && k < 0; i++)
        if (!strcmp(t, LABELS[i].label)) k = (int)i;
    json_decref(o);
    return k;
}

/* The model's label for the conversation's text under the schema, or -1
 * (the model cannot load, the prompt does not fit, the answer is unusable). */
static int classify_by_model(struct rg_job_ctx *ctx, struct rg_api_state *st, const char *model_id,
                             const char *text, char *why, size_t why_size)
{
    struct rg_engine_model *m = NULL;
    char err[RG_ERR_SIZE];
    if (rg_engine_acquire(st->engine, model_id, &m, err) != RG_OK) {
        snprintf(why, why_size, "model %s: %s", model_id, err);
        return -1;
    }
    const struct rg_model *model = rg_engine_model_get(m);
    struct rg_buf q;
    rg_buf_init(&q, SIZE_MAX);
    rg_buf_printf(&q, "Classify this conversation as one of:\n");
    for (size_t i = 0; i < N_LABELS; i++)
        rg_buf_printf(&q, "- %s\n", LABELS[i].description);
    rg_buf_printf(&q,
                  "Answer with JSON: {\"type\": \"reflective\", \"analytical\" or "
                  "\"practical\"}.\n\nConversation:\n%s",
                  text);
    json_t *body =
        json_pack("{s:[{s:s, s:s%}], s:i, s:f, s:{s:s, s:{s:s, s:o}}}", "messages", "role", "user",
                  "content", q.data ? q.data : "", q.len, "max_tokens", CLASSIFY_MAX_TOKENS,
                  "temperature", 0.0, "response_format", "type", "json_schema", "json_schema",
                  "name", "conversation_type", "schema", type_schema());
    rg_buf_free(&q);
    struct rg_api_gen g = {0};
    struct rg_chat_prompt cp = {0};
    struct rg_req_err e;
    int rc = body ? rg_api_gen_parse(body, NULL, RG_API_OPENAI_CHAT, rg_model_info(model)->n_vocab,
                                     &g, &e)
                  : RG_ENOMEM;
    if (rc == RG_OK)
        rc = rg_chat_prompt_build(body, rg_model_vocab(model), rg_engine_model_chat_format(m), &cp,
                                  &e);
    json_decref(body);
    int label = -1;
    if (rc != RG_OK) {
        snprintf(why, why_size, "prompt: %s", e.msg);
    } else if (cp.n_tokens + CLASSIFY_MAX_TOKENS >= (size_t)rg_engine_model_n_ctx(m)) {
        snprintf(why, why_size, "the conversation does not fit the model's context");
    } else {
        struct rg_engine_request er = g.er; /* the engine takes the grammar */
        g.er.grammar = NULL;
        const int32_t *p = cp.tokens;
        int32_t n = (int32_t)cp.n_tokens;
        er.priority = RG_ENGINE_BACKGROUND;
        er.tokens = &p;
        er.n_tokens = &n;
        er.n_inputs = 1;
        er.n = 1;
        er.log_id = "chat.classify";
        uint64_t id = rg_engine_submit(m, &er, no_wake, NULL, &rc, err);
        struct rg_buf text_out;
        rg_buf_init(&text_out, 4096);
        struct rg_engine_event ev;
        bool end = !id;
        double give_up = mono_ms() + 120000;
        while (!end && !rg_job_cancelled(ctx) && mono_ms() < give_up) {
            int got = rg_engine_next(st->engine, id, &ev, 100);
            if (got != 1) {
                end = got < 0;
                continue;
            }
            if (ev.type == RG_ENGINE_EV_TEXT) rg_buf_append(&text_out, ev.text, ev.len);
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
        rg_buf_append(&text_out, "", 1);
        label = label_of_answer(text_out.data ? text_out.data : "");
        if (label < 0)
            snprintf(why, why_size, "the model's answer is not one of the labels: %.80s",
                     text_out.data ? text_out.data : "");
        rg_buf_free(&text_out);
    }
    rg_api_gen_free(&g);
    rg_chat_prompt_free(&cp);
    rg_engine_release(m, NAN);
    return label;
}

/* The label whose description is nearest the text by the server's
 * embedder (cosine: the vectors are normalised), or -1 (why set). */
static int classify_by_embedding(struct rg_api_state *st, const char *text, double *score,
                                 char *why, size_t why_size)
{
    const struct rg_library_embedder *em = rg_api_embedder(st);
    if (!em) {
        snprintf(why + strlen(why), why_size - strlen(why), "%sno embedding model",
                 *why ? "; " : "");
        return -1;
    }
    void *s = NULL;
    int dim = 0;
    size_t max_tokens = 0;
    char err[RG_ERR_SIZE] = "";
    if (em->hold(em->user, &s, &dim, &max_tokens, err) != RG_OK || dim <= 0) {
        snprintf(why + strlen(why), why_size - strlen(why), "%sembedding: %s", *why ? "; " : "",
                 err);
        return -1;
    }
    float *v = rg_malloc_array((size_t)dim * (N_LABELS + 1), sizeof *v);
    int rc = v ? RG_OK : RG_ENOMEM;
    size_t len = strlen(text);
    while (max_tokens && len > 16 && em->count(text, len, s) > max_tokens) /* fit the model */
        len = rg_utf8_valid_prefix(text, len / 2);
    if (!rc) rc = em->embed(s, &text, &len, 1, v, err);
    for (size_t i = 0; !rc && i < N_LABELS; i++) {
        const char *d = LABELS[i].description;
        size_t dl = strlen(d);
        rc = em->embed(s, &d, &dl, 1, v + (i + 1) * (size_t)dim, err);
    }
    em->release(s);
    int best = -1;
    double top = -2;
    for (size_t i = 0; !rc && i < N_LABELS; i++) {
        double dot = 0;
        for (int k = 0; k < dim; k++)
            dot += (double)v[k] * v[(i + 1) * (size_t)dim + (size_t)k];
        if (dot > top) {
            top = dot;
            best = (int)i;
        }
    }
    rg_free(v);
    if (rc)
        snprintf(why + strlen(why), why_size - strlen(why), "%sembedding: %s", *why ? "; " : "",
                 err[0] ? err : rg_strerror(rc));
    *score = top;
    return best;
}

static int classify_check(const json_t *p, void *user, char *err)
{
    (void)user;
    json_t *id = json_object_get(p, "conversation_id");
    if (!json_is_object(p) || json_object_size(p) != 1 || !json_is_integer(id) ||
        json_integer_value(id) < 1)
        return rg_err_set(err, RG_EINVAL, "payload must be {\"conversation_id\": N}");
    return RG_OK;
}

static int skipped(json_t **result, const char *why)
{
    *result = json_pack("{s:b, s:s}", "skipped", 1, "reason", why);
    return RG_OK;
}

static int classify_run(struct rg_job_ctx *ctx, const json_t *payload, json_t **result, char *err)
{
    struct rg_api_state *st = rg_job_user(ctx);
    int64_t owner = rg_job_owner(ctx);
    int64_t conv = json_integer_value(json_object_get(payload, "conversation_id"));
    struct rg_db_conv c = {0};
    struct rg_db_msg *branch = NULL;
    size_t n = 0;
    int rc = rg_db_conv_get(st->db, owner, conv, &c, err);
    if (rc == RG_ENOTFOUND) return skipped(result, "the conversation was deleted");
    if (rc == RG_OK && !c.type_auto) {
        rg_db_conv_clear(&c);
        return skipped(result, "the type was set by hand");
    }
    if (rc == RG_OK) rc = rg_db_msg_branch(st->db, owner, conv, 0, &branch, &n, err);
    if (rc != RG_OK) {
        rg_db_conv_clear(&c);
        return rc;
    }
    /* the active branch's words, oldest first, within CLASSIFY_TEXT_MAX */
    struct rg_buf text;
    rg_buf_init(&text, CLASSIFY_TEXT_MAX);
    char model[sizeof c.model];
    rg_strlcpy(model, c.model, sizeof model);
    for (size_t i = 0; i < n; i++) {
        bool user = !strcmp(branch[i].type, "user"), ans = !strcmp(branch[i].type, "assistant");
        if (!user && !ans) continue;
        if (ans && branch[i].model[0]) rg_strlcpy(model, branch[i].model, sizeof model);
        size_t room = CLASSIFY_TEXT_MAX - text.len;
        if (room < 16) continue;
        rg_buf_printf(&text, "%s: ", user ? "User" : "Assistant");
        room = CLASSIFY_TEXT_MAX - text.len - 1;
        const char *p = branch[i].content;
        size_t k = rg_utf8_valid_prefix(p, RG_MIN(strlen(p), room));
        rg_buf_append(&text, p, k);
        rg_buf_append(&text, "\n", 1);
    }
    rg_db_msg_list_free(branch, n);
    rg_db_conv_clear(&c);
    if (!text.len) {
        rg_buf_free(&text);
        return skipped(result, "no messages yet");
    }
    char why[400] = "";
    const char *source = "model";
    double score = NAN;
    int label = model[0] ? classify_by_model(ctx, st, model, text.data, why, sizeof why) : -1;
    if (!model[0]) snprintf(why, sizeof why, "no model");
    if (rg_job_cancelled(ctx)) {
        rg_buf_free(&text);
        return RG_ECANCELED; /* the server is stopping: runs again after */
    }
    if (label < 0) {
        source = "embedding";
        label = classify_by_embedding(st, text.data, &score, why, sizeof why);
    }
    rg_buf_free(&text);
    if (label < 0) return skipped(result, why);
    rc = rg_db_mem_conv_set_type(st->db, owner, conv, LABELS[label].label, false, true, err);
    if (rc == RG_ESTATE) return skipped(result, "the type was set by hand");
    if (rc == RG_ENOTFOUND) return skipped(result, "the conversation was deleted");
    if (rc) return rc;
    *result = json_pack("{s:s, s:s}", "type", LABELS[label].label, "source", source);
    if (*result && *why) json_object_set_new(*result, "fallback_reason", json_string(why));
    if (*result && !isnan(score)) json_object_set_new(*result, "score", json_real(score));
    return *result ? RG_OK : rg_err_set(err, RG_ENOMEM, "out of memory");
}

/* Queues the classification of conv; its job id, or 0 (err set). */
static int64_t classify_job(struct rg_api_state *st, int64_t owner, int64_t conv, char *err)
{
    json_t *p = json_pack("{s:I}", "conversation_id", (json_int_t)conv);
    int64_t id = 0;
    if (!p || rg_jobs_submit(st->jobs, "chat.classify", owner, p, 0, 2, &id, err) != RG_OK) id = 0;
    json_decref(p);
    return id;
}

void rg_api_mem_answered(struct rg_api_state *st, int64_t owner, int64_t conv_id, bool ok)
{
    if (!ok || !st->jobs) return;
    struct rg_db_conv c = {0};
    char err[RG_ERR_SIZE] = "";
    if (rg_db_conv_get(st->db, owner, conv_id, &c, err) != RG_OK) return;
    bool want = !c.type[0] && c.type_auto;
    rg_db_conv_clear(&c);
    if (want && !classify_job(st, owner, conv_id, err))
        rg_log(RG_LOG_WARN, "cannot queue the classification job", "error", 's', err, RG_LOG_END);
}

static void conv_classify(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r), id = user ? rg_api_chat_path_id(r, "conversation") : 0;
    if (!id) return;
    struct rg_db_conv c = {0};
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_conv_get(st->db, user, id, &c, err);
    rg_db_conv_clear(&c);
    if (rc) {
        db_fail(r, rc, "conversation", err);
        return;
    }
    int64_t job = classify_job(st, user, id, err);
    if (!job) {
        rg_http_reply_error(r, 503, NULL, NULL, NULL, "cannot queue the job: %s", err);
        return;
    }
    reply_obj(r, 202, json_pack("{s:I}", "job", (json_int_t)job));
}

/* ---- the table ------------------------------------------------------------------------------ */

#define STR "{\"type\":\"string\"}"
#define BOOL "{\"type\":\"boolean\"}"
#define INT "{\"type\":\"integer\"}"
#define PREFS_SCHEMA                                                                               \
    "{\"type\":\"object\",\"properties\":{\"system\":" STR ",\"sources\":{\"type\":\"object\","    \
    "\"properties\":{\"summaries\":" BOOL ",\"prior\":" BOOL ",\"glossary\":" BOOL                 \
    ",\"library\":" BOOL "}},\"auto_thread\":{\"enum\":[\"off\",\"suggest\",\"new\"]},"            \
    "\"auto_thread_distance\":{\"type\":\"number\"},\"summary_after\":" INT "}}"
#define STYLE_SCHEMA                                                                               \
    "{\"type\":\"object\",\"properties\":{\"id\":" STR ",\"name\":" STR ",\"builtin\":" BOOL       \
    ",\"description\":" STR ",\"prompt\":" STR "}}"
#define STYLE_NEW_SCHEMA                                                                           \
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"name\":" STR            \
    ",\"description\":" STR ",\"prompt\":" STR "}}"
#define TERM_SCHEMA                                                                                \
    "{\"type\":\"object\",\"properties\":{\"id\":" INT ",\"term\":" STR ",\"definition\":" STR     \
    ",\"created_at\":" INT ",\"updated_at\":" INT "}}"
#define TERM_NEW_SCHEMA                                                                            \
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"term\":" STR            \
    ",\"definition\":" STR "}}"
#define LIST_OF(x)                                                                                 \
    "{\"type\":\"object\",\"properties\":{\"data\":{\"type\":\"array\",\"items\":" x "}}}"

#define FLAG_SCHEMA                                                                                \
    "{\"type\":\"object\",\"properties\":{\"id\":" INT ",\"message_id\":" INT ",\"start\":" INT    \
    ",\"end\":" INT ",\"quote\":" STR ",\"note\":" STR ",\"created_at\":" INT "}}"
#define RATING_SCHEMA                                                                              \
    "{\"type\":\"object\",\"properties\":{\"confidence\":{\"type\":[\"integer\",\"null\"]},"       \
    "\"thumbs\":{\"enum\":[\"up\",\"down\",null]},\"flags\":{\"type\":\"array\","                  \
    "\"items\":" FLAG_SCHEMA "},\"updated_at\":{\"type\":[\"integer\",\"null\"]}}}"

size_t rg_api_memory_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const struct rg_route routes[] = {
        {RG_HTTP_GET, "/chat/memory", memory_get, st, RG_ROLE_READONLY, 0, "memory",
         "Your memory settings (defaults until set)", NULL, PREFS_SCHEMA},
        {RG_HTTP_PUT, "/chat/memory", memory_put, st, RG_ROLE_USER, 0, "memory",
         "Change your memory settings: any of system, sources, auto_thread, "
         "auto_thread_distance, summary_after; answers the whole settings",
         PREFS_SCHEMA, PREFS_SCHEMA},
        {RG_HTTP_GET, "/chat/styles", styles_list, st, RG_ROLE_READONLY, 0, "memory",
         "The thinking styles: the built-in ones first, then yours", NULL, LIST_OF(STYLE_SCHEMA)},
        {RG_HTTP_GET, "/chat/styles/{id}", style_get, st, RG_ROLE_READONLY, 0, "memory",
         "A style with its instructions", NULL, STYLE_SCHEMA},
        {RG_HTTP_POST, "/chat/styles", style_create, st, RG_ROLE_USER, 0, "memory",
         "A style of your own (201, id custom-N)", STYLE_NEW_SCHEMA, STYLE_SCHEMA},
        {RG_HTTP_PATCH, "/chat/styles/{id}", style_patch, st, RG_ROLE_USER, 0, "memory",
         "Change a style of your own (a built-in one is 400 builtin_style)", STYLE_NEW_SCHEMA,
         STYLE_SCHEMA},
        {RG_HTTP_DELETE, "/chat/styles/{id}", style_delete, st, RG_ROLE_USER, 0, "memory",
         "Delete a style of your own (204)", NULL, NULL},
        {RG_HTTP_GET, "/chat/glossary", glossary_list, st, RG_ROLE_READONLY, 0, "memory",
         "Your glossary by term (?q=: terms starting with it, without case)", NULL,
         LIST_OF(TERM_SCHEMA)},
        {RG_HTTP_POST, "/chat/glossary", glossary_create, st, RG_ROLE_USER, 0, "memory",
         "A glossary entry (201; 409 exists when the term is there, without case)", TERM_NEW_SCHEMA,
         TERM_SCHEMA},
        {RG_HTTP_PATCH, "/chat/glossary/{id}", glossary_patch, st, RG_ROLE_USER, 0, "memory",
         "Change a glossary entry", TERM_NEW_SCHEMA, TERM_SCHEMA},
        {RG_HTTP_DELETE, "/chat/glossary/{id}", glossary_delete, st, RG_ROLE_USER, 0, "memory",
         "Delete a glossary entry (204)", NULL, NULL},
        {RG_HTTP_GET, "/chat/messages/{id}/rating", rating_get, st, RG_ROLE_READONLY, 0, "memory",
         "An answer's rating and assumption flags (nulls and no flags when never rated)", NULL,
         RATING_SCHEMA},
        {RG_HTTP_PUT, "/chat/messages/{id}/rating", rating_put, st, RG_ROLE_USER, 0, "memory",
         "Rate an answer: confidence 0..100 and thumbs up/down (null clears, absent keeps)",
         "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"confidence\":"
         "{\"type\":[\"integer\",\"null\"],\"minimum\":0,\"maximum\":100},\"thumbs\":{\"enum\":"
         "[\"up\",\"down\",null]}}}",
         RATING_SCHEMA},
        {RG_HTTP_POST, "/chat/messages/{id}/flags", flag_create, st, RG_ROLE_USER, 0, "memory",
         "Flag a sentence of an answer as an assumption (201): its byte offsets in the content",
         "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"start\",\"end\"],"
         "\"properties\":{\"start\":" INT ",\"end\":" INT ",\"note\":" STR "}}",
         FLAG_SCHEMA},
        {RG_HTTP_DELETE, "/chat/flags/{id}", flag_delete, st, RG_ROLE_USER, 0, "memory",
         "Remove an assumption flag (204)", NULL, NULL},
        {RG_HTTP_GET, "/chat/ratings/export", ratings_export, st, RG_ROLE_READONLY, 0, "memory",
         "Every rated answer of yours with its rating and flags (?format=json or csv: one row "
         "per flag)",
         NULL, NULL},
        {RG_HTTP_GET, "/admin/ratings", admin_ratings, st, RG_ROLE_ADMIN, 0, "admin",
         "Ratings summarised per model: answers rated, average confidence, thumbs, flags", NULL,
         LIST_OF("{\"type\":\"object\",\"properties\":{\"model\":" STR ",\"answers_rated\":" INT
                 ",\"avg_confidence\":{\"type\":[\"number\",\"null\"]},\"thumbs_up\":" INT
                 ",\"thumbs_down\":" INT ",\"flags\":" INT "}}")},
        {RG_HTTP_POST, "/chat/conversations/{id}/classify", conv_classify, st, RG_ROLE_USER, 0,
         "chat",
         "Classify the conversation as reflective, analytical or practical (202: the job "
         "chat.classify; a type set by hand stays)",
         NULL, "{\"type\":\"object\",\"properties\":{\"job\":" INT "}}"},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n;
}

int rg_api_memory_jobs_register(struct rg_api_state *st, char *err)
{
    struct rg_job_kind k = {
        .name = "chat.classify", .run = classify_run, .check = classify_check, .user = st};
    return rg_jobs_register(st->jobs, &k, err);
}
