/*
 * /chat/conversations, /chat/threads, export and import: the kept
 * conversations over src/db (docs/chat.md). Thin handlers: each parses and
 * checks its input strictly (unknown fields, wrong types and out-of-range
 * ids are 400 before anything is stored), calls the storage layer with the
 * caller as owner (another user's ids are RG_ENOTFOUND there, so 404 here
 * exactly as a missing one), and replies.
 *
 * This file also holds what both halves of /chat share (chat_internal.h):
 * the caller's id, the reply for a storage error, and the JSON shape of a
 * conversation, a message and a thread.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "api/chat_context.h"
#include "api/chat_internal.h"
#include "api/memory.h"
#include "db/memory.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/str.h"

/* ---- shared with chat_answer.c -------------------------------------------------- */

int64_t rg_api_chat_user(struct rg_http_req *r)
{
    int64_t id = 0;
    if (rg_parse_i64(rg_http_req_principal(r)->id, 1, INT64_MAX, &id) != RG_OK) {
        rg_http_reply_error(r, 401, NULL, "unauthenticated", NULL,
                            "sign in with an account (a server --api-key is not one)");
        return 0;
    }
    return id;
}

void rg_api_chat_db_fail(struct rg_http_req *r, int rc, const char *what, const char *err)
{
    switch (rc) {
    case RG_ENOTFOUND:
        rg_http_reply_error(r, 404, NULL, "not_found", NULL, "no such %s",
                            what ? what : "conversation");
        return;
    case RG_EINVAL:
        rg_http_reply_error(r, 400, NULL, NULL, NULL, "%s", err && *err ? err : "invalid request");
        return;
    case RG_ESTATE:
        rg_http_reply_error(r, 409, NULL, "conflict", NULL, "%s",
                            err && *err ? err : "not possible in the current state");
        return;
    case RG_EBUSY:
        rg_http_set_header(r, "Retry-After", "1");
        rg_http_reply_error(r, 503, NULL, "busy", NULL, "the database is busy: try again");
        return;
    default:
        rg_log(RG_LOG_ERROR, "chat storage failed", "error", 's', err ? err : "", "code", 's',
               rg_strerror(rc), RG_LOG_END);
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "internal error");
    }
}

/* Stored JSON object text as a value; {} when absent or unreadable (the
 * storage layer only keeps objects, so this is a fallback, not a case). */
static json_t *settings_json(const char *txt)
{
    json_t *v = txt && *txt ? json_loads(txt, 0, NULL) : NULL;
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v ? v : json_object();
}

/* "a,b,c" as ["a", "b", "c"] (empty parts left out). */
static json_t *tags_json(const char *tags)
{
    json_t *a = json_array();
    for (const char *p = tags; a && p && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n && json_array_append_new(a, json_stringn(p, n)) != 0) {
            json_decref(a);
            return NULL;
        }
        p = e ? e + 1 : p + n;
    }
    return a;
}

/* A JSON string of stored text: text written by a model may in principle
 * hold bytes that are not UTF-8, which must not make the reply fail. */
static json_t *text_json(const char *s)
{
    return rg_api_json_text(s ? s : "", s ? strlen(s) : 0);
}

json_t *rg_api_chat_conv_json(const struct rg_db_conv *c)
{
    json_t *o = json_pack(
        "{s:I, s:o, s:b, s:o, s:o, s:o, s:o, s:b, s:b, s:I, s:I, s:I, s:I, s:I}", "id",
        (json_int_t)c->id, "title", text_json(c->title), "title_auto", (int)c->title_auto, "model",
        text_json(c->model), "settings", settings_json(c->settings), "folder", text_json(c->folder),
        "tags", tags_json(c->tags), "archived", (int)c->archived, "pinned", (int)c->pinned,
        "active_leaf", (json_int_t)c->active_leaf, "main_thread", (json_int_t)c->main_thread,
        "n_messages", (json_int_t)c->n_messages, "created_at", (json_int_t)c->created_at,
        "updated_at", (json_int_t)c->updated_at);
    /* the conversation type (docs/memory.md) */
    if (o && (json_object_set_new(o, "type", json_string(c->type)) != 0 ||
              json_object_set_new(o, "type_auto", json_boolean(c->type_auto)) != 0)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* The group a message's siblings share: its parent; a summary
 * (docs/memory.md) is never anyone's sibling, so it is a group of its own. */
static int64_t sib_group(const struct rg_db_msg *m)
{
    return strcmp(m->type, "summary") ? m->parent_id : -m->id;
}

/* Adds "siblings" (ids of the messages with m's parent, oldest first: all
 * is in id order) and "sibling_index" to o. */
static int add_siblings(json_t *o, const struct rg_db_msg *m, const struct rg_db_msg *all, size_t n)
{
    json_t *sib = json_array();
    if (!sib) return RG_ENOMEM;
    int index = 0;
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (sib_group(&all[i]) != sib_group(m)) continue;
        if (all[i].id == m->id) found = true;
        if (!found) index++;
        if (json_array_append_new(sib, json_integer(all[i].id)) != 0) {
            json_decref(sib);
            return RG_ENOMEM;
        }
    }
    if (!found) { /* m is not in this list (a read raced a change): itself alone */
        json_array_clear(sib);
        index = 0;
        if (json_array_append_new(sib, json_integer(m->id)) != 0) {
            json_decref(sib);
            return RG_ENOMEM;
        }
    }
    if (json_object_set_new(o, "siblings", sib) != 0 ||
        json_object_set_new(o, "sibling_index", json_integer(index)) != 0)
        return RG_ENOMEM;
    return RG_OK;
}

json_t *rg_api_chat_msg_json(const struct rg_db_msg *m, const struct rg_db_msg *all, size_t n)
{
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:s, s:s, s:o, s:o, s:o, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:i}",
        "id", (json_int_t)m->id, "conversation_id", (json_int_t)m->conv_id, "thread_id",
        (json_int_t)m->thread_id, "parent_id", (json_int_t)m->parent_id, "type", m->type, "role",
        m->role, "content", text_json(m->content), "model", text_json(m->model), "settings",
        settings_json(m->settings), "finish", m->finish, "incomplete", (int)m->incomplete,
        "prompt_tokens", (json_int_t)m->prompt_tokens, "completion_tokens",
        (json_int_t)m->completion_tokens, "duration_ms", (json_int_t)m->duration_ms, "created_at",
        (json_int_t)m->created_at, "updated_at", (json_int_t)m->updated_at, "n_children",
        m->n_children);
    if (o && all && add_siblings(o, m, all, n) != RG_OK) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *rg_api_chat_thread_json(const struct rg_db_thread *t)
{
    return json_pack("{s:I, s:I, s:o, s:I, s:b, s:I, s:I, s:I}", "id", (json_int_t)t->id,
                     "conversation_id", (json_int_t)t->conv_id, "title", text_json(t->title),
                     "root_id", (json_int_t)t->root_id, "collapsed", (int)t->collapsed,
                     "summary_id", (json_int_t)t->summary_id, "n_messages",
                     (json_int_t)t->n_messages, "created_at", (json_int_t)t->created_at);
}

/* ---- input checks ------------------------------------------------------------------ */

#define QUERY_MAX 512      /* bytes of a search query */
#define LIST_LIMIT_MAX 200 /* rg_db_conv_filter.limit */
#define LIST_OFFSET_MAX 1000000
#define MODEL_MAX 127 /* bytes of a model id (rg_db_conv.model) */
#define FOLDER_MAX 127
/* An import's sizes: a message lists its siblings, so a turn with very
 * many versions makes every read of the tree grow with their square */
#define IMPORT_MSGS_MAX 20000
#define IMPORT_SIBLINGS_MAX 200
#define IMPORT_THREADS_MAX 10000
#define EXPORT_MD_MAX ((size_t)1 << 30)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rg_api_chat_path_id(struct rg_http_req *r, const char *what)
{
    int64_t id = 0;
    if (rg_parse_i64(rg_http_req_param(r, "id"), 1, INT64_MAX, &id) != RG_OK) {
        rg_http_reply_error(r, 404, NULL, "not_found", NULL, "no such %s", what);
        return 0;
    }
    return id;
}

static void bad_field(struct rg_http_req *r, const char *field, const char *what)
{
    rg_http_reply_error(r, 400, NULL, NULL, field, "'%s' %s", field, what);
}

/* Every key of o is one of names (NULL-ended); else 400 naming the first
 * other one (where says in what). */
static bool only_fields(struct rg_http_req *r, const json_t *o, const char *const *names,
                        const char *where)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        bool known = false;
        for (size_t i = 0; names[i] && !known; i++)
            known = !strcmp(key, names[i]);
        if (!known) {
            rg_http_reply_error(r, 400, NULL, NULL, key, "%s: unknown field '%.60s'", where, key);
            return false;
        }
    }
    return true;
}

