/*
 * What mem.c (the memory module's operations) asks of its two backends
 * (mem_sqlite.c, mem_pg.c): one statement with its arguments, each row
 * handed over as text. Private to src/db.
 */
#ifndef RG_DB_MEM_INTERNAL_H
#define RG_DB_MEM_INTERNAL_H

#include <stdint.h>

/* An argument: t 's' text (s NULL: SQL NULL), 'i' integer, 'n' NULL. */
struct rg_db_mem_arg {
    char t;
    const char *s;
    int64_t i;
};

/* One row: its n columns as text (NULL: SQL NULL). Non-zero stops (that
 * code is returned). */
typedef int (*rg_db_mem_row_fn)(void *u, const char *const *v, int n);

/*
 * Runs sql, with parameters $1..$na bound from a, calling fn (may be NULL)
 * per row; *changes (may be NULL) the rows changed. RG_OK or the backend's
 * error code (RG_EEXISTS unique, RG_ENOTFOUND foreign key, RG_EBUSY, RG_EIO).
 */
int rg_db_sqlite_mem_exec(void *c, const char *sql, const struct rg_db_mem_arg *a, int na,
                          rg_db_mem_row_fn fn, void *u, int64_t *changes, char *err);
int rg_db_pg_mem_exec(void *c, const char *sql, const struct rg_db_mem_arg *a, int na,
                      rg_db_mem_row_fn fn, void *u, int64_t *changes, char *err);

#endif
