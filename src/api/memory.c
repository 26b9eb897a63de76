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

/* A storage error as a request error (for the prompt builder's calls). */
static int db_err(struct rg_req_err *e, int rc, const char *err)
{
    if (rc == RG_EBUSY)
        return rg_req_err_set(e, 503, NULL, "busy", "the database is busy: try again");
    rg_log(RG_LOG_ERROR, "memory storage failed", "error", 's', err ? err : "", "code", 's',
           rg_strerror(rc), RG_LOG_END);
    return rg_req_err_set(e, 500, NULL, NULL, "internal error");
}

/* The {id} of the path as a positive integer, or 0 (404 sent). */
static int64_t path_id(struct rg_http_req *r, const char *what)
{
    int64_t id = 0;
    if (rg_parse_i64(rg_http_req_param(r, "id"), 1, INT64_MAX, &id) != RG_OK) {
        rg_http_reply_error(r, 404, NULL, "not_found", NULL, "no such %s", what);
        return 0;
    }
    return id;
}

/* Every key of o is one of names (NULL-ended); else 400 naming it. */
static bool only_fields(struct rg_http_req *r, const json_t *o, const char *const *names)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        bool known = false;
        for (size_t i = 0; names[i] && !known; i++)
            known = !strcmp(key, names[i]);
        if (!known) {
            rg_http_reply_error(r, 400, NULL, NULL, key, "unknown field '%.60s'", key);
            return false;
        }
    }
    return true;
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
    if (r && !only_fields(r, o, names)) return false;
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
        if (json_array_append_new(a, builtin_json(&b[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, custom_json(&v[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
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
    if (!only_fields(r, body, names)) return;
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
    if (!only_fields(r, body, names)) return;
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
    int rc = rg_db_mem_style_delete(st->db, user, n, err);
    if (rc) {
        db_fail(r, rc, "style", err);
        return;
    }
    rg_http_reply(r, 204, NULL, NULL, 0);
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
        if (json_array_append_new(a, term_json(&v[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    rg_db_mem_term_list_free(v, n);
    reply_obj(r, 200, a ? json_pack("{s:o}", "data", a) : NULL);
}

static bool term_fields(struct rg_http_req *r, const json_t *body, const char **term,
                        const char **def)
{
    static const char *const names[] = {"term", "definition", NULL};
    bool bad = false;
    if (!only_fields(r, body, names)) return false;
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
    int64_t id = path_id(r, "glossary entry");
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
    int64_t id = path_id(r, "glossary entry");
    if (!id) return;
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_mem_term_delete(st->db, user, id, err);
    if (rc) {
        db_fail(r, rc, "glossary entry", err);
        return;
    }
    rg_http_reply(r, 204, NULL, NULL, 0);
}

/* ---- PART2 ---- */

void rg_api_mem_answered(struct rg_api_state *st, int64_t owner, int64_t conv_id, bool ok)
{
    (void)st;
    (void)owner;
    (void)conv_id;
    (void)ok;
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
        /* PART2 ROUTES */
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n;
}

int rg_api_memory_jobs_register(struct rg_api_state *st, char *err)
{
    (void)st;
    (void)err;
    return RG_OK;
}