bool rg_api_chat_fields_known(struct rg_http_req *r, const json_t *o, const char *const *names)
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

/* An optional string field of at most max bytes: NULL when absent or null;
 * *bad (400 sent) when it is not a string or too long, or when a one-line
 * field (line: titles, names) holds a control character other than a tab
 * (what storage refuses, refused here before anything is stored). */
static const char *opt_text(struct rg_http_req *r, const json_t *o, const char *key, size_t max,
                            bool line, bool *bad)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return NULL;
    if (!json_is_string(v)) {
        bad_field(r, key, "must be a string");
        *bad = true;
        return NULL;
    }
    if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v)) {
        rg_http_reply_error(r, 400, NULL, NULL, key, "'%s' must be at most %zu bytes (no NUL)", key,
                            max);
        *bad = true;
        return NULL;
    }
    const char *p = json_string_value(v);
    for (size_t i = 0; line && p[i]; i++)
        if ((unsigned char)p[i] < 0x20 && p[i] != '\t') {
            rg_http_reply_error(r, 400, NULL, NULL, key, "'%s' must be one line of text", key);
            *bad = true;
            return NULL;
        }
    return p;
}

static const char *opt_str(struct rg_http_req *r, const json_t *o, const char *key, size_t max,
                           bool *bad)
{
    return opt_text(r, o, key, max, true, bad);
}

/* An optional boolean: -1 absent or null, 0, 1; *bad (400 sent) otherwise. */
static int opt_bool(struct rg_http_req *r, const json_t *o, const char *key, bool *bad)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return -1;
    if (!json_is_boolean(v)) {
        bad_field(r, key, "must be true or false");
        *bad = true;
        return -1;
    }
    return json_is_true(v);
}

/* A required positive id in o; 0 (400 sent) when missing or not one. */
static int64_t need_id(struct rg_http_req *r, const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        bad_field(r, key, "must be a positive integer (an id)");
        return 0;
    }
    return json_integer_value(v);
}

/*
 * A conversation's settings: an object of the generation defaults the
 * answer side reads (docs/chat.md), each of its type and range. Returns the
 * compact JSON text to store (free()), or NULL with 400 sent. Other keys
 * are refused so that a typo ("temprature") is not kept silently.
 */
static char *settings_text(struct rg_http_req *r, const json_t *v, const char *field)
{
    if (!json_is_object(v)) {
        bad_field(r, field, "must be an object");
        return NULL;
    }
    static const struct {
        const char *key;
        bool integer;
        double lo, hi;
    } num[] = {{"temperature", false, 0, 2},
               {"top_p", false, 0, 1},
               {"top_k", true, 0, 1e6},
               {"max_tokens", true, 1, 1e7},
               {"seed", true, -9.2e18, 9.2e18}};
    const char *key;
    json_t *x;
    json_object_foreach((json_t *)v, key, x)
    {
        if (!strcmp(key, "collections")) { /* library collections answers search */
            bool ok = json_is_array(x) && json_array_size(x) <= 16;
            size_t k;
            json_t *c;
            json_array_foreach(x, k, c) ok = ok && json_is_integer(c) && json_integer_value(c) > 0;
            if (!ok) {
                rg_http_reply_error(r, 400, NULL, NULL, field,
                                    "%s.collections must be at most 16 collection ids", field);
                return NULL;
            }
            continue;
        }
        if (!strcmp(key, "style")) { /* a thinking style (docs/memory.md) */
            if (!json_is_string(x) || json_string_length(x) > 64) {
                rg_http_reply_error(r, 400, NULL, NULL, field, "%s.style must be a style id",
                                    field);
                return NULL;
            }
            continue;
        }
        if (!strcmp(key, "memory")) { /* the prompt's sources turned on or off */
            if (!rg_api_chat_memory_valid(x)) {
                rg_http_reply_error(r, 400, NULL, NULL, field, "%s.memory: %s", field,
                                    RG_API_CHAT_MEMORY_RULE);
                return NULL;
            }
            continue;
        }
        if (!strcmp(key, "system")) {
            if (!json_is_string(x)) {
                rg_http_reply_error(r, 400, NULL, NULL, field, "%s.system must be a string", field);
                return NULL;
            }
            continue;
        }
        size_t i = 0;
        while (i < RG_ARRAY_LEN(num) && strcmp(key, num[i].key) != 0)
            i++;
        if (i == RG_ARRAY_LEN(num)) {
            rg_http_reply_error(r, 400, NULL, NULL, field,
                                "%s: unknown field '%.60s' (system, temperature, top_p, top_k, "
                                "max_tokens, seed, collections, style, memory)",
                                field, key);
            return NULL;
        }
        bool ok = num[i].integer ? json_is_integer(x) : json_is_number(x);
        double d = ok ? json_number_value(x) : 0;
        if (!ok || d < num[i].lo || d > num[i].hi) {
            rg_http_reply_error(r, 400, NULL, NULL, field, "%s.%s must be %s within %g..%g", field,
                                key, num[i].integer ? "an integer" : "a number", num[i].lo,
                                num[i].hi);
            return NULL;
        }
    }
    char *txt = json_dumps(v, JSON_COMPACT);
    if (!txt) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return NULL;
    }
    if (strlen(txt) > RG_DB_CONV_SETTINGS_MAX) {
        free(txt);
        rg_http_reply_error(r, 400, NULL, NULL, field, "'%s' must be at most %d bytes of JSON",
                            field, RG_DB_CONV_SETTINGS_MAX);
        return NULL;
    }
    return txt;
}

/* Tags ["a", "b"] as "a,b" into buf (storage normalises case and order);
 * false with 400 sent. An empty array gives "" (no tags). */
static bool tags_text(struct rg_http_req *r, const json_t *v, char *buf, size_t size)
{
    if (!json_is_array(v) || json_array_size(v) > RG_DB_CONV_TAGS_MAX) {
        rg_http_reply_error(r, 400, NULL, NULL, "tags",
                            "'tags' must be an array of at most %d "
                            "strings",
                            RG_DB_CONV_TAGS_MAX);
        return false;
    }
    size_t len = 0, i;
    json_t *t;
    buf[0] = '\0';
    json_array_foreach(v, i, t)
    {
        const char *s = json_string_value(t);
        size_t n = s ? json_string_length(t) : 0;
        if (!s || n == 0 || n > RG_DB_CONV_TAG_MAX || strlen(s) != n || strchr(s, ',')) {
            rg_http_reply_error(r, 400, NULL, NULL, "tags",
                                "each tag must be a string of 1..%d bytes without commas",
                                RG_DB_CONV_TAG_MAX);
            return false;
        }
        if (len + n + 2 > size) { /* cannot happen within the caps above */
            rg_http_reply_error(r, 400, NULL, NULL, "tags", "'tags' too long");
            return false;
        }
        if (len) buf[len++] = ',';
        memcpy(buf + len, s, n);
        len += n;
        buf[len] = '\0';
    }
    return true;
}

/* The fields a conversation is created or changed with (the settings text
 * is free()d by conv_fields_free). */
struct conv_fields {
    const char *title, *model, *folder, *tags;
    char *settings;
    int archived, pinned;
    char tag_buf[RG_DB_CONV_TAGS_MAX * (RG_DB_CONV_TAG_MAX + 1) + 8];
};

static void conv_fields_free(struct conv_fields *f)
{
    free(f->settings);
    f->settings = NULL;
}

/* Reads title, model, settings, folder, tags (and with flags, archived and
 * pinned) of o. false with 400 sent. */
static bool conv_fields(struct rg_http_req *r, const json_t *o, bool flags, struct conv_fields *f)
{
    bool bad = false;
    f->settings = NULL;
    f->tags = NULL;
    f->archived = f->pinned = -1;
    f->title = opt_str(r, o, "title", RG_DB_CONV_TITLE_MAX, &bad);
    if (!bad) f->model = opt_str(r, o, "model", MODEL_MAX, &bad);
    if (!bad) f->folder = opt_str(r, o, "folder", FOLDER_MAX, &bad);
    if (bad) return false;
    json_t *v = json_object_get(o, "settings");
    if (v && !json_is_null(v) && !(f->settings = settings_text(r, v, "settings"))) return false;
    v = json_object_get(o, "tags");
    if (v && !json_is_null(v)) {
        if (!tags_text(r, v, f->tag_buf, sizeof f->tag_buf)) {
            conv_fields_free(f);
            return false;
        }
        f->tags = f->tag_buf;
    }
    if (flags) {
        f->archived = opt_bool(r, o, "archived", &bad);
        if (!bad) f->pinned = opt_bool(r, o, "pinned", &bad);
    }
    if (bad) conv_fields_free(f);
    return !bad;
}

/* ---- replies ------------------------------------------------------------------------ */

static void reply_obj(struct rg_http_req *r, int status, json_t *o)
{
    if (!o) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return;
    }
    rg_http_reply_json(r, status, o);
}

