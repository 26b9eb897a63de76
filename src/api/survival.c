/*
 * /survival/...: the survival library (docs/memory.md "Survival mode"), a
 * user's chosen collections whose documents are tagged with the categories
 * of src/index/survival.h, browsed by category, searched alone and asked.
 *
 *   GET  /survival/categories              the categories with document counts
 *   GET  /survival/collections             {"collections": [ids]}
 *   PUT  /survival/collections             sets them; a survival.tag job tags their documents
 *   GET  /survival/documents               ?category= &limit= &offset=
 *   PUT  /survival/documents/{id}/categories  a manual choice (null: back to automatic)
 *   GET  /survival/search                  ?q= &category= &limit= (/search's shape)
 *   POST /survival/ask                     answered only from the passages found, cited [n];
 *                                          nothing found: says so, no model runs
 *
 * The job survival.tag ({"documents": [ids]} or {} for the whole library)
 * waits for documents still being indexed, then tags each by rules and, with
 * an embedding model, zero-shot (src/index/survival.h); a manual choice is
 * kept (src/db/survival.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "api/api_jobs.h"
#include "api/chat_internal.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/str.h"
#include "db/survival.h"
#include "engine/catalog/catalog.h"
#include "index/library.h"
#include "index/search.h"
#include "index/survival.h"
#include "jobs/jobs.h"

#define TAG_KIND "survival.tag"
#define TAG_WAIT_MS 120000  /* how long a tagging waits for documents being indexed */
#define TAG_CHUNKS_MAX 4000 /* chunks of a document read for its rules */
#define ASK_SOURCES_MAX 8   /* passages an answer may be given */
#define QUESTION_MAX 4000   /* bytes of a question */
#define ASK_MIN_COSINE 0.3  /* a passage found only by vector must be this near */

/* What the model is told: only the passages, cited, and nothing else. */
#define ASK_SYSTEM                                                                                 \
    "You answer survival questions using ONLY the numbered passages below, taken from the "        \
    "user's offline survival library. Do not use any other knowledge. Cite every passage you "     \
    "use by its number in brackets, like [1]. If the passages do not contain the answer, say "     \
    "that the survival library does not cover it.\n\n"
#define ASK_NOTHING                                                                                \
    "The survival library has nothing on this question, so there is no answer from it. Try "       \
    "other words, another category, or add documents to the survival collections."

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- shapes ------------------------------------------------------------------------ */

static json_t *str_json(const char *s)
{
    return rg_api_json_text(s ? s : "", s ? strlen(s) : 0);
}

static json_t *categories_json(const struct rg_db_surv_cat *c, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:f}", "id", c[i].category, "source",
                                           c[i].source, "score", c[i].score));
    return a;
}

/* ---- helpers ----------------------------------------------------------------------- */

static void db_fail(struct rg_http_req *r, int rc, const char *what, const char *err)
{
    rg_api_chat_db_fail(r, rc, what, err);
}

static bool can_write(struct rg_http_req *r)
{
    if (rg_http_req_principal(r)->role >= RG_ROLE_USER) return true;
    rg_http_reply_error(r, 403, NULL, "forbidden", NULL, "a readonly account changes nothing");
    return false;
}

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

/* ?category= (or a body's): NULL for none, else a known category; false
 * (replied 400) for an unknown one. */
static bool category_arg(struct rg_http_req *r, const char *v, const char **out)
{
    *out = NULL;
    if (!v || !*v) return true;
    if (rg_surv_category_find(v) < 0) {
        rg_http_reply_error(r, 400, NULL, "unknown_category", "category",
                            "no such category: '%.40s'", v);
        return false;
    }
    *out = v;
    return true;
}

/* Submits a tagging of documents ids[0..n) (NULL: the whole library) for
 * user: the job's id, 0 when it could not be queued (logged). */
static int64_t tag_submit(struct rg_api_state *st, int64_t user, const int64_t *ids, size_t n)
{
    json_t *p = json_object();
    if (p && ids) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++)
            json_array_append_new(a, json_integer(ids[i]));
        json_object_set_new(p, "documents", a);
    }
    int64_t job = 0;
    char err[RG_ERR_SIZE] = "";
    if (!p || !st->jobs || rg_jobs_submit(st->jobs, TAG_KIND, user, p, 0, 3, &job, err) != RG_OK) {
        rg_log(RG_LOG_WARN, "cannot queue survival tagging", "error", 's', err, RG_LOG_END);
        job = 0;
    }
    json_decref(p);
    return job;
}

/* ---- tagging (the job) -------------------------------------------------------------- */

/* Reads doc's chunks and tags it: RG_OK (*kept: a manual choice stayed),
 * RG_ENOTFOUND (gone, or left the survival library), other codes. */
