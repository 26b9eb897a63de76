/*
 * /library/... and /search: the knowledge library over src/index/library.h
 * (docs/library.md). Thin handlers: parse, call the library or the storage
 * layer with the caller as the acting user (another user's ids are 404,
 * exactly as missing ones; a shared collection is readable by everyone and
 * writable by its owner only: 403), reply.
 *
 *   GET    /library/status                       counts, embedding model, what is missing
 *   GET    /library/collections                  own and shared collections
 *   POST   /library/collections                  {name, description, shared (admin)}
 *   GET    /library/collections/{id}
 *   PATCH  /library/collections/{id}             {name, description, shared}
 *   DELETE /library/collections/{id}
 *   GET    /library/folders                      (admin) watched folders
 *   POST   /library/folders                      (admin) {path, collection_id}
 *   DELETE /library/folders/{id}                 (admin)
 *   POST   /library/folders/{id}/scan            (admin) catch up now
 *   GET    /library/documents                    ?collection= &folder= &state= &tag= &limit=
 * &offset= POST   /library/documents                    upload: multipart/form-data (a "file" part;
 *                                                "collection", "tags" fields) or a raw body
 *                                                with ?name= (&collection= &tags=)
 *   GET    /library/documents/{id}               with state, progress, error
 *   PATCH  /library/documents/{id}               {tags, reindex}
 *   DELETE /library/documents/{id}
 *   GET    /library/documents/{id}/chunks        ?from= &limit=
 *   GET    /library/chunks/{id}                  a passage with ?context=N neighbours each side
 *   GET    /search                               ?q= &mode= &collections=1,2 &document= &tag=
 *                                                &language= &limit=
 *
 * The library itself (one per server) lives here too: opened with the job
 * queue (its kinds), started after it, its embedder the engine's
 * --embedding-model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "api/api_jobs.h"
#include "api/chat_internal.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/str.h"
#include "index/library.h"
#include "jobs/jobs.h"

struct rg_api_library {
    struct rg_library *lib;
    struct rg_library_engine le;
    struct rg_library_embedder emb;
};

static struct rg_library *LIB(struct rg_api_state *st)
{
    return st->library ? st->library->lib : NULL;
}

struct rg_library *rg_api_library_get(struct rg_api_state *st)
{
    return LIB(st);
}

const struct rg_library_embedder *rg_api_embedder(struct rg_api_state *st)
{
    return st->library && st->library->emb.hold ? &st->library->emb : NULL;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the library's life ---------------------------------------------------------- */

int rg_api_library_open(struct rg_api_state *st, char *err)
{
    struct rg_api_library *al = rg_calloc(1, sizeof *al);
    if (!al) return rg_err_set(err, RG_ENOMEM, "out of memory");
    struct rg_library_params p;
    rg_library_default_params(&p);
    p.db = st->db;
    p.jobs = st->jobs;
    p.data_dir = st->cfg->data_dir;
    p.folders = (const char *const *)st->cfg->library.v;
    p.n_folders = st->cfg->library.n;
    p.watch = true;
    const char *deb = getenv("RUSTYGPT_TEST_DEBOUNCE_MS"); /* tests: a shorter quiet time */
    int64_t ms;
    if (deb && rg_parse_i64(deb, 1, 600000, &ms) == RG_OK) p.debounce_ms = (int)ms;
    const char *test = getenv("RUSTYGPT_TEST_ROUTES");
    if (st->cfg->embedding_model && !strcmp(st->cfg->embedding_model, RG_HASH_EMBED_MODEL) &&
        test && !strcmp(test, "1")) {
        rg_hash_embedder(&al->emb); /* tests: deterministic vectors, no model */
        p.embedder = &al->emb;
    } else if (st->cfg->embedding_model && st->cfg->embedding_model[0]) {
        /* the engine opens after the queue: rg_api_library_start sets it */
        rg_library_engine_embedder(&al->le, NULL, st->cfg->embedding_model, &al->emb);
        p.embedder = &al->emb;
    }
    al->lib = rg_library_new(&p, err);
    if (!al->lib) {
        rg_free(al);
        return RG_EINVAL;
    }
    st->library = al;
    return RG_OK;
}

int rg_api_library_start(struct rg_api_state *st, char *err)
{
    if (!st->library) return RG_OK;
    st->library->le.engine = st->engine;
    if (!rg_library_model(st->library->lib))
        rg_log(RG_LOG_INFO,
               "library: no embedding model, full-text search only (set "
               "--embedding-model)",
               RG_LOG_END);
    return rg_library_start(st->library->lib, err);
}

void rg_api_library_stop(struct rg_api_state *st)
{
    if (st->library) rg_library_stop(st->library->lib);
}

void rg_api_library_close(struct rg_api_state *st)
{
    if (!st->library) return;
    rg_library_free(st->library->lib);
    rg_free(st->library);
    st->library = NULL;
}

/* ---- shapes ------------------------------------------------------------------------ */

static json_t *str_json(const char *s)
{
    return rg_api_json_text(s ? s : "", s ? strlen(s) : 0);
}

static json_t *tags_json(const char *tags)
{
    json_t *a = json_array();
    for (const char *p = tags; a && p && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n) json_array_append_new(a, json_stringn(p, n));
        p = e ? e + 1 : p + n;
    }
    return a;
}