static void reply_conv(struct rg_http_req *r, int status, const struct rg_db_conv *c)
{
    reply_obj(r, status, rg_api_chat_conv_json(c));
}

/* ids of v[0..n) as a JSON array */
static json_t *ids_json(const struct rg_db_msg *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_integer(v[i].id)) != 0) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

/* A message's place among its siblings: the tree sorted by (parent, id). */
struct sib_key {
    int64_t parent, id;
    size_t i; /* index in the tree */
};

static int sib_cmp(const void *a, const void *b)
{
    const struct sib_key *x = a, *y = b;
    if (x->parent != y->parent) return x->parent < y->parent ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The index of id in all (ascending ids), or SIZE_MAX. */
static size_t msg_index(const struct rg_db_msg *all, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (all[mid].id == id) return mid;
        if (all[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

/*
 * v[0..n) as messages, each with its siblings from the whole tree all.
 * rg_api_chat_msg_json scans the tree for each message, which for a whole
 * tree is quadratic: fine for a small one, but past SCAN_MAX messages the
 * tree is grouped by parent once (n log n) and each message reads its group.
 */
#define SCAN_MAX 64
static json_t *msgs_json(const struct rg_db_msg *v, size_t n, const struct rg_db_msg *all,
                         size_t n_all)
{
    if (n_all <= SCAN_MAX) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++)
            if (json_array_append_new(a, rg_api_chat_msg_json(&v[i], all, n_all)) != 0) {
                json_decref(a);
                a = NULL;
            }
        return a;
    }
    struct sib_key *keys = rg_malloc_array(n_all ? n_all : 1, sizeof *keys);
    size_t *at = rg_malloc_array(n_all ? n_all : 1, sizeof *at);
    json_t *a = keys && at ? json_array() : NULL;
    for (size_t i = 0; a && i < n_all; i++)
        keys[i] = (struct sib_key){sib_group(&all[i]), all[i].id, i};
    if (a) qsort(keys, n_all, sizeof *keys, sib_cmp);
    for (size_t p = 0; a && p < n_all; p++)
        at[keys[p].i] = p;
    for (size_t i = 0; a && i < n; i++) {
        size_t k = msg_index(all, n_all, v[i].id);
        json_t *o = NULL;
        if (k == SIZE_MAX) { /* not in the tree (a read raced a change): its own scan */
            o = rg_api_chat_msg_json(&v[i], all, n_all);
        } else if ((o = rg_api_chat_msg_json(&v[i], NULL, 0))) {
            size_t p = at[k], lo = p, hi = p + 1;
            while (lo > 0 && keys[lo - 1].parent == keys[p].parent)
                lo--;
            while (hi < n_all && keys[hi].parent == keys[p].parent)
                hi++;
            json_t *sib = json_array();
            for (size_t q = lo; sib && q < hi; q++)
                if (json_array_append_new(sib, json_integer(keys[q].id)) != 0) {
                    json_decref(sib);
                    sib = NULL;
                }
            if (!sib || json_object_set_new(o, "siblings", sib) != 0 ||
                json_object_set_new(o, "sibling_index", json_integer((json_int_t)(p - lo))) != 0) {
                json_decref(o);
                o = NULL;
            }
        }
        if (json_array_append_new(a, o) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    rg_free(keys);
    rg_free(at);
    return a;
}

static json_t *threads_json(const struct rg_db_thread *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, rg_api_chat_thread_json(&v[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

/* ---- one conversation, read whole --------------------------------------------------- */

/* What GET and export read: the conversation, its tree (ids ascending),
 * the active branch (root first) and the threads. */
struct conv_read {
    struct rg_db_conv conv;
    struct rg_db_msg *all, *branch;
    size_t n_all, n_branch;
    struct rg_db_thread *threads;
    size_t n_threads;
};

static void conv_read_free(struct conv_read *cr)
{
    rg_db_conv_clear(&cr->conv);
    rg_db_msg_list_free(cr->all, cr->n_all);
    rg_db_msg_list_free(cr->branch, cr->n_branch);
    rg_free(cr->threads);
    memset(cr, 0, sizeof *cr);
}

/* RG_OK, or the storage error (replied). */
static int conv_read(struct rg_http_req *r, struct rg_db *db, int64_t user, int64_t id,
                     struct conv_read *cr)
{
    memset(cr, 0, sizeof *cr);
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_conv_get(db, user, id, &cr->conv, err);
    if (rc == RG_OK) rc = rg_db_msg_list(db, user, id, &cr->all, &cr->n_all, err);
    if (rc == RG_OK) rc = rg_db_msg_branch(db, user, id, 0, &cr->branch, &cr->n_branch, err);
    if (rc == RG_OK) rc = rg_db_thread_list(db, user, id, &cr->threads, &cr->n_threads, err);
    if (rc != RG_OK) {
        rg_api_chat_db_fail(r, rc, "conversation", err);
        conv_read_free(cr);
    }
    return rc;
}

/* ---- conversations ------------------------------------------------------------------ */

static void conv_create(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    static const char *const names[] = {"title", "model", "settings", "folder", "tags", NULL};
    struct conv_fields f;
    if (!only_fields(r, body, names, "body") || !conv_fields(r, body, false, &f)) return;
    struct rg_db_conv_new n = {.owner_id = user,
                               .title = f.title,
                               .model = f.model,
                               .settings = f.settings,
                               .folder = f.folder,
                               .tags = f.tags,
                               .now = now_ms()};
    struct rg_db_conv c = {0};
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_conv_create(st->db, &n, &c, err);
    conv_fields_free(&f);
    if (rc) {
        /* the owner is no user: the account vanished under its token */
        rg_api_chat_db_fail(r, rc == RG_ENOTFOUND ? RG_EINTERNAL : rc, "conversation", err);
        return;
    }
    reply_conv(r, 201, &c);
    rg_db_conv_clear(&c);
}

static void conv_list(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    struct rg_db_conv_filter f = {.archived = 0, .limit = 50, .offset = 0};
    const char *q = rg_http_req_query(r, "q"), *ar = rg_http_req_query(r, "archived");
    const char *lim = rg_http_req_query(r, "limit"), *off = rg_http_req_query(r, "offset");
    int64_t v = 0;
    if (q && strlen(q) > QUERY_MAX) {
        rg_http_reply_error(r, 400, NULL, NULL, "q", "q must be at most %d bytes", QUERY_MAX);
        return;
    }
    if (q && !rg_utf8_valid(q, strlen(q))) {
        rg_http_reply_error(r, 400, NULL, NULL, "q", "q must be UTF-8");
        return;
    }
    f.q = q && *q ? q : NULL;
    f.folder = rg_http_req_query(r, "folder");
    f.tag = rg_http_req_query(r, "tag");
    if ((f.folder && strlen(f.folder) > FOLDER_MAX) ||
        (f.tag && strlen(f.tag) > RG_DB_CONV_TAG_MAX)) {
        rg_http_reply_error(r, 400, NULL, NULL, f.tag ? "tag" : "folder", "folder or tag too long");
        return;
    }
    if (f.tag && !*f.tag) f.tag = NULL; /* "?tag=" filters nothing */
    f.type = rg_http_req_query(r, "type");
    if (f.type && !rg_db_mem_conv_type_valid(f.type)) {
        rg_http_reply_error(r, 400, NULL, NULL, "type",
                            "type must be reflective, analytical or practical");
        return;
    }
    if (f.type && !*f.type) f.type = NULL;
    if (ar) {
        if (!strcmp(ar, "0"))
            f.archived = 0;
        else if (!strcmp(ar, "1"))
            f.archived = 1;
        else if (!strcmp(ar, "all"))
            f.archived = -1;
        else {
            rg_http_reply_error(r, 400, NULL, NULL, "archived", "archived must be 0, 1 or all");
            return;
        }
    }
    if (lim) {
        if (rg_parse_i64(lim, 1, LIST_LIMIT_MAX, &v) != RG_OK) {
            rg_http_reply_error(r, 400, NULL, NULL, "limit", "limit must be 1..%d", LIST_LIMIT_MAX);
            return;
        }
        f.limit = (int)v;
    }
    if (off) {
        if (rg_parse_i64(off, 0, LIST_OFFSET_MAX, &v) != RG_OK) {
            rg_http_reply_error(r, 400, NULL, NULL, "offset", "offset must be 0..%d",
                                LIST_OFFSET_MAX);
            return;
        }
        f.offset = (int)v;
    }
    struct rg_db_conv *cv = NULL;
    size_t n = 0;
    bool more = false;
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_conv_list(st->db, user, &f, &cv, &n, &more, err);
    if (rc) {
        rg_api_chat_db_fail(r, rc == RG_ENOTFOUND ? RG_EINTERNAL : rc, "conversation", err);
        return;
    }
    json_t *data = json_array();
    for (size_t i = 0; data && i < n; i++) {
        json_t *o = rg_api_chat_conv_json(&cv[i]);
        if (o && f.q)
            json_object_set_new(o, "match",
                                json_pack("{s:I, s:o}", "message_id",
                                          (json_int_t)cv[i].match_message, "snippet",
                                          text_json(cv[i].snippet)));
        if (json_array_append_new(data, o) != 0) {
            json_decref(data);
            data = NULL;
        }
    }
    rg_db_conv_list_free(cv, n);
    reply_obj(r, 200, data ? json_pack("{s:o, s:b}", "data", data, "has_more", (int)more) : NULL);
}

static void conv_get(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r), id = user ? rg_api_chat_path_id(r, "conversation") : 0;
    if (!id) return;
    const char *view = rg_http_req_query(r, "view");
    bool branch = view && !strcmp(view, "branch");
    if (view && !branch && strcmp(view, "tree") != 0) {
        rg_http_reply_error(r, 400, NULL, NULL, "view", "view must be tree or branch");
        return;
    }
    struct conv_read cr;
    if (conv_read(r, st->db, user, id, &cr) != RG_OK) return;
    json_t *o = rg_api_chat_conv_json(&cr.conv);
    json_t *msgs = branch ? msgs_json(cr.branch, cr.n_branch, cr.all, cr.n_all)
                          : msgs_json(cr.all, cr.n_all, cr.all, cr.n_all);
    json_t *ids = ids_json(cr.branch, cr.n_branch), *th = threads_json(cr.threads, cr.n_threads);
    char err[RG_ERR_SIZE] = "";
    int rrc = msgs ? rg_api_mem_add_ratings(st, user, id, msgs, err) : RG_OK; /* docs/memory.md */
    if (rrc != RG_OK) {
        json_decref(o);
        json_decref(msgs);
        json_decref(ids);
        json_decref(th);
        conv_read_free(&cr);
        rg_api_chat_db_fail(r, rrc, "conversation", err);
        return;
    }
    if (!o || !msgs || !ids || !th || json_object_set_new(o, "messages", msgs) ||
        json_object_set_new(o, "branch", ids) || json_object_set_new(o, "threads", th)) {
        json_decref(o);
        o = NULL;
    }
    conv_read_free(&cr);
    reply_obj(r, 200, o);
}

static void conv_patch(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r), id = user ? rg_api_chat_path_id(r, "conversation") : 0;
    if (!id) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    static const char *const names[] = {"title",    "model",  "settings", "folder", "tags",
                                        "archived", "pinned", "type",     NULL};
    struct conv_fields f;
    if (!only_fields(r, body, names, "body")) return;
    json_t *tv = json_object_get(body, "type");
    const char *type = json_string_value(tv);
    if (tv && !json_is_null(tv) && !rg_db_mem_conv_type_valid(type)) {
        bad_field(r, "type", "must be reflective, analytical, practical or \"\"");
        return;
    }
    if (!conv_fields(r, body, true, &f)) return;
    char err[RG_ERR_SIZE] = "";
    /* set by hand: never reclassified; "" gives it back to the classifier */
    int rc =
        type ? rg_db_mem_conv_set_type(st->db, user, id, type, *type != '\0', false, err) : RG_OK;
    if (rc) {
        conv_fields_free(&f);
        rg_api_chat_db_fail(r, rc, "conversation", err);
        return;
    }
    struct rg_db_conv_change ch = {.title = f.title,
                                   .model = f.model,
                                   .settings = f.settings,
                                   .folder = f.folder,
                                   .tags = f.tags,
                                   .archived = f.archived,
                                   .pinned = f.pinned,
                                   .title_auto = -1,
                                   .now = now_ms()};
    /* an emptied title gives the conversation back to the title job */
    if (f.title && !*f.title) ch.title_auto = 1;
    struct rg_db_conv c = {0};
    rc = rg_db_conv_update(st->db, user, id, &ch, &c, err);
    conv_fields_free(&f);
    if (rc) {
        rg_api_chat_db_fail(r, rc, "conversation", err);
        return;
    }
    reply_conv(r, 200, &c);
    rg_db_conv_clear(&c);
}

static void conv_delete(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r), id = user ? rg_api_chat_path_id(r, "conversation") : 0;
    if (!id) return;
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_conv_delete(st->db, user, id, err);
    if (rc) {
        rg_api_chat_db_fail(r, rc, "conversation", err);
        return;
    }
    rg_http_reply(r, 204, NULL, NULL, 0);
}

/* Replies {"active_leaf", "branch": [ids]} for the conversation's branch to leaf. */
static void reply_branch(struct rg_http_req *r, struct rg_db *db, int64_t user, int64_t conv,
                         int64_t leaf)
{
    struct rg_db_msg *v = NULL;
    size_t n = 0;
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_msg_branch(db, user, conv, leaf, &v, &n, err);
    if (rc) {
        rg_api_chat_db_fail(r, rc, "message", err);
        return;
    }
    json_t *ids = ids_json(v, n);
    rg_db_msg_list_free(v, n);
    reply_obj(r, 200,
              ids ? json_pack("{s:I, s:o}", "active_leaf", (json_int_t)leaf, "branch", ids) : NULL);
}

static void conv_active(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r), id = user ? rg_api_chat_path_id(r, "conversation") : 0;
    if (!id) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    static const char *const names[] = {"message_id", NULL};
    if (!only_fields(r, body, names, "body")) return;
    int64_t msg = need_id(r, body, "message_id");
    if (!msg) return;
    /* a version chosen in the middle of the tree shows its newest branch
     * down to a leaf, as the "< 2/3 >" switch of a client expects */
    int64_t leaf = 0;
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_conv_set_active(st->db, user, id, msg, true, &leaf, err);
    if (rc) {
        rg_api_chat_db_fail(r, rc, "message", err);
        return;
    }
    reply_branch(r, st->db, user, id, leaf);
}

/* ---- messages and threads ---------------------------------------------------------- */

static void msg_delete(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r), id = user ? rg_api_chat_path_id(r, "message") : 0;
    if (!id) return;
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_msg_delete(st->db, user, id, NULL, err);
    if (rc) {
        rg_api_chat_db_fail(r, rc, "message", err);
        return;
    }
    rg_http_reply(r, 204, NULL, NULL, 0);
}

static void msg_move(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r), id = user ? rg_api_chat_path_id(r, "message") : 0;
    if (!id) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    static const char *const names[] = {"thread_id", "new_thread", NULL};
    if (!only_fields(r, body, names, "body")) return;
    json_t *nt = json_object_get(body, "new_thread");
    bool has_tid = json_object_get(body, "thread_id") != NULL;
    if (has_tid == (nt != NULL)) {
        rg_http_reply_error(r, 400, NULL, NULL, "thread_id", "give either thread_id or new_thread");
        return;
    }
    int64_t tid = 0;
    const char *title = NULL;
    if (has_tid && !(tid = need_id(r, body, "thread_id"))) return;
    if (nt) {
        static const char *const nt_names[] = {"title", NULL};
        if (!json_is_object(nt)) {
            bad_field(r, "new_thread", "must be an object");
            return;
        }
        if (!only_fields(r, nt, nt_names, "new_thread")) return;
        bool bad = false;
        title = opt_str(r, nt, "title", RG_DB_CONV_TITLE_MAX, &bad);
        if (bad) return;
    }
    struct rg_db_thread t = {0};
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_msg_move(st->db, user, id, tid, title, now_ms(), &t, err);
    if (rc) {
        rg_api_chat_db_fail(r, rc, has_tid ? "message or thread" : "message", err);
        return;
    }
    reply_obj(r, 200, rg_api_chat_thread_json(&t));
}

static void thread_patch(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r), id = user ? rg_api_chat_path_id(r, "thread") : 0;
    if (!id) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    static const char *const names[] = {"title", "collapsed", NULL};
    if (!only_fields(r, body, names, "body")) return;
    bool bad = false;
    const char *title = opt_str(r, body, "title", RG_DB_CONV_TITLE_MAX, &bad);
    int collapsed = bad ? -1 : opt_bool(r, body, "collapsed", &bad);
    if (bad) return;
    struct rg_db_thread t = {0};
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_thread_update(st->db, user, id, title, collapsed, -1, &t, err);
    if (rc) {
        rg_api_chat_db_fail(r, rc, "thread", err);
        return;
    }
    reply_obj(r, 200, rg_api_chat_thread_json(&t));
}