static int tag_one(struct rg_api_state *st, int64_t user, const struct rg_db_document *doc,
                   bool *kept, size_t *n_cats, char *err)
{
    struct rg_db_chunk *all = NULL;
    size_t n = 0;
    int rc = RG_OK;
    while (n < TAG_CHUNKS_MAX) {
        struct rg_db_chunk *page = NULL;
        size_t got = 0;
        rc = rg_db_chunk_list(st->db, user, doc->id, (int)n, 1000, &page, &got, err);
        if (rc || !got) {
            rg_db_chunk_list_free(page, got);
            break;
        }
        struct rg_db_chunk *grown = rg_realloc(all, (n + got) * sizeof *grown);
        if (!grown) {
            rg_db_chunk_list_free(page, got);
            rc = rg_err_set(err, RG_ENOMEM, "out of memory");
            break;
        }
        all = grown;
        memcpy(all + n, page, got * sizeof *page); /* the texts move with them */
        rg_free(page);
        n += got;
        if (got < 1000) break;
    }
    const char **texts = rc ? NULL : rg_calloc(n ? n : 1, sizeof *texts);
    const char **heads = rc ? NULL : rg_calloc(n ? n : 1, sizeof *heads);
    if (!rc && (!texts || !heads)) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    size_t nh = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        texts[i] = all[i].text;
        if (all[i].heading[0] && (!nh || strcmp(heads[nh - 1], all[i].heading) != 0))
            heads[nh++] = all[i].heading;
    }
    struct rg_surv_tag tags[RG_SURV_N_CATEGORIES];
    size_t nt = 0;
    if (!rc) {
        struct rg_surv_doc d = {doc->title, heads, nh, texts, n};
        struct rg_surv_params p;
        rg_surv_default_params(&p);
        rc = rg_surv_tag(&d, rg_api_embedder(st), &p, tags, &nt, err);
        if (rc != RG_OK) { /* the embedder failed: the rules alone */
            rg_log(RG_LOG_WARN, "survival zero-shot tagging failed, rules only", "error", 's', err,
                   RG_LOG_END);
            rc = rg_surv_tag(&d, NULL, &p, tags, &nt, err);
        }
    }
    if (!rc) {
        struct rg_db_surv_cat cats[RG_SURV_N_CATEGORIES];
        for (size_t i = 0; i < nt; i++) {
            rg_strlcpy(cats[i].category, rg_surv_categories()[tags[i].category].id,
                       sizeof cats[i].category);
            rg_strlcpy(cats[i].source, rg_surv_source_name(tags[i].source), sizeof cats[i].source);
            cats[i].score = tags[i].score < 0 ? 0 : tags[i].score > 1 ? 1 : tags[i].score;
        }
        rc = rg_db_surv_auto_set(st->db, user, doc->id, cats, nt, doc->content_hash, now_ms(), kept,
                                 err);
        *n_cats = nt;
    }
    rg_free(texts);
    rg_free(heads);
    rg_db_chunk_list_free(all, n);
    return rc;
}

static int tag_run(struct rg_job_ctx *ctx, const json_t *payload, json_t **result, char *err)
{
    struct rg_api_state *st = rg_job_user(ctx);
    int64_t user = rg_job_owner(ctx);
    int64_t *ids = NULL;
    size_t n = 0;
    int rc = RG_OK;
    json_t *dv = json_object_get(payload, "documents");
    if (json_is_array(dv)) {
        n = json_array_size(dv);
        ids = rg_calloc(n ? n : 1, sizeof *ids);
        if (!ids) return rg_err_set(err, RG_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
            ids[i] = json_integer_value(json_array_get(dv, i));
    } else {
        for (int off = 0;; off += 1000) { /* the whole library */
            int64_t *page = NULL;
            size_t got = 0;
            bool more = false;
            rc = rg_db_surv_doc_ids(st->db, user, NULL, 1000, off, &page, &got, &more, err);
            int64_t *grown = rc ? NULL : rg_realloc(ids, (n + got + 1) * sizeof *grown);
            if (!rc && !grown) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
            if (grown) {
                ids = grown;
                memcpy(ids + n, page, got * sizeof *page);
                n += got;
            }
            rg_free(page);
            if (rc || !more) break;
        }
    }
    size_t tagged = 0, kept = 0, skipped = 0;
    int64_t waited = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        if (rg_job_cancelled(ctx)) {
            rc = RG_ECANCELED;
            break;
        }
        struct rg_db_document doc;
        int drc = rg_db_doc_get(st->db, user, ids[i], &doc, err);
        /* documents still being indexed are waited for, a while */
        while (drc == RG_OK && (doc.state == RG_DB_DOC_QUEUED || doc.state == RG_DB_DOC_INDEXING) &&
               waited < TAG_WAIT_MS && !rg_job_cancelled(ctx)) {
            rg_job_progress(ctx, (double)i / (double)n, "waiting for indexing");
            sleep_ms(200);
            waited += 200;
            drc = rg_db_doc_get(st->db, user, ids[i], &doc, err);
        }
        if (drc != RG_OK || doc.owner_id != user || doc.state != RG_DB_DOC_READY) {
            skipped++;
            continue;
        }
        bool k = false;
        size_t nc = 0;
        int trc = tag_one(st, user, &doc, &k, &nc, err);
        if (trc == RG_ENOTFOUND) {
            skipped++;
        } else if (trc != RG_OK) {
            rc = trc;
        } else {
            tagged++;
            kept += k;
        }
        rg_job_progress(ctx, (double)(i + 1) / (double)n, "tagged");
    }
    rg_free(ids);
    if (rc) return rc;
    *result = json_pack("{s:I, s:I, s:I}", "tagged", (json_int_t)tagged, "kept_manual",
                        (json_int_t)kept, "skipped", (json_int_t)skipped);
    return RG_OK;
}

