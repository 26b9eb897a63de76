/*
 * What the PostgreSQL backend's files (db_pg.c for accounts, jobs_pg.c for
 * the job queue) share: running a statement with its parameters described by
 * a letter string, mapping SQLSTATEs to RG_E* codes, and reading a result's
 * cells. Private to src/db.
 */
#ifndef RG_DB_PG_INTERNAL_H
#define RG_DB_PG_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

/*
 * The failure of r (or, r NULL, of the connection c) as an RG_E* code, with
 * the first line of libpq's message in err:
 *   RG_EEXISTS    23505 unique violation
 *   RG_ENOTFOUND  23503 foreign key violation ("no such user": every
 *                 foreign key of the schema points at users)
 *   RG_EBUSY      40001 serialization failure, 40P01 deadlock, 55P03 lock
 *                 not available
 *   RG_EIO        anything else
 * Returns the code.
 */
int rg_db_pg_fail(PGconn *c, PGresult *r, char *err);

/*
 * Runs sql with the parameters ($1, $2, ...) described by fmt (NULL or ""
 * for none), one letter each, at most 12:
 *   s  const char * (NULL = SQL NULL)    i  int64_t
 *   o  int64_t, 0 = SQL NULL (an absent owner)
 *   d  double                            b  int, as a boolean
 * Returns the result (the caller PQclear's it) when it has rows or is a
 * command, with *rc RG_OK; else NULL with *rc and err set by rg_db_pg_fail
 * (a broken connection is reset, so the next call gets a fresh one).
 */
PGresult *rg_db_pg_query(PGconn *c, int *rc, char *err, const char *sql, const char *fmt, ...);

/* Cell (row, col) of r as text ("" for NULL), as an integer (0 for NULL),
 * as a boolean (false for NULL). */
const char *rg_db_pg_val(PGresult *r, int row, int col);
int64_t rg_db_pg_ival(PGresult *r, int row, int col);
bool rg_db_pg_bval(PGresult *r, int row, int col);

#endif