/* ---- export ----------------------------------------------------------------------- */

/* The heading of a message in the Markdown export. */
static int md_heading(struct rg_buf *b, const struct rg_db_msg *m, const char *conv_model)
{
    if (!strcmp(m->type, "user")) return rg_buf_append_str(b, "## You\n\n");
    if (!strcmp(m->type, "assistant")) {
        const char *model = m->model[0] ? m->model : conv_model;
        return model[0] ? rg_buf_printf(b, "## Assistant (%s)\n\n", model)
                        : rg_buf_append_str(b, "## Assistant\n\n");
    }
    static const char *const names[][2] = {
        {"system", "System"}, {"tool", "Tool"}, {"summary", "Summary"}, {"note", "Note"}};
    for (size_t i = 0; i < RG_ARRAY_LEN(names); i++)
        if (!strcmp(m->type, names[i][0])) return rg_buf_printf(b, "## %s\n\n", names[i][1]);
    return rg_buf_printf(b, "## %s\n\n", m->type);
}

/* The active branch as Markdown: a title line, then each message under its
 * heading, its content as it is. */
static int markdown(const struct conv_read *cr, struct rg_buf *b)
{
    int rc = rg_buf_append_str(b, "# ");
    const char *t = cr->conv.title[0] ? cr->conv.title : "Untitled conversation";
    for (const char *p = t; rc == RG_OK && *p; p++) /* one line, whatever the title holds */
        rc = rg_buf_append_char(b, *p == '\n' || *p == '\r' ? ' ' : *p);
    if (rc == RG_OK) rc = rg_buf_append_str(b, "\n\n");
    for (size_t i = 0; rc == RG_OK && i < cr->n_branch; i++) {
        const struct rg_db_msg *m = &cr->branch[i];
        size_t n = strlen(m->content);
        rc = md_heading(b, m, cr->conv.model);
        if (rc == RG_OK) rc = rg_buf_append(b, m->content, n);
        if (rc == RG_OK) rc = rg_buf_append_str(b, n && m->content[n - 1] == '\n' ? "\n" : "\n\n");
    }
    return rc;
}