static int tag_check(const json_t *payload, void *user, char *err)
{
    (void)user;
    if (!json_is_object(payload)) return rg_err_set(err, RG_EINVAL, "the payload is an object");
    json_t *dv = json_object_get(payload, "documents");
    if (!dv) return RG_OK;
    if (!json_is_array(dv) || json_array_size(dv) > 10000)
        return rg_err_set(err, RG_EINVAL, "'documents' is a list of at most 10000 ids");
    size_t i;
    json_t *v;
    json_array_foreach(dv, i, v) if (!json_is_integer(v) ||
                                     json_integer_value(v) <
                                         1) return rg_err_set(err, RG_EINVAL,
                                                              "'documents' holds document ids");
    return RG_OK;
}

int rg_api_survival_jobs_register(struct rg_api_state *st, char *err)
{
    if (!st->jobs) return RG_OK;
    struct rg_job_kind k = {.name = TAG_KIND, .run = tag_run, .check = tag_check, .user = st};
    return rg_jobs_register(st->jobs, &k, err);
}

/* ---- categories and collections ----------------------------------------------------- */

static void categories(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    const struct rg_surv_category *c = rg_surv_categories();
    const char *ids[RG_SURV_N_CATEGORIES];
    int64_t counts[RG_SURV_N_CATEGORIES];
    for (int i = 0; i < RG_SURV_N_CATEGORIES; i++)
        ids[i] = c[i].id;
    char err[RG_ERR_SIZE];
    int rc = rg_db_surv_counts(st->db, user, ids, RG_SURV_N_CATEGORIES, counts, err);
    if (rc) {
        db_fail(r, rc, "category", err);
        return;
    }
    json_t *a = json_array();
    for (int i = 0; a && i < RG_SURV_N_CATEGORIES; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I}", "id", c[i].id, "name", c[i].name,
                                           "description", c[i].description, "n_documents",
                                           (json_int_t)counts[i]));
    rg_http_reply_json(r, 200, json_pack("{s:o}", "data", a ? a : json_array()));
}

static json_t *ids_json(const int64_t *ids, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_integer(ids[i]));
    return a;
}

static void collections(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    char err[RG_ERR_SIZE];
    int64_t job = 0;
    int rc;
    if (rg_http_req_method(r) == RG_HTTP_PUT) {
        if (!can_write(r)) return;
        json_t *body = rg_http_req_json(r);
        if (!body) return;
        static const char *const known[] = {"collections", NULL};
        if (!rg_api_chat_fields_known(r, body, known)) return;
        json_t *cv = json_object_get(body, "collections");
        size_t n = json_array_size(cv);
        if (!json_is_array(cv) || n > RG_DB_SURV_COLLECTIONS_MAX) {
            rg_http_reply_error(r, 400, NULL, NULL, "collections",
                                "'collections' must be a list of at most %d collection ids",
                                RG_DB_SURV_COLLECTIONS_MAX);
            return;
        }
        int64_t ids[RG_DB_SURV_COLLECTIONS_MAX];
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_array_get(cv, i);
            if (!json_is_integer(v) || json_integer_value(v) < 1) {
                rg_http_reply_error(r, 400, NULL, NULL, "collections",
                                    "'collections' must hold collection ids");
                return;
            }
            ids[i] = json_integer_value(v);
        }
        rc = rg_db_surv_collections_set(st->db, user, ids, n, now_ms(), err);
        if (rc) {
            db_fail(r, rc, "collection", err);
            return;
        }
        if (n) job = tag_submit(st, user, NULL, 0);
    }
    int64_t *ids = NULL;
    size_t n = 0;
    rc = rg_db_surv_collections_get(st->db, user, &ids, &n, err);
    if (rc) {
        db_fail(r, rc, "collection", err);
        return;
    }
    json_t *o = json_pack("{s:o}", "collections", ids_json(ids, n));
    rg_free(ids);
    if (o && job) json_object_set_new(o, "job", json_integer(job));
    rg_http_reply_json(r, 200, o);
}