static json_t *collection_json(const struct rg_db_collection *c, int64_t user)
{
    return json_pack("{s:I, s:o, s:o, s:b, s:b, s:I, s:I, s:I}", "id", (json_int_t)c->id, "name",
                     str_json(c->name), "description", str_json(c->description), "shared",
                     (int)c->shared, "own", c->owner_id == user, "documents",
                     (json_int_t)c->n_documents, "created_at", (json_int_t)c->created_at,
                     "updated_at", (json_int_t)c->updated_at);
}

json_t *rg_api_library_document_json(const struct rg_db_document *d, int64_t user)
{
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:I, s:I, s:s, s:f, "
        "s:o, s:I, s:o, s:b, s:I, s:I}",
        "id", (json_int_t)d->id, "collection_id", (json_int_t)d->collection_id, "folder_id",
        (json_int_t)d->folder_id, "source", str_json(d->source), "format", d->format, "title",
        str_json(d->title), "authors", str_json(d->authors), "language", str_json(d->language),
        "identifier", str_json(d->identifier), "encoding", str_json(d->encoding), "tags",
        tags_json(d->tags), "content_hash", d->content_hash, "size", (json_int_t)d->size, "mtime",
        (json_int_t)d->mtime, "state", rg_db_doc_state_name(d->state), "progress", d->progress,
        "error", str_json(d->error), "chunks", (json_int_t)d->n_chunks, "embedding_model",
        d->embed_model[0] ? str_json(d->embed_model) : json_null(), "own", d->owner_id == user,
        "created_at", (json_int_t)d->created_at, "updated_at", (json_int_t)d->updated_at);
    return o;
}

static json_t *folder_json(const struct rg_db_lib_folder *f)
{
    return json_pack("{s:I, s:I, s:I, s:o, s:I}", "id", (json_int_t)f->id, "owner_id",
                     (json_int_t)f->owner_id, "collection_id", (json_int_t)f->collection_id, "path",
                     str_json(f->path), "created_at", (json_int_t)f->created_at);
}

static json_t *location_json(const char *heading, const char *section, int page_from, int page_to,
                             const char *part, int64_t byte_from, int64_t byte_to, int ordinal)
{
    return json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:i}", "heading", str_json(heading), "section",
        str_json(section), "page_from", page_from > 0 ? json_integer(page_from) : json_null(),
        "page_to", page_to > 0 ? json_integer(page_to) : json_null(), "part", str_json(part),
        "byte_from", (json_int_t)byte_from, "byte_to", (json_int_t)byte_to, "ordinal", ordinal);
}

static json_t *chunk_json(const struct rg_db_chunk *c)
{
    return json_pack("{s:I, s:I, s:o, s:o, s:i, s:o}", "id", (json_int_t)c->id, "document_id",
                     (json_int_t)c->doc_id, "text", str_json(c->text), "location",
                     location_json(c->heading, c->section, c->page_from, c->page_to, c->part,
                                   c->byte_from, c->byte_to, c->ordinal),
                     "tokens", c->tokens, "embedding_model",
                     c->embed_model[0] ? str_json(c->embed_model) : json_null());
}

/* A snippet as HTML: the text escaped, the database's marks as <mark>. */
static json_t *snippet_html(const char *s)
{
    struct rg_buf b;
    rg_buf_init(&b, 8 * RG_DB_LIB_SNIPPET_MAX + 64);
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '&': rg_buf_append_str(&b, "&amp;"); break;
        case '<': rg_buf_append_str(&b, "&lt;"); break;
        case '>': rg_buf_append_str(&b, "&gt;"); break;
        case '"': rg_buf_append_str(&b, "&quot;"); break;
        case '\'': rg_buf_append_str(&b, "&#39;"); break;
        case '\x02': rg_buf_append_str(&b, "<mark>"); break;
        case '\x03': rg_buf_append_str(&b, "</mark>"); break;
        default: rg_buf_append_char(&b, *p);
        }
    }
    json_t *o = rg_api_json_text(b.data ? b.data : "", b.len);
    rg_buf_free(&b);
    return o;
}

json_t *rg_api_library_results_json(const struct rg_search_result *res, int asked)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < res->n; i++) {
        const struct rg_search_hit *h = &res->hits[i];
        const struct rg_db_chunk_hit *c = &h->c;
        json_t *o = json_pack(
            "{s:I, s:I, s:I, s:f, s:o, s:o, s:o, s:o, s:o, s:o}", "chunk_id",
            (json_int_t)c->chunk_id, "document_id", (json_int_t)c->doc_id, "collection_id",
            (json_int_t)c->collection_id, "score", h->score, "title", str_json(c->title), "source",
            str_json(c->source), "snippet", snippet_html(c->snippet), "location",
            location_json(c->heading, c->section, c->page_from, c->page_to, c->part, c->byte_from,
                          c->byte_to, c->ordinal),
            "rank_fulltext", h->rank_fts ? json_integer(h->rank_fts) : json_null(), "rank_vector",
            h->rank_vec ? json_integer(h->rank_vec) : json_null());
        if (o && h->rank_vec) json_object_set_new(o, "cosine", json_real(h->cosine));
        json_array_append_new(a, o);
    }
    return json_pack("{s:s, s:s, s:b, s:I, s:I, s:o}", "mode", rg_search_mode_name(res->mode),
                     "asked", rg_search_mode_name((enum rg_search_mode)asked), "degraded",
                     (int)res->degraded, "fulltext_hits", (json_int_t)res->n_fts, "vector_hits",
                     (json_int_t)res->n_vec, "results", a ? a : json_array());
}