static void conv_export(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r), id = user ? rg_api_chat_path_id(r, "conversation") : 0;
    if (!id) return;
    const char *format = rg_http_req_query(r, "format");
    bool md = format && !strcmp(format, "markdown");
    if (format && !md && strcmp(format, "json") != 0) {
        rg_http_reply_error(r, 400, NULL, NULL, "format", "format must be json or markdown");
        return;
    }
    struct conv_read cr;
    if (conv_read(r, st->db, user, id, &cr) != RG_OK) return;
    if (md) {
        struct rg_buf b;
        rg_buf_init(&b, EXPORT_MD_MAX);
        int rc = markdown(&cr, &b);
        conv_read_free(&cr);
        if (rc) {
            rg_buf_free(&b);
            rg_http_reply_error(r, 500, NULL, NULL, NULL, "%s", rg_strerror(rc));
            return;
        }
        char disp[96];
        snprintf(disp, sizeof disp, "attachment; filename=\"conversation-%lld.md\"", (long long)id);
        rg_http_set_header(r, "Content-Disposition", disp);
        rg_http_reply(r, 200, "text/markdown; charset=utf-8", b.data ? b.data : "", b.len);
        rg_buf_free(&b);
        return;
    }
    json_t *c = rg_api_chat_conv_json(&cr.conv);
    json_t *th = threads_json(cr.threads, cr.n_threads);
    json_t *msgs = msgs_json(cr.all, cr.n_all, cr.all, cr.n_all);
    conv_read_free(&cr);
    char err[RG_ERR_SIZE] = "";
    int rrc = msgs ? rg_api_mem_add_ratings(st, user, id, msgs, err) : RG_OK; /* and flags */
    if (rrc != RG_OK) {
        json_decref(c);
        json_decref(th);
        json_decref(msgs);
        rg_api_chat_db_fail(r, rrc, "conversation", err);
        return;
    }
    reply_obj(r, 200,
              c && th && msgs
                  ? json_pack("{s:s, s:i, s:o, s:o, s:o}", "format", "rustygpt.conversation",
                              "version", 1, "conversation", c, "threads", th, "messages", msgs)
                  : NULL);
    if (!c || !th || !msgs) {
        json_decref(c);
        json_decref(th);
        json_decref(msgs);
    }
}

/* ---- import ----------------------------------------------------------------------- */

/*
 * An export read back. Everything is checked before anything is created:
 * the shape and types of every field, the sizes storage allows, ids unique,
 * every parent earlier in the list, every thread, active leaf and summary
 * a known one. Strings point into the request's body.
 */
struct imp_msg {
    int64_t id, parent, thread;
    const char *type, *role, *content, *model, *finish;
    const json_t *rating; /* docs/memory.md: restored after the tree (NULL none) */
    char *settings;       /* free() */
    bool incomplete;
    int64_t prompt_tokens, completion_tokens, duration_ms, created_at, updated_at;
    size_t parent_i; /* index of the parent (SIZE_MAX: a root) */
    size_t thread_i; /* index into threads (SIZE_MAX: the main thread) */
    int64_t new_id;
};

struct imp_thread {
    int64_t id, summary, new_id;
    const char *title;
    bool collapsed;
    size_t summary_i; /* SIZE_MAX: none */
};

struct imp {
    struct conv_fields conv;
    int title_auto;
    const char *type; /* NULL: none */
    int type_auto;    /* -1 absent */
    int64_t active_leaf, main_thread, created_at, updated_at;
    size_t leaf_i; /* SIZE_MAX: none */
    struct imp_msg *msgs;
    size_t n_msgs;
    struct imp_thread *threads;
    size_t n_threads;
};

static void imp_free(struct imp *im)
{
    conv_fields_free(&im->conv);
    for (size_t i = 0; im->msgs && i < im->n_msgs; i++)
        free(im->msgs[i].settings);
    rg_free(im->msgs);
    rg_free(im->threads);
}

/* An optional integer field within lo..hi (0 when absent); false with 400. */
static bool opt_int(struct rg_http_req *r, const json_t *o, const char *key, int64_t lo, int64_t hi,
                    int64_t *out)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v || json_is_null(v)) return true;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        rg_http_reply_error(r, 400, NULL, NULL, key, "'%s' must be an integer within %lld..%lld",
                            key, (long long)lo, (long long)hi);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

/* An exported time kept if it is a plausible one, else now. */
static int64_t sane_time(int64_t t, int64_t now)
{
    return t > 0 && t <= now ? t : now;
}

/* (id, index) pairs sorted by id: the lookup of exported ids. */
struct id_at {
    int64_t id;
    size_t i;
};

static int id_at_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct id_at *)a)->id, y = ((const struct id_at *)b)->id;
    return x < y ? -1 : x > y;
}