/* ---- documents ---------------------------------------------------------------------- */

static json_t *doc_entry(struct rg_api_state *st, int64_t user, int64_t id, char *err, int *rc)
{
    struct rg_db_document d;
    struct rg_db_surv_cat *cats = NULL;
    size_t nc = 0;
    bool manual = false;
    int64_t tagged = 0;
    *rc = rg_db_doc_get(st->db, user, id, &d, err);
    if (!*rc) *rc = rg_db_surv_doc_categories(st->db, user, id, &cats, &nc, &manual, &tagged, err);
    if (*rc) return NULL;
    json_t *o =
        json_pack("{s:o, s:o, s:b, s:o}", "document", rg_api_library_document_json(&d, user),
                  "categories", categories_json(cats, nc), "manual", (int)manual, "tagged_at",
                  tagged ? json_integer(tagged) : json_null());
    rg_free(cats);
    return o;
}

static void documents(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    int64_t limit = 50, offset = 0;
    const char *cat;
    if (!query_int(r, "limit", 1, 1000, &limit) || !query_int(r, "offset", 0, INT32_MAX, &offset) ||
        !category_arg(r, rg_http_req_query(r, "category"), &cat))
        return;
    int64_t *ids = NULL;
    size_t n = 0;
    bool more = false;
    char err[RG_ERR_SIZE];
    /* documents added (or changed) since the last tagging are queued now */
    int64_t job = 0;
    if (rg_db_surv_claim_untagged(st->db, user, 1000, now_ms(), &ids, &n, err) == RG_OK && n)
        job = tag_submit(st, user, ids, n);
    rg_free(ids);
    ids = NULL;
    n = 0;
    int rc = rg_db_surv_doc_ids(st->db, user, cat, (int)limit, (int)offset, &ids, &n, &more, err);
    json_t *a = rc ? NULL : json_array();
    for (size_t i = 0; a && i < n; i++) {
        int erc;
        json_t *e = doc_entry(st, user, ids[i], err, &erc);
        if (e) json_array_append_new(a, e); /* one deleted meanwhile is left out */
    }
    rg_free(ids);
    if (rc) {
        db_fail(r, rc, "document", err);
        return;
    }
    json_t *o = json_pack("{s:o, s:b}", "data", a ? a : json_array(), "has_more", (int)more);
    if (o && job) json_object_set_new(o, "job", json_integer(job)); /* the new ones' tagging */
    rg_http_reply_json(r, 200, o);
}

static void document_categories(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user || !can_write(r)) return;
    int64_t id = 0;
    if (rg_parse_i64(rg_http_req_param(r, "id"), 1, INT64_MAX, &id) != RG_OK) {
        rg_http_reply_error(r, 404, NULL, "not_found", NULL, "no such document");
        return;
    }
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    static const char *const known[] = {"categories", NULL};
    if (!rg_api_chat_fields_known(r, body, known)) return;
    json_t *cv = json_object_get(body, "categories");
    const char *cats[RG_SURV_N_CATEGORIES];
    size_t n = 0;
    bool clear = json_is_null(cv);
    if (!clear) {
        if (!json_is_array(cv)) {
            rg_http_reply_error(r, 400, NULL, NULL, "categories",
                                "'categories' must be a list of category ids, or null");
            return;
        }
        size_t i;
        json_t *v;
        json_array_foreach(cv, i, v)
        {
            const char *s = json_string_value(v);
            int k = rg_surv_category_find(s);
            if (k < 0) {
                rg_http_reply_error(r, 400, NULL, "unknown_category", "categories",
                                    "no such category: '%.40s'", s ? s : "(not a string)");
                return;
            }
            bool dup = false;
            for (size_t j = 0; j < n; j++)
                dup = dup || !strcmp(cats[j], rg_surv_categories()[k].id);
            if (!dup) cats[n++] = rg_surv_categories()[k].id;
        }
    }
    char err[RG_ERR_SIZE];
    int rc = rg_db_surv_manual_set(st->db, user, id, clear ? NULL : cats, n, now_ms(), err);
    if (rc) {
        db_fail(r, rc, "document", err);
        return;
    }
    int64_t job = clear ? tag_submit(st, user, &id, 1) : 0;
    json_t *o = doc_entry(st, user, id, err, &rc);
    if (!o) {
        db_fail(r, rc, "document", err);
        return;
    }
    if (job) json_object_set_new(o, "job", json_integer(job));
    rg_http_reply_json(r, 200, o);
}