/* ---- helpers ----------------------------------------------------------------------- */

static void db_fail(struct rg_http_req *r, int rc, const char *what, const char *err)
{
    if (rc == RG_EPERM) {
        rg_http_reply_error(r, 403, NULL, "forbidden", NULL, "%s",
                            err && *err ? err : "a shared item is read-only");
        return;
    }
    if (rc == RG_EEXISTS) {
        rg_http_reply_error(r, 409, NULL, "conflict", NULL, "%s", err && *err ? err : "exists");
        return;
    }
    if (rc == RG_ETOOBIG) {
        rg_http_reply_error(r, 413, NULL, "too_large", NULL, "%s", err);
        return;
    }
    if (rc == RG_EUNSUPPORTED) {
        rg_http_reply_error(r, 400, NULL, "unsupported", NULL, "%s", err);
        return;
    }
    rg_api_chat_db_fail(r, rc, what, err);
}

static int64_t path_id(struct rg_http_req *r, const char *name)
{
    int64_t id = 0;
    if (rg_parse_i64(rg_http_req_param(r, name), 1, INT64_MAX, &id) != RG_OK) {
        rg_http_reply_error(r, 404, NULL, "not_found", NULL, "no such %s", name);
        return 0;
    }
    return id;
}

/* An optional integer query parameter in [min, max]; false (replied 400) when bad. */
static bool query_int(struct rg_http_req *r, const char *name, int64_t min, int64_t max,
                      int64_t *out)
{
    const char *v = rg_http_req_query(r, name);
    if (!v || !*v) return true;
    if (rg_parse_i64(v, min, max, out) != RG_OK) {
        rg_http_reply_error(r, 400, NULL, NULL, name, "'%s' must be an integer %lld..%lld", name,
                            (long long)min, (long long)max);
        return false;
    }
    return true;
}

static bool is_admin(struct rg_http_req *r)
{
    return rg_http_req_principal(r)->role >= RG_ROLE_ADMIN;
}

/* ---- status ------------------------------------------------------------------------ */

static void status(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    json_t *o = rg_library_status(LIB(st), user);
    if (!o) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return;
    }
    rg_http_reply_json(r, 200, o);
}

/* ---- collections ------------------------------------------------------------------- */

static void collections_list(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    struct rg_db_collection *cs = NULL;
    size_t n = 0;
    char err[RG_ERR_SIZE];
    int rc = rg_db_collection_list(st->db, user, &cs, &n, err);
    if (rc) {
        db_fail(r, rc, "collection", err);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, collection_json(&cs[i], user));
    rg_free(cs);
    rg_http_reply_json(r, 200, json_pack("{s:o}", "collections", a ? a : json_array()));
}

static bool check_fields(struct rg_http_req *r, json_t *body, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            ok |= !strcmp(*a, key);
        if (!ok) {
            rg_http_reply_error(r, 400, NULL, NULL, key, "unknown field '%.40s'", key);
            return false;
        }
    }
    return true;
}

static void collections_create(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    static const char *const fields[] = {"name", "description", "shared", NULL};
    if (!check_fields(r, body, fields)) return;
    json_t *name = json_object_get(body, "name"), *desc = json_object_get(body, "description"),
           *shared = json_object_get(body, "shared");
    if (!json_is_string(name) || (desc && !json_is_string(desc) && !json_is_null(desc)) ||
        (shared && !json_is_boolean(shared))) {
        rg_http_reply_error(r, 400, NULL, NULL, NULL,
                            "'name' must be a string, 'description' a string, 'shared' a boolean");
        return;
    }
    if (json_is_true(shared) && !is_admin(r)) {
        rg_http_reply_error(r, 403, NULL, "forbidden", "shared",
                            "only an admin publishes a "
                            "shared collection");
        return;
    }
    struct rg_db_collection_new n = {.owner_id = user,
                                     .name = json_string_value(name),
                                     .description = json_string_value(desc),
                                     .shared = json_is_true(shared),
                                     .now = now_ms()};
    struct rg_db_collection c;
    char err[RG_ERR_SIZE];
    int rc = rg_db_collection_create(st->db, &n, &c, err);
    if (rc) {
        db_fail(r, rc, "collection", err);
        return;
    }
    rg_http_reply_json(r, 201, collection_json(&c, user));
}