static size_t id_find(const struct id_at *v, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].id == id) return v[mid].i;
        if (v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

/* Sorts v and tells whether its ids are unique. */
static bool id_sort_unique(struct id_at *v, size_t n)
{
    qsort(v, n, sizeof *v, id_at_cmp);
    for (size_t i = 1; i < n; i++)
        if (v[i].id == v[i - 1].id) return false;
    return true;
}

#define ID_MAX INT64_MAX
#define COUNT_MAX ((int64_t)1 << 40)

static bool imp_conv(struct rg_http_req *r, const json_t *c, struct imp *im)
{
    static const char *const names[] = {
        "id",         "title",      "title_auto", "model",       "settings",    "folder",
        "tags",       "archived",   "pinned",     "active_leaf", "main_thread", "n_messages",
        "created_at", "updated_at", "type",       "type_auto",   NULL};
    if (!json_is_object(c)) {
        bad_field(r, "conversation", "must be an object");
        return false;
    }
    int64_t ignored;
    bool bad = false;
    if (!only_fields(r, c, names, "conversation") || !opt_int(r, c, "id", 0, ID_MAX, &ignored) ||
        !opt_int(r, c, "n_messages", 0, COUNT_MAX, &ignored) ||
        !opt_int(r, c, "active_leaf", 0, ID_MAX, &im->active_leaf) ||
        !opt_int(r, c, "main_thread", 0, ID_MAX, &im->main_thread) ||
        !opt_int(r, c, "created_at", 0, INT64_MAX, &im->created_at) ||
        !opt_int(r, c, "updated_at", 0, INT64_MAX, &im->updated_at))
        return false;
    im->title_auto = opt_bool(r, c, "title_auto", &bad);
    if (!bad) im->type_auto = opt_bool(r, c, "type_auto", &bad);
    if (bad) return false;
    json_t *tv = json_object_get(c, "type"); /* docs/memory.md */
    im->type = json_string_value(tv);
    if (tv && !json_is_null(tv) && !rg_db_mem_conv_type_valid(im->type)) {
        bad_field(r, "type", "must be reflective, analytical, practical or \"\"");
        return false;
    }
    if (!conv_fields(r, c, true, &im->conv)) return false;
    return true;
}

static bool imp_thread(struct rg_http_req *r, const json_t *t, struct imp_thread *it)
{
    static const char *const names[] = {"id",         "conversation_id", "title",
                                        "root_id",    "collapsed",       "summary_id",
                                        "n_messages", "created_at",      NULL};
    if (!json_is_object(t)) {
        bad_field(r, "threads", "must hold objects");
        return false;
    }
    int64_t ignored;
    bool bad = false;
    if (!only_fields(r, t, names, "threads[]")) return false;
    if (!(it->id = need_id(r, t, "id"))) return false;
    if (!opt_int(r, t, "conversation_id", 0, ID_MAX, &ignored) ||
        !opt_int(r, t, "root_id", 0, ID_MAX, &ignored) ||
        !opt_int(r, t, "n_messages", 0, COUNT_MAX, &ignored) ||
        !opt_int(r, t, "created_at", 0, INT64_MAX, &ignored) ||
        !opt_int(r, t, "summary_id", 0, ID_MAX, &it->summary))
        return false;
    it->title = opt_str(r, t, "title", RG_DB_CONV_TITLE_MAX, &bad);
    int collapsed = bad ? -1 : opt_bool(r, t, "collapsed", &bad);
    it->collapsed = collapsed == 1;
    return !bad;
}

static bool imp_msg(struct rg_http_req *r, const json_t *m, struct imp_msg *im)
{
    static const char *const names[] = {"id",
                                        "conversation_id",
                                        "thread_id",
                                        "parent_id",
                                        "type",
                                        "role",
                                        "content",
                                        "model",
                                        "settings",
                                        "finish",
                                        "incomplete",
                                        "prompt_tokens",
                                        "completion_tokens",
                                        "duration_ms",
                                        "created_at",
                                        "updated_at",
                                        "n_children",
                                        "siblings",
                                        "sibling_index",
                                        "rating",
                                        NULL};
    if (!json_is_object(m)) {
        bad_field(r, "messages", "must hold objects");
        return false;
    }
    int64_t ignored;
    bool bad = false;
    if (!only_fields(r, m, names, "messages[]")) return false;
    if (!(im->id = need_id(r, m, "id"))) return false;
    if (!opt_int(r, m, "conversation_id", 0, ID_MAX, &ignored) ||
        !opt_int(r, m, "parent_id", 0, ID_MAX, &im->parent) ||
        !opt_int(r, m, "thread_id", 0, ID_MAX, &im->thread) ||
        !opt_int(r, m, "prompt_tokens", 0, COUNT_MAX, &im->prompt_tokens) ||
        !opt_int(r, m, "completion_tokens", 0, COUNT_MAX, &im->completion_tokens) ||
        !opt_int(r, m, "duration_ms", 0, COUNT_MAX, &im->duration_ms) ||
        !opt_int(r, m, "created_at", 0, INT64_MAX, &im->created_at) ||
        !opt_int(r, m, "updated_at", 0, INT64_MAX, &im->updated_at) ||
        !opt_int(r, m, "n_children", 0, COUNT_MAX, &ignored) ||
        !opt_int(r, m, "sibling_index", 0, COUNT_MAX, &ignored))
        return false;
    json_t *sib = json_object_get(m, "siblings");
    if (sib && !json_is_null(sib) && !json_is_array(sib)) {
        bad_field(r, "siblings", "must be an array of ids");
        return false;
    }
    im->type = opt_str(r, m, "type", 15, &bad);
    if (!bad) im->role = opt_str(r, m, "role", 15, &bad);
    if (!bad) im->content = opt_text(r, m, "content", RG_DB_MSG_CONTENT_MAX, false, &bad);
    if (!bad) im->model = opt_str(r, m, "model", MODEL_MAX, &bad);
    if (!bad) im->finish = opt_str(r, m, "finish", 15, &bad);
    int inc = bad ? -1 : opt_bool(r, m, "incomplete", &bad);
    if (bad) return false;
    im->incomplete = inc == 1;
    if (!im->type || !rg_db_msg_type_valid(im->type)) {
        bad_field(r, "type", "must be one of " RG_DB_MSG_TYPES);
        return false;
    }
    static const char *const roles[] = {"user", "assistant", "system", "tool"};
    static const char *const finishes[] = {"", "stop", "length", "cancelled", "error"};
    bool ok = !im->role;
    for (size_t i = 0; !ok && i < RG_ARRAY_LEN(roles); i++)
        ok = !strcmp(im->role, roles[i]);
    if (!ok) {
        bad_field(r, "role", "must be user, assistant, system or tool");
        return false;
    }
    ok = !im->finish;
    for (size_t i = 0; !ok && i < RG_ARRAY_LEN(finishes); i++)
        ok = !strcmp(im->finish, finishes[i]);
    if (!ok) {
        bad_field(r, "finish", "must be stop, length, cancelled, error or \"\"");
        return false;
    }
    if (!im->content) im->content = "";
    im->rating = json_object_get(m, "rating");
    char rerr[RG_ERR_SIZE] = "";
    if (!rg_api_mem_rating_valid(im->rating, im->role ? im->role : im->type, im->content, rerr)) {
        rg_http_reply_error(r, 400, NULL, NULL, "rating", "%s", rerr);
        return false;
    }
    json_t *s = json_object_get(m, "settings");
    if (s && !json_is_null(s)) {
        /* a message's settings hold what its answer was made with (sampling,
         * tool calls): any object, within the size storage keeps */
        if (!json_is_object(s)) {
            bad_field(r, "settings", "must be an object");
            return false;
        }
        im->settings = json_dumps(s, JSON_COMPACT);
        if (!im->settings) {
            rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
            return false;
        }
        if (strlen(im->settings) > RG_DB_CONV_SETTINGS_MAX) {
            rg_http_reply_error(r, 400, NULL, NULL, "settings",
                                "a message's settings must be at most %d bytes of JSON",
                                RG_DB_CONV_SETTINGS_MAX);
            return false;
        }
    }
    return true;
}

/* Reads and checks the whole export; false with 400 (or 500) sent. */
static bool imp_parse(struct rg_http_req *r, const json_t *body, struct imp *im)
{
    static const char *const names[] = {"format",  "version",  "conversation",
                                        "threads", "messages", NULL};
    if (!only_fields(r, body, names, "body")) return false;
    json_t *fmt = json_object_get(body, "format"), *ver = json_object_get(body, "version");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), "rustygpt.conversation") != 0) {
        bad_field(r, "format", "must be \"rustygpt.conversation\"");
        return false;
    }
    if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
        bad_field(r, "version", "must be 1");
        return false;
    }
    json_t *th = json_object_get(body, "threads"), *ms = json_object_get(body, "messages");
    if ((th && !json_is_array(th)) || (ms && !json_is_array(ms))) {
        bad_field(r, th && !json_is_array(th) ? "threads" : "messages", "must be an array");
        return false;
    }
    if (!imp_conv(r, json_object_get(body, "conversation"), im)) return false;
    size_t nt = th ? json_array_size(th) : 0, nm = ms ? json_array_size(ms) : 0;
    if (nt > IMPORT_THREADS_MAX || nm > IMPORT_MSGS_MAX) {
        rg_http_reply_error(r, 400, NULL, NULL, nt > IMPORT_THREADS_MAX ? "threads" : "messages",
                            "at most %d threads and %d messages", IMPORT_THREADS_MAX,
                            IMPORT_MSGS_MAX);
        return false;
    }
    im->threads = rg_calloc(nt ? nt : 1, sizeof *im->threads);
    im->msgs = rg_calloc(nm ? nm : 1, sizeof *im->msgs);
    struct id_at *tid = rg_calloc(nt ? nt : 1, sizeof *tid);
    struct id_at *mid = rg_calloc(nm ? nm : 1, sizeof *mid);
    bool ok = im->threads && im->msgs && tid && mid;
    if (!ok) rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
    for (size_t i = 0; ok && i < nt; i++) {
        ok = imp_thread(r, json_array_get(th, i), &im->threads[i]);
        im->n_threads = i + 1;
        tid[i] = (struct id_at){im->threads[i].id, i};
    }
    for (size_t i = 0; ok && i < nm; i++) {
        ok = imp_msg(r, json_array_get(ms, i), &im->msgs[i]);
        im->n_msgs = i + 1;
        mid[i] = (struct id_at){im->msgs[i].id, i};
    }
    if (ok && (!id_sort_unique(tid, nt) || !id_sort_unique(mid, nm))) {
        rg_http_reply_error(r, 400, NULL, NULL, "id", "thread and message ids must be unique");
        ok = false;
    }
    /* the main thread: exported ones name it; a hand-made export may have none */
    if (ok && im->main_thread && nt && id_find(tid, nt, im->main_thread) == SIZE_MAX) {
        bad_field(r, "main_thread", "must be the id of one of the threads");
        ok = false;
    }
    /* children of each message (the last slot: roots), for the siblings cap */
    uint32_t *kids = ok ? rg_calloc(nm + 1, sizeof *kids) : NULL;
    if (ok && !kids) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        ok = false;
    }
    for (size_t i = 0; ok && i < nm; i++) {
        struct imp_msg *m = &im->msgs[i];
        m->parent_i = m->parent ? id_find(mid, nm, m->parent) : SIZE_MAX;
        if (m->parent && (m->parent_i == SIZE_MAX || m->parent_i >= i)) {
            rg_http_reply_error(r, 400, NULL, NULL, "parent_id",
                                "message %lld: its parent %lld is not earlier in the list",
                                (long long)m->id, (long long)m->parent);
            ok = false;
            break;
        }
        if (++kids[m->parent_i == SIZE_MAX ? nm : m->parent_i] > IMPORT_SIBLINGS_MAX) {
            rg_http_reply_error(r, 400, NULL, NULL, "parent_id",
                                "message %lld: at most %d versions of one turn (messages with "
                                "the same parent)",
                                (long long)m->id, IMPORT_SIBLINGS_MAX);
            ok = false;
            break;
        }
        m->thread_i = SIZE_MAX;
        if (m->thread && m->thread != im->main_thread) {
            m->thread_i = id_find(tid, nt, m->thread);
            if (m->thread_i == SIZE_MAX) {
                rg_http_reply_error(r, 400, NULL, NULL, "thread_id",
                                    "message %lld: thread %lld is not in threads", (long long)m->id,
                                    (long long)m->thread);
                ok = false;
            }
        }
    }
    for (size_t i = 0; ok && i < nt; i++) {
        struct imp_thread *t = &im->threads[i];
        t->summary_i = t->summary ? id_find(mid, nm, t->summary) : SIZE_MAX;
        if (t->summary && t->summary_i == SIZE_MAX) {
            bad_field(r, "summary_id", "must be the id of one of the messages");
            ok = false;
        }
    }
    im->leaf_i = im->active_leaf ? id_find(mid, nm, im->active_leaf) : SIZE_MAX;
    if (ok && im->active_leaf && im->leaf_i == SIZE_MAX) {
        bad_field(r, "active_leaf", "must be the id of one of the messages");
        ok = false;
    }
    rg_free(kids);
    rg_free(tid);
    rg_free(mid);
    return ok;
}