/* ---- search ------------------------------------------------------------------------- */

/*
 * Searches the user's survival library (only it: no survival collection is
 * no result) for q, keeping hits of documents in category (NULL any), at
 * most limit. any_word for a question; min_cos > 0 drops hits found only by
 * vector whose cosine is under it (a vector list always has a nearest
 * chunk, however far). *out as rg_library_search's
 * (rg_search_result_free). RG_OK or the search's codes.
 */
static int surv_search(struct rg_api_state *st, int64_t user, const char *q, const char *category,
                       int limit, bool any_word, enum rg_search_mode mode, double min_cos,
                       struct rg_search_result *out, char *err)
{
    memset(out, 0, sizeof *out);
    out->mode = mode;
    int64_t *cols = NULL, *docs = NULL;
    size_t nc = 0, nd = 0;
    int rc = rg_db_surv_collections_get(st->db, user, &cols, &nc, err);
    if (rc || !nc || !rg_api_library_get(st)) {
        rg_free(cols);
        return rc;
    }
    if (category) { /* the category's documents (at most 10000 looked at) */
        for (int off = 0; off < 10000; off += 1000) {
            int64_t *page = NULL;
            size_t got = 0;
            bool more = false;
            rc = rg_db_surv_doc_ids(st->db, user, category, 1000, off, &page, &got, &more, err);
            int64_t *grown = rc ? NULL : rg_realloc(docs, (nd + got + 1) * sizeof *grown);
            if (!rc && !grown) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
            if (grown) {
                docs = grown;
                memcpy(docs + nd, page, got * sizeof *page);
                nd += got;
            }
            rg_free(page);
            if (rc || !more) break;
        }
        if (rc || !nd) {
            rg_free(cols);
            rg_free(docs);
            return rc;
        }
    }
    struct rg_search_query sq = {.user = user,
                                 .q = q,
                                 .mode = mode,
                                 .collections = cols,
                                 .n_collections = nc,
                                 .any_word = any_word,
                                 .limit = category ? RG_SEARCH_LIMIT_MAX : limit};
    if (min_cos > 0 && !category) sq.limit = RG_SEARCH_LIMIT_MAX;
    rc = rg_library_search(rg_api_library_get(st), &sq, out, err);
    if (rc == RG_OK && (category || min_cos > 0)) { /* the hits kept, in order */
        size_t k = 0;
        for (size_t i = 0; i < out->n; i++) {
            const struct rg_search_hit *h = &out->hits[i];
            bool in = !category;
            for (size_t j = 0; j < nd && !in; j++)
                in = docs[j] == h->c.doc_id;
            if (min_cos > 0 && !h->rank_fts && h->cosine < min_cos) in = false;
            if (in && k < (size_t)limit) out->hits[k++] = out->hits[i];
        }
        out->n = k;
    }
    rg_free(cols);
    rg_free(docs);
    return rc;
}

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
    int64_t limit = 10;
    const char *cat;
    if (!query_int(r, "limit", 1, RG_SEARCH_LIMIT_MAX, &limit) ||
        !category_arg(r, rg_http_req_query(r, "category"), &cat))
        return;
    const char *mv = rg_http_req_query(r, "mode");
    struct rg_library *lib = rg_api_library_get(st);
    int mode = mv && *mv                      ? rg_search_mode_parse(mv)
               : lib && rg_library_model(lib) ? RG_SEARCH_HYBRID
                                              : RG_SEARCH_FULLTEXT;
    if (mode < 0) {
        rg_http_reply_error(r, 400, NULL, NULL, "mode",
                            "'mode' must be fulltext, vector or hybrid");
        return;
    }
    struct rg_search_result res;
    char err[RG_ERR_SIZE] = "";
    int rc =
        surv_search(st, user, q, cat, (int)limit, false, (enum rg_search_mode)mode, 0, &res, err);
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
    if (out && cat) json_object_set_new(out, "category", json_string(cat));
    rg_search_result_free(&res);
    rg_http_reply_json(r, 200, out);
}

/* ---- ask ---------------------------------------------------------------------------- */

/* The passages for question within budget tokens of v, numbered [1].. into
 * passages, and their sources (docs/chat.md's shape) into *sources (an
 * array, maybe empty). RG_OK or the search's code. */
