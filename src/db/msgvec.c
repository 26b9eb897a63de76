/*
 * Message vectors (msgvec.h): checks, the backend chosen by rg_db_backend,
 * and the scan's arithmetic shared by both backends.
 */
#include "db/msgvec.h"

#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/db_internal.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "vectors are stored little-endian");

static bool pg(const struct rg_db *db)
{
    return !strcmp(rg_db_backend(db), "postgres");
}

void rg_db_msgvec_hex(const float *v, int dim, char *out)
{
    static const char H[] = "0123456789abcdef";
    const unsigned char *b = (const unsigned char *)v;
    for (size_t i = 0; i < (size_t)dim * 4; i++) {
        out[2 * i] = H[b[i] >> 4];
        out[2 * i + 1] = H[b[i] & 15];
    }
    out[(size_t)dim * 8] = '\0';
}

static int nib(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool rg_db_msgvec_cos(const char *hex, const float *q, int dim, double *cos)
{
    if (strlen(hex) != (size_t)dim * 8) return false;
    double dot = 0, a = 0, b = 0;
    for (int i = 0; i < dim; i++) {
        unsigned char by[4];
        for (int k = 0; k < 4; k++) {
            int hi = nib(hex[8 * i + 2 * k]), lo = nib(hex[8 * i + 2 * k + 1]);
            if (hi < 0 || lo < 0) return false;
            by[k] = (unsigned char)(hi << 4 | lo);
        }
        float x;
        memcpy(&x, by, 4);
        dot += (double)x * q[i];
        a += (double)x * x;
        b += (double)q[i] * q[i];
    }
    *cos = a > 0 && b > 0 ? dot / sqrt(a * b) : 0;
    return true;
}

int rg_db_msgvec_keep(struct rg_db_msgvec_hit *top, size_t k, size_t *n, int64_t id, int64_t conv,
                      double score, const char *content)
{
    size_t at = *n;
    while (at > 0 && top[at - 1].score < score)
        at--;
    if (at >= k) return RG_OK;
    char *copy = rg_strdup(content ? content : "");
    if (!copy) return RG_ENOMEM;
    if (*n == k) {
        rg_free(top[k - 1].content);
        (*n)--;
    }
    memmove(top + at + 1, top + at, (*n - at) * sizeof *top);
    top[at] = (struct rg_db_msgvec_hit){id, conv, score, copy};
    (*n)++;
    return RG_OK;
}

void rg_db_msgvec_hits_free(struct rg_db_msgvec_hit *h, size_t n)
{
    for (size_t i = 0; h && i < n; i++)
        rg_free(h[i].content);
    rg_free(h);
}

static int check(const char *model, int dim, char *err)
{
    int rc = rg_db_check_text("model", model, 128, true, err);
    if (rc) return rc;
    if (dim < 1 || dim > RG_DB_MSGVEC_DIM_MAX)
        return rg_err_set(err, RG_EINVAL, "a vector has 1..%d dimensions", RG_DB_MSGVEC_DIM_MAX);
    return RG_OK;
}

static int put(struct rg_db *db, int64_t owner, int64_t msg_id, const char *model, const char *hex,
               int dim, int64_t now, char *err)
{
    WITH_CONN(db, err,
              pg(db) ? rg_db_pg_msgvec_put(c, owner, msg_id, model, hex, dim, now, err)
                     : rg_db_sqlite_msgvec_put(c, owner, msg_id, model, hex, dim, now, err));
}

int rg_db_msgvec_put(struct rg_db *db, int64_t owner, int64_t msg_id, const char *model,
                     const float *v, int dim, int64_t now, char *err)
{
    int rc = check(model, dim, err);
    if (rc) return rc;
    if (owner < 1 || msg_id < 1) return rg_err_set(err, RG_ENOTFOUND, "no such message");
    char *hex = rg_malloc((size_t)dim * 8 + 1);
    if (!hex) return rg_err_set(err, RG_ENOMEM, "out of memory");
    rg_db_msgvec_hex(v, dim, hex);
    rc = put(db, owner, msg_id, model, hex, dim, now, err);
    rg_free(hex);
    return rc;
}

static int search(struct rg_db *db, int64_t owner, const char *model, const float *q, int dim,
                  int64_t except_conv, size_t k, struct rg_db_msgvec_hit *top, size_t *n, char *err)
{
    WITH_CONN(
        db, err,
        pg(db) ? rg_db_pg_msgvec_search(c, owner, model, q, dim, except_conv, k, top, n, err)
               : rg_db_sqlite_msgvec_search(c, owner, model, q, dim, except_conv, k, top, n, err));
}

int rg_db_msgvec_search(struct rg_db *db, int64_t owner, const char *model, const float *q, int dim,
                        int64_t except_conv, size_t k, struct rg_db_msgvec_hit **out, size_t *n,
                        char *err)
{
    *out = NULL;
    *n = 0;
    int rc = check(model, dim, err);
    if (rc) return rc;
    if (k < 1 || k > RG_DB_MSGVEC_K_MAX)
        return rg_err_set(err, RG_EINVAL, "k must be 1..%d", RG_DB_MSGVEC_K_MAX);
    struct rg_db_msgvec_hit *top = rg_calloc(k, sizeof *top);
    if (!top) return rg_err_set(err, RG_ENOMEM, "out of memory");
    rc = search(db, owner, model, q, dim, except_conv, k, top, n, err);
    if (rc) {
        rg_db_msgvec_hits_free(top, *n);
        *n = 0;
        return rc;
    }
    *out = top;
    return RG_OK;
}

int rg_db_msgvec_count(struct rg_db *db, int64_t owner, const char *model, int64_t *n, char *err)
{
    int rc = rg_db_check_text("model", model, 128, true, err);
    if (rc) return rc;
    WITH_CONN(db, err,
              pg(db) ? rg_db_pg_msgvec_count(c, owner, model, n, err)
                     : rg_db_sqlite_msgvec_count(c, owner, model, n, err));
}
