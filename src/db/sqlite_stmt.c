/*
 * The statement helpers of the SQLite backend (sqlite_internal.h), shared by
 * the accounts (db_sqlite.c) and the job queue (jobs_sqlite.c): one binder,
 * one error mapping, one way to step, commit and roll back.
 */
#include <stdarg.h>

#include "common/err.h"
#include "db/sqlite_internal.h"

int rg_db_sq_fail(sqlite3 *c, char *err)
{
    int code = sqlite3_extended_errcode(c);
    if (code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY)
        return rg_err_set(err, RG_EEXISTS, "%s", sqlite3_errmsg(c));
    if (code == SQLITE_CONSTRAINT_FOREIGNKEY) return rg_err_set(err, RG_ENOTFOUND, "no such user");
    if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED)
        return rg_err_set(err, RG_EBUSY, "database is busy: %s", sqlite3_errmsg(c));
    return rg_err_set(err, RG_EIO, "sqlite: %s", sqlite3_errmsg(c));
}

sqlite3_stmt *rg_db_sq_prep(sqlite3 *c, char *err, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK) {
        rg_db_sq_fail(c, err);
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    int rc = SQLITE_OK;
    for (int i = 1; fmt && *fmt && rc == SQLITE_OK; fmt++, i++) {
        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            rc = s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
            break;
        }
        case 'i': rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t)); break;
        case 'o': {
            int64_t v = va_arg(ap, int64_t);
            rc = v == 0 ? sqlite3_bind_null(st, i) : sqlite3_bind_int64(st, i, v);
            break;
        }
        case 'd': rc = sqlite3_bind_double(st, i, va_arg(ap, double)); break;
        case 'b': rc = sqlite3_bind_int(st, i, va_arg(ap, int) ? 1 : 0); break;
        default: RG_ASSERT(!"bad bind letter");
        }
    }
    va_end(ap);
    if (rc != SQLITE_OK) {
        rg_db_sq_fail(c, err);
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

int rg_db_sq_run(sqlite3 *c, sqlite3_stmt *st, int64_t *changes, char *err)
{
    if (!st) return RG_EIO;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    int out = rc == SQLITE_DONE ? RG_OK : rg_db_sq_fail(c, err);
    if (changes) *changes = sqlite3_changes(c);
    sqlite3_finalize(st);
    return out;
}

int rg_db_sq_one_int(sqlite3 *c, sqlite3_stmt *st, int64_t *v, char *err)
{
    if (!st) return RG_EIO;
    int rc = sqlite3_step(st), out = RG_OK;
    *v = 0;
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        out = rg_db_sq_fail(c, err);
    sqlite3_finalize(st);
    return out;
}

int rg_db_sq_exec(sqlite3 *c, const char *sql, char *err)
{
    char *msg = NULL;
    if (sqlite3_exec(c, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = rg_db_sq_fail(c, err);
        sqlite3_free(msg);
        return rc;
    }
    return RG_OK;
}

int rg_db_sq_begin(sqlite3 *c, char *err)
{
    return rg_db_sq_exec(c, "BEGIN IMMEDIATE", err);
}

int rg_db_sq_finish(sqlite3 *c, int rc, bool keep, char *err)
{
    if (rc == RG_OK || keep) {
        char cerr[RG_ERR_SIZE];
        int crc = rg_db_sq_exec(c, "COMMIT", cerr);
        if (crc != RG_OK) {
            rg_db_sq_exec(c, "ROLLBACK", NULL);
            return rg_err_set(err, crc, "%s", cerr);
        }
        return rc;
    }
    rg_db_sq_exec(c, "ROLLBACK", NULL);
    return rc;
}

const char *rg_db_sq_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}