static int ask_retrieve(struct rg_api_state *st, int64_t user, const char *question,
                        const char *category, const struct rg_vocab *v, size_t budget,
                        struct rg_buf *passages, json_t *sources, char *err)
{
    struct rg_library *lib = rg_api_library_get(st);
    struct rg_search_result res;
    int rc = surv_search(st, user, question, category, ASK_SOURCES_MAX, true,
                         lib && rg_library_model(lib) ? RG_SEARCH_HYBRID : RG_SEARCH_FULLTEXT,
                         ASK_MIN_COSINE, &res, err);
    if (rc) return rc;
    size_t used = 0;
    for (size_t i = 0; i < res.n; i++) {
        const struct rg_db_chunk_hit *h = &res.hits[i].c;
        struct rg_db_chunk ch = {0};
        struct rg_db_document doc;
        if (rg_db_chunk_get(st->db, user, h->chunk_id, &ch, &doc, err) != RG_OK) continue;
        const char *text = ch.text ? ch.text : "";
        size_t nt = strlen(text) / 2 + 1; /* without a vocabulary: a safe guess */
        if (v) {
            int32_t *toks = NULL;
            if (rg_tokenize_alloc(v, text, strlen(text), false, false, &toks, &nt) != RG_OK)
                nt = SIZE_MAX / 4;
            rg_free(toks);
        }
        if (used + nt + 32 <= budget) {
            used += nt + 32;
            size_t k = json_array_size(sources) + 1;
            rg_buf_printf(passages, "[%zu] %s", k, h->title[0] ? h->title : "Untitled");
            if (h->heading[0]) rg_buf_printf(passages, " — %s", h->heading);
            rg_buf_printf(passages, "\n%s\n\n", text);
            json_array_append_new(
                sources,
                json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:i, s:i, s:o}", "n", (json_int_t)k,
                          "chunk_id", (json_int_t)h->chunk_id, "document_id", (json_int_t)h->doc_id,
                          "collection_id", (json_int_t)h->collection_id, "title",
                          str_json(h->title), "heading", str_json(h->heading), "page_from",
                          h->page_from, "page_to", h->page_to, "snippet", str_json(h->snippet)));
        }
        rg_db_chunk_clear(&ch);
    }
    rg_search_result_free(&res);
    return RG_OK;
}

struct ask {
    json_t *sources;
    char model[256];
};

static int ask_begin(void *user, json_t **start, int *status, char *err)
{
    (void)status;
    (void)err;
    struct ask *a = user;
    *start = json_pack("{s:O, s:s}", "sources", a->sources, "model", a->model);
    return RG_OK;
}

static json_t *ask_end(void *user, const struct rg_api_kept_end *k, const char **event)
{
    struct ask *a = user;
    if (k->rc != RG_OK && k->rc != RG_ECANCELED) {
        *event = "error";
        return json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message", k->err, "type",
                         "server_error", "param", "code");
    }
    *event = "end";
    return json_pack("{s:o, s:O, s:s, s:s, s:{s:I, s:I}}", "content",
                     rg_api_json_text(k->text, k->len), "sources", a->sources, "model", a->model,
                     "finish_reason", k->finish, "usage", "prompt_tokens",
                     (json_int_t)k->prompt_tokens, "completion_tokens",
                     (json_int_t)k->completion_tokens);
}

static void ask_free(void *user)
{
    struct ask *a = user;
    json_decref(a->sources);
    rg_free(a);
}

/* Nothing found: the answer says so, in the same shapes, and no model runs. */
static void ask_nothing(struct rg_http_req *r, bool stream)
{
    json_t *src = json_array();
    json_t *end = json_pack("{s:s, s:o, s:n, s:s, s:{s:i, s:i}}", "content", ASK_NOTHING, "sources",
                            src, "model", "finish_reason", "no_sources", "usage", "prompt_tokens",
                            0, "completion_tokens", 0);
    if (!stream) {
        rg_http_reply_json(r, 200, end);
        return;
    }
    struct rg_sse *s = rg_http_sse_start(r);
    if (s) {
        json_t *st = json_pack("{s:[], s:n}", "sources", "model");
        json_t *d = json_pack("{s:s}", "content", ASK_NOTHING);
        rg_sse_send_json(s, "start", st);
        rg_sse_send_json(s, "delta", d);
        rg_sse_send_json(s, "end", end);
        json_decref(st);
        json_decref(d);
        rg_sse_end(s);
    }
    json_decref(end);
}