/* The new id of an exported thread: the main thread, one made already, or
 * 0 (it is made with its first message). */
static int64_t imp_thread_of(const struct imp *im, const struct imp_msg *m, int64_t main_thread)
{
    if (m->thread_i == SIZE_MAX) return main_thread;
    const struct imp_thread *t = &im->threads[m->thread_i];
    if (t->id == im->main_thread) return main_thread;
    return t->new_id;
}

/*
 * Makes what imp_parse read, in conversation cid (just created). Messages
 * go in list order (parents first); a thread other than the main one is
 * made when its first message arrives, by moving that message (a leaf then,
 * so nothing else moves) into a new thread. RG_OK or the storage error.
 */
static int imp_build(struct rg_db *db, int64_t user, struct imp *im, const struct rg_db_conv *c,
                     int64_t now, char *err)
{
    int rc = RG_OK;
    for (size_t i = 0; rc == RG_OK && i < im->n_msgs; i++) {
        struct imp_msg *m = &im->msgs[i];
        int64_t tid = imp_thread_of(im, m, c->main_thread);
        int64_t created = sane_time(m->created_at, now);
        struct rg_db_msg_new n = {.conv_id = c->id,
                                  .parent_id =
                                      m->parent_i == SIZE_MAX ? 0 : im->msgs[m->parent_i].new_id,
                                  .thread_id = tid,
                                  .type = m->type,
                                  .role = m->role,
                                  .content = m->content,
                                  .model = m->model,
                                  .settings = m->settings,
                                  .incomplete = m->incomplete,
                                  .set_active = false,
                                  .now = created};
        struct rg_db_msg out = {0};
        rc = rg_db_msg_add(db, user, &n, &out, err);
        m->new_id = out.id;
        rg_db_msg_clear(&out);
        if (rc == RG_OK && !tid) {
            struct imp_thread *t = &im->threads[m->thread_i];
            struct rg_db_thread nt = {0};
            rc = rg_db_msg_move(db, user, m->new_id, 0, t->title, created, &nt, err);
            t->new_id = nt.id;
        }
        if (rc == RG_OK && ((m->finish && *m->finish) || m->prompt_tokens || m->completion_tokens ||
                            m->duration_ms)) {
            struct rg_db_msg_end e = {.content = m->content,
                                      .finish = m->finish,
                                      .incomplete = m->incomplete,
                                      .prompt_tokens = m->prompt_tokens,
                                      .completion_tokens = m->completion_tokens,
                                      .duration_ms = m->duration_ms,
                                      .now = sane_time(m->updated_at, now)};
            rc = rg_db_msg_finish(db, user, m->new_id, &e, &out, err);
            rg_db_msg_clear(&out);
        }
    }
    for (size_t i = 0; rc == RG_OK && i < im->n_threads; i++) {
        struct imp_thread *t = &im->threads[i];
        bool main = t->id == im->main_thread;
        int64_t id = main ? c->main_thread : t->new_id;
        if (!id) continue; /* a thread without messages: nothing to keep it */
        int64_t summary = t->summary_i == SIZE_MAX ? -1 : im->msgs[t->summary_i].new_id;
        if (!main && !t->collapsed && summary < 0) continue; /* made as it was */
        struct rg_db_thread out = {0};
        rc = rg_db_thread_update(db, user, id, main ? t->title : NULL, t->collapsed ? 1 : -1,
                                 summary, &out, err);
    }
    if (rc == RG_OK && im->leaf_i != SIZE_MAX) {
        int64_t leaf = 0;
        rc = rg_db_conv_set_active(db, user, c->id, im->msgs[im->leaf_i].new_id, false, &leaf, err);
    }
    if (rc == RG_OK) {
        struct rg_db_conv_change ch = {.archived = im->conv.archived,
                                       .pinned = im->conv.pinned,
                                       .title_auto = im->title_auto,
                                       .now = sane_time(im->updated_at, now)};
        struct rg_db_conv out = {0};
        rc = rg_db_conv_update(db, user, c->id, &ch, &out, err);
        rg_db_conv_clear(&out);
    }
    return rc;
}

static void conv_import(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    struct imp im = {0};
    if (!imp_parse(r, body, &im)) {
        imp_free(&im);
        return;
    }
    int64_t now = now_ms();
    struct rg_db_conv_new n = {.owner_id = user,
                               .title = im.conv.title,
                               .model = im.conv.model,
                               .settings = im.conv.settings,
                               .folder = im.conv.folder,
                               .tags = im.conv.tags,
                               .now = sane_time(im.created_at, now)};
    struct rg_db_conv c = {0};
    char err[RG_ERR_SIZE] = "";
    int rc = rg_db_conv_create(st->db, &n, &c, err);
    if (rc) {
        imp_free(&im);
        rg_api_chat_db_fail(r, rc == RG_ENOTFOUND ? RG_EINTERNAL : rc, "conversation", err);
        return;
    }
    int64_t id = c.id;
    rc = imp_build(st->db, user, &im, &c, now, err);
    for (size_t i = 0; rc == RG_OK && i < im.n_msgs; i++) /* ratings and flags */
        rc = rg_api_mem_rating_import(st, user, im.msgs[i].new_id, im.msgs[i].rating, err);
    if (rc == RG_OK && im.type && *im.type) /* the type as it was, by hand or not */
        rc = rg_db_mem_conv_set_type(st->db, user, id, im.type, im.type_auto == 0, false, err);
    imp_free(&im);
    rg_db_conv_clear(&c);
    memset(&c, 0, sizeof c);
    if (rc == RG_OK) rc = rg_db_conv_get(st->db, user, id, &c, err);
    if (rc) {
        /* nothing half-made stays: the new conversation goes with what it got */
        char derr[RG_ERR_SIZE];
        if (rg_db_conv_delete(st->db, user, id, derr) != RG_OK)
            rg_log(RG_LOG_ERROR, "import: could not remove the half-made conversation", "error",
                   's', derr, RG_LOG_END);
        rg_db_conv_clear(&c);
        rg_api_chat_db_fail(r, rc == RG_ENOTFOUND ? RG_EINTERNAL : rc, "conversation", err);
        return;
    }
    reply_conv(r, 201, &c);
    rg_db_conv_clear(&c);
}

/* ---- route table ----------------------------------------------------------------- */

#define INT "{\"type\":\"integer\"}"
#define STR "{\"type\":\"string\"}"
#define BOOL "{\"type\":\"boolean\"}"
#define SETTINGS_SCHEMA                                                                            \
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"system\":" STR          \
    ",\"temperature\":{\"type\":\"number\",\"minimum\":0,\"maximum\":2},\"top_p\":{\"type\":"      \
    "\"number\",\"minimum\":0,\"maximum\":1},\"top_k\":{\"type\":\"integer\",\"minimum\":0},"      \
    "\"max_tokens\":{\"type\":\"integer\",\"minimum\":1},\"seed\":" INT                            \
    ",\"collections\":{\"type\":\"array\",\"maxItems\":16,\"items\":{\"type\":\"integer\","        \
    "\"minimum\":1}}}}"