static void collection_one(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    int64_t id = path_id(r, "id");
    if (!id) return;
    struct rg_db_collection c;
    char err[RG_ERR_SIZE];
    int rc = RG_OK;
    enum rg_http_method m = rg_http_req_method(r);
    if (m != RG_HTTP_GET && m != RG_HTTP_HEAD && rg_http_req_principal(r)->role < RG_ROLE_USER) {
        rg_http_reply_error(r, 403, NULL, "forbidden", NULL, "a readonly account changes nothing");
        return;
    }
    if (m == RG_HTTP_DELETE) {
        rc = rg_db_collection_delete(st->db, user, id, err);
        if (rc)
            db_fail(r, rc, "collection", err);
        else
            rg_http_reply(r, 204, NULL, NULL, 0);
        return;
    }
    if (m == RG_HTTP_PATCH) {
        json_t *body = rg_http_req_json(r);
        if (!body) return;
        static const char *const fields[] = {"name", "description", "shared", NULL};
        if (!check_fields(r, body, fields)) return;
        json_t *name = json_object_get(body, "name"), *desc = json_object_get(body, "description"),
               *shared = json_object_get(body, "shared");
        if ((name && !json_is_string(name)) || (desc && !json_is_string(desc)) ||
            (shared && !json_is_boolean(shared))) {
            rg_http_reply_error(r, 400, NULL, NULL, NULL,
                                "'name' and 'description' must be strings, 'shared' a boolean");
            return;
        }
        if (shared && !is_admin(r)) {
            rg_http_reply_error(r, 403, NULL, "forbidden", "shared",
                                "only an admin publishes or withdraws a shared collection");
            return;
        }
        struct rg_db_collection_change ch = {.name = json_string_value(name),
                                             .description = json_string_value(desc),
                                             .shared = shared ? json_is_true(shared) : -1,
                                             .now = now_ms()};
        rc = rg_db_collection_update(st->db, user, id, &ch, &c, err);
    } else {
        rc = rg_db_collection_get(st->db, user, id, &c, err);
    }
    if (rc) {
        db_fail(r, rc, "collection", err);
        return;
    }
    rg_http_reply_json(r, 200, collection_json(&c, user));
}

/* ---- folders (admin) --------------------------------------------------------------- */

static void folders_list(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    struct rg_db_lib_folder *fs = NULL;
    size_t n = 0;
    char err[RG_ERR_SIZE];
    int rc = rg_db_lib_folder_list(st->db, user, &fs, &n, err);
    if (rc) {
        db_fail(r, rc, "folder", err);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, folder_json(&fs[i]));
    rg_free(fs);
    rg_http_reply_json(r, 200, json_pack("{s:o}", "folders", a ? a : json_array()));
}

static void folders_add(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    static const char *const fields[] = {"path", "collection_id", NULL};
    if (!check_fields(r, body, fields)) return;
    json_t *path = json_object_get(body, "path"), *col = json_object_get(body, "collection_id");
    if (!json_is_string(path) || (col && !json_is_integer(col))) {
        rg_http_reply_error(r, 400, NULL, NULL, "path",
                            "'path' must be a string, 'collection_id' an integer");
        return;
    }
    struct rg_db_lib_folder f;
    char err[RG_ERR_SIZE];
    int rc = rg_library_folder_add(LIB(st), user, json_string_value(path),
                                   col ? json_integer_value(col) : 0, &f, err);
    if (rc == RG_ENOTFOUND) {
        rg_http_reply_error(r, 400, NULL, NULL, "path", "%s", err);
        return;
    }
    if (rc) {
        db_fail(r, rc, "folder", err);
        return;
    }
    rg_http_reply_json(r, 201, folder_json(&f));
}

static void folder_remove(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    int64_t id = path_id(r, "id");
    if (!id) return;
    char err[RG_ERR_SIZE];
    int rc = rg_library_folder_remove(LIB(st), user, id, err);
    if (rc)
        db_fail(r, rc, "folder", err);
    else
        rg_http_reply(r, 204, NULL, NULL, 0);
}

static void folder_scan(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    int64_t id = path_id(r, "id");
    if (!id) return;
    size_t changed = 0;
    char err[RG_ERR_SIZE];
    int rc = rg_library_folder_scan(LIB(st), user, id, &changed, err);
    if (rc)
        db_fail(r, rc, "folder", err);
    else
        rg_http_reply_json(r, 200, json_pack("{s:I}", "changed", (json_int_t)changed));
}

/* ---- documents --------------------------------------------------------------------- */

static void documents_list(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    int64_t col = 0, folder = 0, limit = 100, offset = 0;
    if (!query_int(r, "collection", 1, INT64_MAX, &col) ||
        !query_int(r, "folder", -1, INT64_MAX, &folder) ||
        !query_int(r, "limit", 1, 1000, &limit) || !query_int(r, "offset", 0, 100000000, &offset))
        return;
    int state = -1;
    const char *sv = rg_http_req_query(r, "state");
    if (sv && *sv && (state = rg_db_doc_state_parse(sv)) < 0) {
        rg_http_reply_error(r, 400, NULL, NULL, "state",
                            "'state' must be queued, indexing, ready or error");
        return;
    }
    const char *tag = rg_http_req_query(r, "tag");
    struct rg_db_doc_filter f = {.collection_id = col,
                                 .folder_id = folder,
                                 .state = state,
                                 .tag = tag && *tag ? tag : NULL,
                                 .limit = (int)limit,
                                 .offset = (int)offset};
    struct rg_db_document *ds = NULL;
    size_t n = 0;
    bool more = false;
    char err[RG_ERR_SIZE];
    int rc = rg_db_doc_list(st->db, user, &f, &ds, &n, &more, err);
    if (rc) {
        db_fail(r, rc, "document", err);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, rg_api_library_document_json(&ds[i], user));
    rg_free(ds);
    rg_http_reply_json(
        r, 200, json_pack("{s:o, s:b}", "documents", a ? a : json_array(), "more", (int)more));
}

/* The first part of a multipart/form-data body named name: its bytes, and
 * its filename when it has one. false when there is none. */
