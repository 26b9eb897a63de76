/*
 * The statement helpers of the PostgreSQL backend (pg_internal.h), shared by
 * the accounts (db_pg.c) and the job queue (jobs_pg.c): one parameter
 * builder, one SQLSTATE mapping, one set of cell readers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/str.h"
#include "db/pg_internal.h"

/* First line of libpq's message, without "ERROR:  " noise. */
int rg_db_pg_fail(PGconn *c, PGresult *r, char *err)
{
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    char line[200];
    rg_strlcpy(line, msg && *msg ? msg : "unknown error", sizeof line);
    line[strcspn(line, "\n")] = '\0';
    int code = RG_EIO;
    if (state && !strcmp(state, "23505"))
        code = RG_EEXISTS;
    else if (state && !strcmp(state, "23503"))
        return rg_err_set(err, RG_ENOTFOUND, "no such user");
    else if (state &&
             (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03")))
        code = RG_EBUSY;
    return rg_err_set(err, code, "postgres: %s", line);
}

PGresult *rg_db_pg_query(PGconn *c, int *rc, char *err, const char *sql, const char *fmt, ...)
{
    enum { MAXP = 12 };
    const char *vals[MAXP];
    char nums[MAXP][32];
    int n = 0;
    va_list ap;
    va_start(ap, fmt);
    for (; fmt && *fmt; fmt++, n++) {
        RG_ASSERT(n < MAXP);
        switch (*fmt) {
        case 's': vals[n] = va_arg(ap, const char *); break;
        case 'i':
        case 'o': {
            int64_t v = va_arg(ap, int64_t);
            snprintf(nums[n], sizeof nums[n], "%lld", (long long)v);
            vals[n] = *fmt == 'o' && v == 0 ? NULL : nums[n];
            break;
        }
        case 'd':
            snprintf(nums[n], sizeof nums[n], "%.17g", va_arg(ap, double));
            vals[n] = nums[n];
            break;
        case 'b': vals[n] = va_arg(ap, int) ? "true" : "false"; break;
        default: RG_ASSERT(!"bad parameter letter");
        }
    }
    va_end(ap);
    PGresult *r = PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        *rc = RG_OK;
        return r;
    }
    *rc = rg_db_pg_fail(c, r, err);
    PQclear(r);
    if (PQstatus(c) != CONNECTION_OK) PQreset(c);
    return NULL;
}

const char *rg_db_pg_val(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
}

int64_t rg_db_pg_ival(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool rg_db_pg_bval(PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}
