/*
 * What the SQLite backend's files (db_sqlite.c for accounts, jobs_sqlite.c
 * for the job queue) share: preparing a statement with its parameters bound
 * from a letter string, mapping SQLite's errors to RG_E* codes, and the few
 * step/transaction helpers both use. Private to src/db.
 */
#ifndef RG_DB_SQLITE_INTERNAL_H
#define RG_DB_SQLITE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

/*
 * The last error on c as an RG_E* code, with SQLite's message in err:
 *   RG_EEXISTS    a UNIQUE or PRIMARY KEY constraint failed
 *   RG_ENOTFOUND  a FOREIGN KEY constraint failed ("no such user": every
 *                 foreign key of the schema points at users)
 *   RG_EBUSY      the database is busy or locked
 *   RG_EIO        anything else
 * Returns the code.
 */
int rg_db_sq_fail(sqlite3 *c, char *err);

/*
 * Prepares sql and binds the arguments described by fmt (NULL or "" for
 * none) to ?1, ?2, ... in order, one letter each:
 *   s  const char * (NULL binds NULL)    i  int64_t
 *   o  int64_t, 0 binds NULL (an absent owner)
 *   d  double                            b  int, bound as 0/1
 * Returns the statement (the caller finalizes it) or NULL with err set by
 * rg_db_sq_fail. A letter outside this list is a programming error.
 */
sqlite3_stmt *rg_db_sq_prep(sqlite3 *c, char *err, const char *sql, const char *fmt, ...);

/*
 * Steps st (which may be NULL: a failed rg_db_sq_prep, then RG_EIO with err
 * already set) to its end, ignoring rows, and finalizes it. *changes (may be
 * NULL) gets sqlite3_changes() once it has run. RG_OK or rg_db_sq_fail's code.
 */
int rg_db_sq_run(sqlite3 *c, sqlite3_stmt *st, int64_t *changes, char *err);

/* The first column of st's first row as an integer, 0 when there is no row;
 * finalizes st (NULL: RG_EIO, err set by the failed prepare). RG_OK or
 * rg_db_sq_fail's code. */
int rg_db_sq_one_int(sqlite3 *c, sqlite3_stmt *st, int64_t *v, char *err);

/* Runs parameterless sql (one or more statements). RG_OK or rg_db_sq_fail's code. */
int rg_db_sq_exec(sqlite3 *c, const char *sql, char *err);

/* BEGIN IMMEDIATE: takes the write lock up front, so two connections never
 * deadlock upgrading a read lock. RG_OK or rg_db_sq_fail's code. */
int rg_db_sq_begin(sqlite3 *c, char *err);

/*
 * Ends the transaction of rg_db_sq_begin: commits when rc is RG_OK (or keep
 * is true: work that must stay although the call fails), rolls back
 * otherwise. Returns rc (err untouched), or the commit's code with its
 * message in err (the transaction then rolled back).
 */
int rg_db_sq_finish(sqlite3 *c, int rc, bool keep, char *err);

/* Column i of st's current row as text, "" for NULL. */
const char *rg_db_sq_text(sqlite3_stmt *st, int i);

#endif