static bool form_part(const char *body, size_t len, const char *boundary, const char *name,
                      const char **data, size_t *dlen, char *filename, size_t fsize)
{
    char delim[256];
    int dl = snprintf(delim, sizeof delim, "--%s", boundary);
    if (dl <= 2 || dl >= (int)sizeof delim) return false;
    const char *end = body + len;
    const char *p = memmem(body, len, delim, (size_t)dl);
    while (p) {
        p += dl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') return false; /* the last one */
        const char *hdr_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hdr_end) return false;
        const char *content = hdr_end + 4;
        const char *next = memmem(content, (size_t)(end - content), delim, (size_t)dl);
        if (!next) return false;
        size_t clen = (size_t)(next - content);
        if (clen >= 2 && content[clen - 2] == '\r' && content[clen - 1] == '\n') clen -= 2;
        /* the headers: Content-Disposition: form-data; name="x"; filename="y" */
        char hdrs[2048];
        size_t hl = RG_MIN((size_t)(hdr_end - p), sizeof hdrs - 1);
        memcpy(hdrs, p, hl);
        hdrs[hl] = '\0';
        char want[160];
        snprintf(want, sizeof want, "name=\"%s\"", name);
        const char *at = strstr(hdrs, want);
        if (at && (at == hdrs || at[-1] == ' ' || at[-1] == ';')) {
            *data = content;
            *dlen = clen;
            if (filename && fsize) {
                filename[0] = '\0';
                const char *fn = strstr(hdrs, "filename=\"");
                if (fn) {
                    fn += 10;
                    const char *q = strchr(fn, '"');
                    size_t n = q ? (size_t)(q - fn) : 0;
                    if (n >= fsize) n = fsize - 1;
                    memcpy(filename, fn, n);
                    filename[n] = '\0';
                }
            }
            return true;
        }
        p = next;
    }
    return false;
}

static void documents_upload(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    size_t len = 0;
    const char *body = rg_http_req_body(r, &len);
    const char *ct = rg_http_req_header(r, "Content-Type");
    const char *data = body;
    size_t dlen = len;
    char name[512] = "", colv[32] = "", tags[1024] = "";
    const char *qn = rg_http_req_query(r, "name");
    if (qn) rg_strlcpy(name, qn, sizeof name);
    const char *qc = rg_http_req_query(r, "collection");
    if (qc) rg_strlcpy(colv, qc, sizeof colv);
    const char *qt = rg_http_req_query(r, "tags");
    if (qt) rg_strlcpy(tags, qt, sizeof tags);
    if (ct && !strncasecmp(ct, "multipart/form-data", 19)) {
        const char *b = strstr(ct, "boundary=");
        char boundary[200] = "";
        if (b) {
            b += 9;
            if (*b == '"') b++;
            size_t n = strcspn(b, "\";");
            if (n < sizeof boundary) {
                memcpy(boundary, b, n);
                boundary[n] = '\0';
            }
        }
        char fname[512] = "";
        if (!boundary[0] || !body ||
            !form_part(body, len, boundary, "file", &data, &dlen, fname, sizeof fname)) {
            rg_http_reply_error(r, 400, NULL, NULL, "file",
                                "a multipart upload needs a part named \"file\"");
            return;
        }
        if (fname[0]) rg_strlcpy(name, fname, sizeof name);
        const char *v;
        size_t vl;
        if (form_part(body, len, boundary, "collection", &v, &vl, NULL, 0) && vl < sizeof colv) {
            memcpy(colv, v, vl);
            colv[vl] = '\0';
        }
        if (form_part(body, len, boundary, "tags", &v, &vl, NULL, 0) && vl < sizeof tags) {
            memcpy(tags, v, vl);
            tags[vl] = '\0';
        }
        if (form_part(body, len, boundary, "name", &v, &vl, NULL, 0) && vl < sizeof name) {
            memcpy(name, v, vl);
            name[vl] = '\0';
        }
    }
    if (!name[0]) {
        rg_http_reply_error(r, 400, NULL, NULL, "name",
                            "name the file: ?name=FILE, or a multipart part with a filename");
        return;
    }
    if (!data || !dlen) {
        rg_http_reply_error(r, 400, NULL, NULL, "file", "the file is empty");
        return;
    }
    int64_t col = 0;
    char err[RG_ERR_SIZE];
    if (colv[0] && rg_parse_i64(colv, 1, INT64_MAX, &col) != RG_OK) {
        rg_http_reply_error(r, 400, NULL, NULL, "collection", "'collection' must be an id");
        return;
    }
    int rc = col ? RG_OK : rg_library_collection_named(LIB(st), user, "Uploads", &col, err);
    if (rc) {
        db_fail(r, rc, "collection", err);
        return;
    }
    struct rg_db_document d;
    int64_t job = 0;
    rc = rg_library_upload(LIB(st), user, col, name, data, dlen, tags[0] ? tags : NULL, &d, &job,
                           err);
    if (rc == RG_ENOTFOUND) {
        rg_http_reply_error(r, 404, NULL, "not_found", "collection", "no such collection");
        return;
    }
    if (rc) {
        db_fail(r, rc, "document", err);
        return;
    }
    json_t *o = rg_api_library_document_json(&d, user);
    if (o) json_object_set_new(o, "job_id", json_integer(job));
    rg_http_reply_json(r, 201, o);
}