#define TAGS_SCHEMA "{\"type\":\"array\",\"maxItems\":16,\"items\":{\"type\":\"string\"}}"
#define CONV_PROPS                                                                                 \
    "\"id\":" INT ",\"title\":" STR ",\"title_auto\":" BOOL ",\"model\":" STR                      \
    ",\"settings\":" SETTINGS_SCHEMA ",\"folder\":" STR ",\"tags\":" TAGS_SCHEMA                   \
    ",\"archived\":" BOOL ",\"pinned\":" BOOL ",\"active_leaf\":" INT ",\"main_thread\":" INT      \
    ",\"n_messages\":" INT ",\"created_at\":{\"type\":\"integer\",\"description\":\"Unix "         \
    "milliseconds, as every time here\"},\"updated_at\":" INT                                      \
    ",\"type\":{\"enum\":[\"reflective\","                                                         \
    "\"analytical\",\"practical\",\"\"]},\"type_auto\":" BOOL
#define CONV_SCHEMA "{\"type\":\"object\",\"properties\":{" CONV_PROPS "}}"
#define MSG_SCHEMA                                                                                 \
    "{\"type\":\"object\",\"properties\":{\"id\":" INT ",\"conversation_id\":" INT                 \
    ",\"thread_id\":" INT ",\"parent_id\":{\"type\":\"integer\",\"description\":\"0: a root\"},"   \
    "\"type\":{\"enum\":[\"user\",\"assistant\",\"system\",\"tool\",\"summary\",\"note\"]},"       \
    "\"role\":{\"enum\":[\"user\",\"assistant\",\"system\",\"tool\"]},\"content\":" STR            \
    ",\"model\":" STR ",\"settings\":{\"type\":\"object\"},\"finish\":{\"enum\":[\"stop\","        \
    "\"length\",\"cancelled\",\"error\",\"\"]},\"incomplete\":" BOOL ",\"prompt_tokens\":" INT     \
    ",\"completion_tokens\":" INT ",\"duration_ms\":" INT ",\"created_at\":" INT                   \
    ",\"updated_at\":" INT ",\"n_children\":" INT                                                  \
    ",\"siblings\":{\"type\":\"array\",\"items\":" INT                                             \
    ",\"description\":\"the versions of this turn (same parent), oldest first\"},"                 \
    "\"sibling_index\":" INT ",\"rating\":{\"type\":[\"object\",\"null\"],\"description\":"        \
    "\"confidence, thumbs, flags, updated_at (docs/memory.md)\"}}}"
#define THREAD_SCHEMA                                                                              \
    "{\"type\":\"object\",\"properties\":{\"id\":" INT ",\"conversation_id\":" INT                 \
    ",\"title\":" STR ",\"root_id\":" INT ",\"collapsed\":" BOOL ",\"summary_id\":" INT            \
    ",\"n_messages\":" INT ",\"created_at\":" INT "}}"
#define IDS "{\"type\":\"array\",\"items\":" INT "}"
#define CONV_FULL_SCHEMA                                                                           \
    "{\"type\":\"object\",\"properties\":{" CONV_PROPS ",\"messages\":{\"type\":\"array\","        \
    "\"items\":" MSG_SCHEMA "},\"branch\":" IDS                                                    \
    ",\"threads\":{\"type\":\"array\",\"items\":" THREAD_SCHEMA "}}}"
#define LIST_SCHEMA                                                                                \
    "{\"type\":\"object\",\"properties\":{\"data\":{\"type\":\"array\",\"items\":{\"type\":"       \
    "\"object\",\"properties\":{" CONV_PROPS ",\"match\":{\"type\":\"object\",\"description\":"    \
    "\"with q only\",\"properties\":{\"message_id\":{\"type\":\"integer\",\"description\":\"0: "   \
    "the title matched\"},\"snippet\":" STR "}}}}},\"has_more\":" BOOL "}}"
#define CONV_NEW_SCHEMA                                                                            \
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"title\":{\"type\":"     \
    "\"string\",\"maxLength\":200},\"model\":" STR ",\"settings\":" SETTINGS_SCHEMA                \
    ",\"folder\":" STR ",\"tags\":" TAGS_SCHEMA "}}"
#define CONV_PATCH_SCHEMA                                                                          \
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"title\":{\"type\":"     \
    "\"string\",\"maxLength\":200,\"description\":\"\\\"\\\": untitled again (the title job may "  \
    "name it)\"},\"model\":" STR ",\"settings\":" SETTINGS_SCHEMA ",\"folder\":" STR               \
    ",\"tags\":" TAGS_SCHEMA ",\"archived\":" BOOL ",\"pinned\":" BOOL                             \
    ",\"type\":{\"enum\":[\"reflective\",\"analytical\",\"practical\",\"\"],\"description\":"      \
    "\"set by hand (never reclassified); \\\"\\\": back to the classifier\"}}}"
#define EXPORT_SCHEMA                                                                              \
    "{\"type\":\"object\",\"required\":[\"format\",\"version\",\"conversation\"],"                 \
    "\"properties\":{\"format\":{\"const\":\"rustygpt.conversation\"},\"version\":{\"const\":1},"  \
    "\"conversation\":" CONV_SCHEMA ",\"threads\":{\"type\":\"array\",\"items\":" THREAD_SCHEMA    \
    "},\"messages\":{\"type\":\"array\",\"description\":\"each parent earlier in the list\","      \
    "\"items\":" MSG_SCHEMA "}}}"

size_t rg_api_chat_store_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const struct rg_route routes[] = {
        {RG_HTTP_POST, "/chat/conversations", conv_create, st, RG_ROLE_USER, 0, "chat",
         "A new conversation (201), empty but for its main thread", CONV_NEW_SCHEMA, CONV_SCHEMA},
        {RG_HTTP_GET, "/chat/conversations", conv_list, st, RG_ROLE_READONLY, 0, "chat",
         "Your conversations, pinned first then most recently updated: ?q= (full-text, every "
         "word), folder=, tag=, type=, archived=0|1|all, limit=1..200 (50), offset=",
         NULL, LIST_SCHEMA},
        {RG_HTTP_GET, "/chat/conversations/{id}", conv_get, st, RG_ROLE_READONLY, 0, "chat",
         "A conversation with its messages (?view=tree: all, oldest first; ?view=branch: the "
         "active path), the active branch's ids and its threads",
         NULL, CONV_FULL_SCHEMA},
        {RG_HTTP_PATCH, "/chat/conversations/{id}", conv_patch, st, RG_ROLE_USER, 0, "chat",
         "Rename, move, tag, archive or pin a conversation, or change its settings",
         CONV_PATCH_SCHEMA, CONV_SCHEMA},
        {RG_HTTP_DELETE, "/chat/conversations/{id}", conv_delete, st, RG_ROLE_USER, 0, "chat",
         "Delete a conversation with all its messages and threads (204)", NULL, NULL},
        {RG_HTTP_POST, "/chat/conversations/{id}/active", conv_active, st, RG_ROLE_USER, 0, "chat",
         "Show another version: the message and then its newest answers down to a leaf "
         "become the active branch",
         "{\"type\":\"object\",\"required\":[\"message_id\"],\"additionalProperties\":false,"
         "\"properties\":{\"message_id\":" INT "}}",
         "{\"type\":\"object\",\"properties\":{\"active_leaf\":" INT ",\"branch\":" IDS "}}"},
        {RG_HTTP_DELETE, "/chat/messages/{id}", msg_delete, st, RG_ROLE_USER, 0, "chat",
         "Delete a message and every message after it in its subtree (204)", NULL, NULL},
        {RG_HTTP_POST, "/chat/messages/{id}/move", msg_move, st, RG_ROLE_USER, 0, "chat",
         "Move a message and its subtree into a thread of the conversation, or into a new one",
         "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"thread_id\":" INT
         ",\"new_thread\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
         "\"title\":" STR "}}},\"oneOf\":[{\"required\":[\"thread_id\"]},{\"required\":["
         "\"new_thread\"]}]}",
         THREAD_SCHEMA},
        {RG_HTTP_PATCH, "/chat/threads/{id}", thread_patch, st, RG_ROLE_USER, 0, "chat",
         "Rename, collapse or expand a thread",
         "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"title\":" STR
         ",\"collapsed\":" BOOL "}}",
         THREAD_SCHEMA},
        {RG_HTTP_GET, "/chat/conversations/{id}/export", conv_export, st, RG_ROLE_READONLY, 0,
         "chat",
         "The conversation with every message (?format=json, the import shape) or its active "
         "branch as a Markdown file (?format=markdown)",
         NULL, EXPORT_SCHEMA},
        {RG_HTTP_POST, "/chat/import", conv_import, st, RG_ROLE_USER, 0, "chat",
         "A new conversation from an export (201): the tree, threads and active branch as "
         "exported, new ids; nothing is created when any part is refused",
         EXPORT_SCHEMA, CONV_SCHEMA},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n;
}