/* The model asked for, else the first one served (as /chat picks it). */
static void pick_model(const struct rg_api_state *st, const char *asked, char *out, size_t n)
{
    out[0] = '\0';
    if (asked && *asked) {
        rg_strlcpy(out, asked, n);
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

static void ask(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    int64_t user = rg_api_chat_user(r);
    if (!user) return;
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    static const char *const known[] = {"question",   "category",    "model", "stream",
                                        "max_tokens", "temperature", "seed",  NULL};
    if (!rg_api_chat_fields_known(r, body, known)) return;
    json_t *qv = json_object_get(body, "question");
    const char *question = json_string_value(qv);
    if (!question || !*question || json_string_length(qv) > QUESTION_MAX ||
        strlen(question) != json_string_length(qv)) {
        rg_http_reply_error(r, 400, NULL, NULL, "question",
                            "'question' must be a non-empty string of at most %d bytes",
                            QUESTION_MAX);
        return;
    }
    json_t *cv = json_object_get(body, "category");
    if (cv && !json_is_null(cv) && !json_is_string(cv)) {
        rg_http_reply_error(r, 400, NULL, NULL, "category", "'category' must be a category id");
        return;
    }
    const char *cat;
    if (!category_arg(r, json_string_value(cv), &cat)) return;
    json_t *mv = json_object_get(body, "model"), *sv = json_object_get(body, "stream");
    if (mv && !json_is_null(mv) && !json_is_string(mv)) {
        rg_http_reply_error(r, 400, NULL, NULL, "model", "'model' must be a string");
        return;
    }
    if (sv && !json_is_boolean(sv)) {
        rg_http_reply_error(r, 400, NULL, NULL, "stream", "'stream' must be a boolean");
        return;
    }
    bool stream = json_is_true(sv);

    /* what the library has, first: nothing found runs no model */
    struct rg_library *lib = rg_api_library_get(st);
    struct rg_search_result probe;
    char err[RG_ERR_SIZE] = "";
    int rc = surv_search(st, user, question, cat, 1, true,
                         lib && rg_library_model(lib) ? RG_SEARCH_HYBRID : RG_SEARCH_FULLTEXT,
                         ASK_MIN_COSINE, &probe, err);
    size_t n_found = rc ? 0 : probe.n;
    rg_search_result_free(&probe);
    if (rc) {
        db_fail(r, rc, "document", err);
        return;
    }
    if (!n_found) {
        ask_nothing(r, stream);
        return;
    }

    struct ask *a = rg_calloc(1, sizeof *a);
    if (!a) {
        rg_http_reply_error(r, 500, NULL, NULL, NULL, "out of memory");
        return;
    }
    pick_model(st, json_string_value(mv), a->model, sizeof a->model);
    if (!a->model[0]) {
        rg_free(a);
        rg_http_reply_error(r, 503, NULL, "no_model", "model",
                            "no model to answer with: add one to the models dir or give -m");
        return;
    }
    struct rg_engine_model *m = rg_api_model_hold(r, st, a->model);
    if (!m) {
        rg_free(a);
        return;
    }
    const struct rg_model *model = rg_engine_model_get(m);
    struct rg_buf passages, sys;
    rg_buf_init(&passages, SIZE_MAX);
    rg_buf_init(&sys, SIZE_MAX);
    a->sources = json_array();
    rc = a->sources ? ask_retrieve(st, user, question, cat, rg_model_vocab(model),
                                   (size_t)rg_engine_model_n_ctx(m) / 2, &passages, a->sources, err)
                    : RG_ENOMEM;
    struct rg_req_err e = {0};
    if (rc == RG_OK && !json_array_size(a->sources)) /* none fits the context */
        rc = rg_req_err_set(&e, 400, "question", "context_length_exceeded",
                            "the passages found do not fit the model's context");
    else if (rc != RG_OK)
        rc = rg_req_err_set(&e, 500, NULL, NULL, "the survival library is unavailable: %s", err);
    json_t *pb = NULL;
    if (rc == RG_OK) {
        rg_buf_printf(&sys, "%s", ASK_SYSTEM);
        rg_buf_append(&sys, passages.data, passages.len);
        pb = json_pack("{s:[{s:s, s:o}, {s:s, s:s}], s:b}", "messages", "role", "system", "content",
                       rg_api_json_text(sys.data ? sys.data : "", sys.len), "role", "user",
                       "content", question, "stream", (int)stream);
        static const char *const pass[] = {"max_tokens", "temperature", "seed", NULL};
        for (const char *const *p = pass; pb && *p; p++)
            if (json_object_get(body, *p)) json_object_set(pb, *p, json_object_get(body, *p));
        if (!pb) rc = rg_req_err_set(&e, 500, NULL, NULL, "out of memory");
    }
    rg_buf_free(&passages);
    rg_buf_free(&sys);
    struct rg_api_gen g = {0};
    struct rg_chat_prompt cp = {0};
    if (rc == RG_OK)
        rc = rg_api_gen_parse(pb, NULL, RG_API_OPENAI_CHAT, rg_model_info(model)->n_vocab, &g, &e);
    if (rc == RG_OK)
        rc = rg_chat_prompt_build(pb, rg_model_vocab(model), rg_engine_model_chat_format(m), &cp,
                                  &e);
    json_decref(pb);
    long n_ctx = rg_engine_model_n_ctx(m);
    if (rc == RG_OK) rc = rg_api_prompt_fits(cp.n_tokens, n_ctx, "question", &e);
    if (rc == RG_OK)
        rc = rg_api_gen_fit_default(&g, 1, n_ctx, st->cfg->max_request_work,
                                    st->cfg->default_max_tokens, &e);
    if (rc != RG_OK) {
        rg_api_reply_err(r, &e);
        rg_engine_release(m, NAN);
        ask_free(a);
    } else {
        g.stream = stream;
        struct rg_api_keep keep = {ask_begin, ask_end, ask_free, a};
        rg_api_generate_kept(r, st, m, &g, cp.tokens, (int32_t)cp.n_tokens, &keep);
    }
    rg_api_gen_free(&g);
    rg_chat_prompt_free(&cp);
}

/* ---- the table ---------------------------------------------------------------------- */

static const char CATEGORIES[] =
    "{\"type\":\"object\",\"properties\":{\"data\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},"
    "\"description\":{\"type\":\"string\"},\"n_documents\":{\"type\":\"integer\"}}}}}}";
static const char COLLECTIONS[] =
    "{\"type\":\"object\",\"required\":[\"collections\"],\"properties\":{\"collections\":{"
    "\"type\":\"array\",\"items\":{\"type\":\"integer\"}},\"job\":{\"type\":\"integer\"}}}";
static const char DOCUMENTS[] =
    "{\"type\":\"object\",\"properties\":{\"data\":{\"type\":\"array\"},\"has_more\":{\"type\":"
    "\"boolean\"}}}";
static const char CATS_REQ[] =
    "{\"type\":\"object\",\"required\":[\"categories\"],\"properties\":{\"categories\":{\"type\":"
    "[\"array\",\"null\"],\"items\":{\"type\":\"string\"},\"description\":\"the manual choice; "
    "null goes back to automatic tagging\"}}}";
static const char DOC_ENTRY[] =
    "{\"type\":\"object\",\"properties\":{\"document\":{\"type\":\"object\"},\"categories\":{"
    "\"type\":\"array\"},\"manual\":{\"type\":\"boolean\"},\"job\":{\"type\":\"integer\"}}}";
static const char SEARCH[] =
    "{\"type\":\"object\",\"properties\":{\"mode\":{\"type\":\"string\"},\"results\":{\"type\":"
    "\"array\"}}}";
static const char ASK_REQ[] =
    "{\"type\":\"object\",\"required\":[\"question\"],\"properties\":{\"question\":{\"type\":"
    "\"string\"},\"category\":{\"type\":\"string\"},\"model\":{\"type\":\"string\"},\"stream\":{"
    "\"type\":\"boolean\"},\"max_tokens\":{\"type\":\"integer\"},\"temperature\":{\"type\":"
    "\"number\"},\"seed\":{\"type\":\"integer\"}}}";
static const char ASK_RESP[] =
    "{\"type\":\"object\",\"properties\":{\"content\":{\"type\":\"string\"},\"sources\":{"
    "\"type\":\"array\"},\"model\":{\"type\":[\"string\",\"null\"]},\"finish_reason\":{\"type\":"
    "\"string\"},\"usage\":{\"type\":\"object\"}}}";

size_t rg_api_survival_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const struct rg_route routes[] = {
        {RG_HTTP_GET, "/survival/categories", categories, st, RG_ROLE_READONLY, 0, "survival",
         "The survival categories with how many of the caller's survival documents have each", NULL,
         CATEGORIES},
        {RG_HTTP_GET | RG_HTTP_PUT, "/survival/collections", collections, st, RG_ROLE_READONLY, 0,
         "survival", "The caller's survival library; PUT sets it and queues the tagging (job)",
         COLLECTIONS, COLLECTIONS},
        {RG_HTTP_GET, "/survival/documents", documents, st, RG_ROLE_READONLY, 0, "survival",
         "Survival documents with their categories (category, limit, offset)", NULL, DOCUMENTS},
        {RG_HTTP_PUT, "/survival/documents/{id}/categories", document_categories, st, RG_ROLE_USER,
         0, "survival",
         "Sets a document's categories by hand (kept over automatic tagging); null clears",
         CATS_REQ, DOC_ENTRY},
        {RG_HTTP_GET, "/survival/search", search, st, RG_ROLE_READONLY, 0, "survival",
         "Searches only the survival library (q, category, mode, limit)", NULL, SEARCH},
        {RG_HTTP_POST, "/survival/ask", ask, st, RG_ROLE_READONLY, RG_ROUTE_STREAM, "survival",
         "Answers only from the survival library, citing [n]; nothing found: says so, no model "
         "runs",
         ASK_REQ, ASK_RESP},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n;
}