static void document_one(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    int64_t id = path_id(r, "id");
    if (!id) return;
    char err[RG_ERR_SIZE];
    struct rg_db_document d;
    enum rg_http_method m = rg_http_req_method(r);
    if (m == RG_HTTP_DELETE) {
        if (rg_http_req_principal(r)->role < RG_ROLE_USER) {
            rg_http_reply_error(r, 403, NULL, "forbidden", NULL,
                                "a readonly account deletes "
                                "nothing");
            return;
        }
        int rc = rg_library_remove(LIB(st), user, id, err);
        if (rc)
            db_fail(r, rc, "document", err);
        else
            rg_http_reply(r, 204, NULL, NULL, 0);
        return;
    }
    int rc;
    if (m == RG_HTTP_PATCH) {
        if (rg_http_req_principal(r)->role < RG_ROLE_USER) {
            rg_http_reply_error(r, 403, NULL, "forbidden", NULL,
                                "a readonly account changes "
                                "nothing");
            return;
        }
        json_t *body = rg_http_req_json(r);
        if (!body) return;
        static const char *const fields[] = {"tags", "reindex", NULL};
        if (!check_fields(r, body, fields)) return;
        json_t *tags = json_object_get(body, "tags"), *re = json_object_get(body, "reindex");
        if ((tags && !json_is_array(tags)) || (re && !json_is_boolean(re))) {
            rg_http_reply_error(r, 400, NULL, NULL, "tags",
                                "'tags' must be an array of strings, 'reindex' a boolean");
            return;
        }
        struct rg_buf t;
        rg_buf_init(&t, 4096);
        size_t i;
        json_t *v;
        json_array_foreach(tags, i, v)
        {
            if (!json_is_string(v) || strchr(json_string_value(v), ',')) {
                rg_buf_free(&t);
                rg_http_reply_error(r, 400, NULL, NULL, "tags",
                                    "each tag must be a string without commas");
                return;
            }
            rg_buf_printf(&t, "%s%s", i ? "," : "", json_string_value(v));
        }
        rc = RG_OK;
        if (tags) {
            struct rg_db_doc_change ch = {
                .tags = t.data ? t.data : "", .size = -1, .mtime = -1, .now = now_ms()};
            rc = rg_db_doc_update(st->db, user, id, &ch, &d, err);
        }
        rg_buf_free(&t);
        if (rc == RG_OK && json_is_true(re)) {
            rc = rg_db_doc_set_state(st->db, user, id, RG_DB_DOC_QUEUED, 0, NULL, now_ms(), err);
            json_t *p = rc ? NULL : json_pack("{s:I}", "document", (json_int_t)id);
            int64_t job;
            if (p) rc = rg_jobs_submit(st->jobs, "library.index", user, p, 0, 3, &job, err);
            json_decref(p);
        }
        if (rc == RG_OK) rc = rg_db_doc_get(st->db, user, id, &d, err);
    } else {
        rc = rg_db_doc_get(st->db, user, id, &d, err);
    }
    if (rc) {
        db_fail(r, rc, "document", err);
        return;
    }
    rg_http_reply_json(r, 200, rg_api_library_document_json(&d, user));
}

static void document_chunks(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    int64_t id = path_id(r, "id");
    if (!id) return;
    int64_t from = 0, limit = 100;
    if (!query_int(r, "from", 0, INT32_MAX, &from) || !query_int(r, "limit", 1, 1000, &limit))
        return;
    struct rg_db_chunk *cs = NULL;
    size_t n = 0;
    char err[RG_ERR_SIZE];
    int rc = rg_db_chunk_list(st->db, user, id, (int)from, (int)limit, &cs, &n, err);
    if (rc) {
        db_fail(r, rc, "document", err);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, chunk_json(&cs[i]));
    rg_db_chunk_list_free(cs, n);
    rg_http_reply_json(r, 200, json_pack("{s:o}", "chunks", a ? a : json_array()));
}

static void chunk_one(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    int64_t id = path_id(r, "id");
    if (!id) return;
    int64_t context = 1;
    if (!query_int(r, "context", 0, 20, &context)) return;
    struct rg_db_chunk c = {0};
    struct rg_db_document d;
    char err[RG_ERR_SIZE];
    int rc = rg_db_chunk_get(st->db, user, id, &c, &d, err);
    if (rc) {
        db_fail(r, rc, "chunk", err);
        return;
    }
    json_t *before = json_array(), *after = json_array();
    if (context > 0) {
        int from = c.ordinal - (int)context;
        if (from < 0) from = 0;
        struct rg_db_chunk *cs = NULL;
        size_t n = 0;
        if (rg_db_chunk_list(st->db, user, d.id, from, (int)(2 * context + 1), &cs, &n, err) ==
            RG_OK) {
            for (size_t i = 0; i < n; i++) {
                if (cs[i].ordinal < c.ordinal)
                    json_array_append_new(before, chunk_json(&cs[i]));
                else if (cs[i].ordinal > c.ordinal)
                    json_array_append_new(after, chunk_json(&cs[i]));
            }
            rg_db_chunk_list_free(cs, n);
        }
    }
    json_t *o = json_pack("{s:o, s:o, s:o, s:o}", "chunk", chunk_json(&c), "document",
                          rg_api_library_document_json(&d, user), "before", before, "after", after);
    rg_db_chunk_clear(&c);
    rg_http_reply_json(r, 200, o);
}

