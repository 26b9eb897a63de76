/*
 * The survival library's operations (survival.h): the arguments checked
 * once here, then the backend that rg_db_backend() names, on a pooled
 * connection.
 */
#include <math.h>
#include <string.h>

#include "db/surv_internal.h"

static bool is_pg(struct rg_db *db)
{
    return !strcmp(rg_db_backend(db), "postgres");
}

#define BACKEND(db, err, fn, ...)                                                                  \
    WITH_CONN((db), (err),                                                                         \
              is_pg(db) ? rg_db_pg_##fn(c, __VA_ARGS__) : rg_db_sqlite_##fn(c, __VA_ARGS__))

/* [a-z-], 1..RG_DB_SURV_CAT_MAX bytes. */
static bool cat_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (!n || n > RG_DB_SURV_CAT_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-')) return false;
    return true;
}

static int bad_cat(const char *s, char *err)
{
    return rg_err_set(err, RG_EINVAL, "'%.40s' is not a category id", s ? s : "(null)");
}

int rg_db_surv_collections_get(struct rg_db *db, int64_t user, int64_t **ids, size_t *n, char *err)
{
    *ids = NULL;
    *n = 0;
    if (user < 1) return rg_err_set(err, RG_EINVAL, "bad user id");
    BACKEND(db, err, surv_collections_get, user, ids, n, err);
}

int rg_db_surv_collections_set(struct rg_db *db, int64_t user, const int64_t *ids, size_t n,
                               int64_t now, char *err)
{
    if (user < 1) return rg_err_set(err, RG_EINVAL, "bad user id");
    if (n > RG_DB_SURV_COLLECTIONS_MAX)
        return rg_err_set(err, RG_EINVAL, "at most %d survival collections",
                          RG_DB_SURV_COLLECTIONS_MAX);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 1) return rg_err_set(err, RG_EINVAL, "bad collection id");
    BACKEND(db, err, surv_collections_set, user, ids, n, now, err);
}

int rg_db_surv_doc_ids(struct rg_db *db, int64_t user, const char *category, int limit, int offset,
                       int64_t **ids, size_t *n, bool *more, char *err)
{
    *ids = NULL;
    *n = 0;
    *more = false;
    if (user < 1) return rg_err_set(err, RG_EINVAL, "bad user id");
    if (limit < 1 || limit > 1000 || offset < 0)
        return rg_err_set(err, RG_EINVAL, "limit must be 1..1000 and offset >= 0");
    if (category && !cat_ok(category)) return bad_cat(category, err);
    BACKEND(db, err, surv_doc_ids, user, category, limit, offset, ids, n, more, err);
}

int rg_db_surv_doc_categories(struct rg_db *db, int64_t user, int64_t doc,
                              struct rg_db_surv_cat **out, size_t *n, bool *manual,
                              int64_t *tagged_at, char *err)
{
    *out = NULL;
    *n = 0;
    *manual = false;
    *tagged_at = 0;
    if (user < 1 || doc < 1) return rg_err_set(err, RG_ENOTFOUND, "no such document");
    BACKEND(db, err, surv_doc_categories, user, doc, out, n, manual, tagged_at, err);
}

int rg_db_surv_auto_set(struct rg_db *db, int64_t user, int64_t doc,
                        const struct rg_db_surv_cat *cats, size_t n, const char *content_hash,
                        int64_t now, bool *kept, char *err)
{
    *kept = false;
    if (user < 1 || doc < 1) return rg_err_set(err, RG_ENOTFOUND, "no such document");
    if (n > RG_DB_SURV_CATS_MAX)
        return rg_err_set(err, RG_EINVAL, "at most %d categories", RG_DB_SURV_CATS_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!cat_ok(cats[i].category)) return bad_cat(cats[i].category, err);
        if (strcmp(cats[i].source, "rule") != 0 && strcmp(cats[i].source, "embedding") != 0)
            return rg_err_set(err, RG_EINVAL, "an automatic source is rule or embedding");
        if (!(cats[i].score >= 0 && cats[i].score <= 1))
            return rg_err_set(err, RG_EINVAL, "a score is 0..1");
        for (size_t k = 0; k < i; k++)
            if (!strcmp(cats[k].category, cats[i].category))
                return rg_err_set(err, RG_EINVAL, "category '%s' twice", cats[i].category);
    }
    int rc = rg_db_check_text("content hash", content_hash, 128, false, err);
    if (rc) return rc;
    BACKEND(db, err, surv_auto_set, user, doc, cats, n, content_hash, now, kept, err);
}

int rg_db_surv_manual_set(struct rg_db *db, int64_t user, int64_t doc, const char *const *cats,
                          size_t n, int64_t now, char *err)
{
    if (user < 1 || doc < 1) return rg_err_set(err, RG_ENOTFOUND, "no such document");
    if (cats && n > RG_DB_SURV_CATS_MAX)
        return rg_err_set(err, RG_EINVAL, "at most %d categories", RG_DB_SURV_CATS_MAX);
    for (size_t i = 0; cats && i < n; i++) {
        if (!cat_ok(cats[i])) return bad_cat(cats[i], err);
        for (size_t k = 0; k < i; k++)
            if (!strcmp(cats[k], cats[i]))
                return rg_err_set(err, RG_EINVAL, "category '%s' twice", cats[i]);
    }
    BACKEND(db, err, surv_manual_set, user, doc, cats, cats ? n : 0, now, err);
}

int rg_db_surv_claim_untagged(struct rg_db *db, int64_t user, int max, int64_t now, int64_t **ids,
                              size_t *n, char *err)
{
    *ids = NULL;
    *n = 0;
    if (user < 1) return rg_err_set(err, RG_EINVAL, "bad user id");
    if (max < 1 || max > 1000) return rg_err_set(err, RG_EINVAL, "max must be 1..1000");
    BACKEND(db, err, surv_claim_untagged, user, max, now, ids, n, err);
}

int rg_db_surv_counts(struct rg_db *db, int64_t user, const char *const *cats, size_t n,
                      int64_t *counts, char *err)
{
    for (size_t i = 0; i < n; i++) {
        counts[i] = 0;
        if (!cat_ok(cats[i])) return bad_cat(cats[i], err);
    }
    if (user < 1) return rg_err_set(err, RG_EINVAL, "bad user id");
    BACKEND(db, err, surv_counts, user, cats, n, counts, err);
}