/* ---- search ------------------------------------------------------------------------ */

static void search(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    const char *q = rg_http_req_query(r, "q");
    if (!q || !*q) {
        rg_http_reply_error(r, 400, NULL, NULL, "q", "'q' (the words to find) is required");
        return;
    }
    const char *mv = rg_http_req_query(r, "mode");
    int mode = mv && *mv                   ? rg_search_mode_parse(mv)
               : rg_library_model(LIB(st)) ? RG_SEARCH_HYBRID
                                           : RG_SEARCH_FULLTEXT;
    if (mode < 0) {
        rg_http_reply_error(r, 400, NULL, NULL, "mode",
                            "'mode' must be fulltext, vector or hybrid");
        return;
    }
    int64_t doc = 0, limit = 10;
    if (!query_int(r, "document", 1, INT64_MAX, &doc) ||
        !query_int(r, "limit", 1, RG_SEARCH_LIMIT_MAX, &limit))
        return;
    int64_t cols[256];
    size_t n_cols = 0;
    const char *cv = rg_http_req_query(r, "collections");
    if (!cv || !*cv) cv = rg_http_req_query(r, "collection");
    for (const char *p = cv; p && *p;) {
        char one[32];
        size_t n = strcspn(p, ",");
        if (n >= sizeof one || n_cols == 256) {
            rg_http_reply_error(r, 400, NULL, NULL, "collections", "at most 256 collection ids");
            return;
        }
        memcpy(one, p, n);
        one[n] = '\0';
        if (n && rg_parse_i64(one, 1, INT64_MAX, &cols[n_cols++]) != RG_OK) {
            rg_http_reply_error(r, 400, NULL, NULL, "collections",
                                "'collections' must be comma-separated ids");
            return;
        }
        p += n;
        if (*p == ',') p++;
    }
    const char *tag = rg_http_req_query(r, "tag"), *lang = rg_http_req_query(r, "language");
    struct rg_search_query sq = {.user = user,
                                 .q = q,
                                 .mode = (enum rg_search_mode)mode,
                                 .collections = n_cols ? cols : NULL,
                                 .n_collections = n_cols,
                                 .doc_id = doc,
                                 .tag = tag && *tag ? tag : NULL,
                                 .language = lang && *lang ? lang : NULL,
                                 .limit = (int)limit};
    struct rg_search_result res = {0};
    char err[RG_ERR_SIZE] = "";
    int rc = rg_library_search(LIB(st), &sq, &res, err);
    if (rc == RG_EUNSUPPORTED) {
        rg_http_reply_error(r, 400, NULL, "no_embedding_model", "mode",
                            "vector search needs an embedding model (--embedding-model): %s", err);
        return;
    }
    if (rc) {
        db_fail(r, rc, "document", err);
        return;
    }
    json_t *out = rg_api_library_results_json(&res, mode);
    if (out && res.degraded)
        json_object_set_new(out, "note",
                            json_string("no embedding model: full-text search only; "
                                        "set --embedding-model"));
    rg_search_result_free(&res);
    rg_http_reply_json(r, 200, out);
}

/* ---- the table --------------------------------------------------------------------- */

#define ID_OBJ "{\"type\":\"integer\"}"
static const char COLLECTION[] =
    "{\"type\":\"object\",\"properties\":{\"id\":" ID_OBJ ",\"name\":{\"type\":\"string\"},"
    "\"description\":{\"type\":\"string\"},\"shared\":{\"type\":\"boolean\"},\"own\":{\"type\":"
    "\"boolean\"},\"documents\":" ID_OBJ "}}";
static const char COLLECTION_REQ[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"name\":{\"type\":"
    "\"string\",\"minLength\":1,\"maxLength\":200},\"description\":{\"type\":\"string\"},"
    "\"shared\":{\"type\":\"boolean\",\"description\":\"admins only: published read-only to "
    "everyone\"}}}";
static const char COLLECTIONS[] =
    "{\"type\":\"object\",\"properties\":{\"collections\":{\"type\":\"array\"}}}";
static const char FOLDER_REQ[] =
    "{\"type\":\"object\",\"required\":[\"path\"],\"additionalProperties\":false,\"properties\":"
    "{\"path\":{\"type\":\"string\"},\"collection_id\":" ID_OBJ "}}";
static const char FOLDER[] = "{\"type\":\"object\",\"properties\":{\"id\":" ID_OBJ
                             ",\"collection_id\":" ID_OBJ ",\"path\":{\"type\":\"string\"}}}";
static const char FOLDERS[] =
    "{\"type\":\"object\",\"properties\":{\"folders\":{\"type\":\"array\"}}}";
static const char DOCUMENT[] =
    "{\"type\":\"object\",\"properties\":{\"id\":" ID_OBJ ",\"collection_id\":" ID_OBJ
    ",\"source\":{\"type\":\"string\"},\"format\":{\"type\":\"string\"},\"title\":{\"type\":"
    "\"string\"},\"state\":{\"enum\":[\"queued\",\"indexing\",\"ready\",\"error\"]},"
    "\"progress\":{\"type\":\"number\"},\"error\":{\"type\":\"string\"},\"chunks\":" ID_OBJ
    ",\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"job_id\":" ID_OBJ "}}";
static const char DOCUMENTS[] =
    "{\"type\":\"object\",\"properties\":{\"documents\":{\"type\":\"array\"},\"more\":{\"type\":"
    "\"boolean\"}}}";
static const char UPLOAD_REQ[] =
    "{\"description\":\"multipart/form-data with a 'file' part (and optional 'collection', "
    "'tags' fields), or the file itself as the body with ?name=FILE\",\"type\":\"string\","
    "\"format\":\"binary\"}";
static const char DOC_PATCH[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"tags\":{\"type\":"
    "\"array\",\"items\":{\"type\":\"string\"}},\"reindex\":{\"type\":\"boolean\"}}}";
static const char CHUNKS[] =
    "{\"type\":\"object\",\"properties\":{\"chunks\":{\"type\":\"array\"}}}";
static const char PASSAGE[] =
    "{\"type\":\"object\",\"properties\":{\"chunk\":{\"type\":\"object\"},\"document\":{\"type\":"
    "\"object\"},\"before\":{\"type\":\"array\"},\"after\":{\"type\":\"array\"}}}";
static const char STATUS[] =
    "{\"type\":\"object\",\"properties\":{\"documents\":" ID_OBJ ",\"states\":{\"type\":"
    "\"object\"},\"chunks\":" ID_OBJ ",\"embedding_model\":{\"type\":[\"object\",\"null\"]},"
    "\"missing\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}";
static const char SEARCH[] =
    "{\"type\":\"object\",\"properties\":{\"mode\":{\"enum\":[\"fulltext\",\"vector\","
    "\"hybrid\"]},\"degraded\":{\"type\":\"boolean\"},\"results\":{\"type\":\"array\",\"items\":"
    "{\"type\":\"object\",\"properties\":{\"chunk_id\":" ID_OBJ ",\"document_id\":" ID_OBJ
    ",\"score\":{\"type\":\"number\"},\"snippet\":{\"type\":\"string\",\"description\":\"HTML: "
    "the text escaped, matches in <mark>\"},\"location\":{\"type\":\"object\"}}}}}}";

size_t rg_api_library_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const unsigned GPD = RG_HTTP_GET | RG_HTTP_PATCH | RG_HTTP_DELETE;
    const struct rg_route routes[] = {
        {RG_HTTP_GET, "/library/status", status, st, RG_ROLE_READONLY, 0, "library",
         "The caller's library: documents by state, chunks, the embedding model, what is missing",
         NULL, STATUS},
        {RG_HTTP_GET, "/library/collections", collections_list, st, RG_ROLE_READONLY, 0, "library",
         "The caller's collections and the shared ones", NULL, COLLECTIONS},
        {RG_HTTP_POST, "/library/collections", collections_create, st, RG_ROLE_USER, 0, "library",
         "Creates a collection (shared: admins only)", COLLECTION_REQ, COLLECTION},
        {GPD, "/library/collections/{id}", collection_one, st, RG_ROLE_READONLY, 0, "library",
         "A collection: read, rename, publish (admin), delete with its documents", COLLECTION_REQ,
         COLLECTION},
        {RG_HTTP_GET, "/library/folders", folders_list, st, RG_ROLE_ADMIN, 0, "library",
         "Watched folders", NULL, FOLDERS},
        {RG_HTTP_POST, "/library/folders", folders_add, st, RG_ROLE_ADMIN, 0, "library",
         "Watches a folder on the server (into a collection named after it unless one is given)",
         FOLDER_REQ, FOLDER},
        {RG_HTTP_DELETE, "/library/folders/{id}", folder_remove, st, RG_ROLE_ADMIN, 0, "library",
         "Stops watching a folder and removes its documents", NULL, NULL},
        {RG_HTTP_POST, "/library/folders/{id}/scan", folder_scan, st, RG_ROLE_ADMIN, 0, "library",
         "Catches a folder up now (new, changed and deleted files)", NULL,
         "{\"type\":\"object\",\"properties\":{\"changed\":{\"type\":\"integer\"}}}"},
        {RG_HTTP_GET, "/library/documents", documents_list, st, RG_ROLE_READONLY, 0, "library",
         "Documents (filters: collection, folder, state, tag; limit, offset)", NULL, DOCUMENTS},
        {RG_HTTP_POST, "/library/documents", documents_upload, st, RG_ROLE_USER, 0, "library",
         "Uploads a document and queues its indexing (progress in the job and the document)",
         UPLOAD_REQ, DOCUMENT},
        {GPD, "/library/documents/{id}", document_one, st, RG_ROLE_READONLY, 0, "library",
         "A document with its indexing state, progress and error; PATCH tags or reindex; DELETE",
         DOC_PATCH, DOCUMENT},
        {RG_HTTP_GET, "/library/documents/{id}/chunks", document_chunks, st, RG_ROLE_READONLY, 0,
         "library", "A document's chunks in order", NULL, CHUNKS},
        {RG_HTTP_GET, "/library/chunks/{id}", chunk_one, st, RG_ROLE_READONLY, 0, "library",
         "A passage (for a citation): its text, location, document and neighbours", NULL, PASSAGE},
        {RG_HTTP_GET, "/search", search, st, RG_ROLE_READONLY, 0, "library",
         "Searches the library: q, mode (fulltext, vector, hybrid), collections, document, tag, "
         "language, limit",
         NULL, SEARCH},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n;
}
