/*
 * The memory module on SQLite (migration 6): its tables and the one
 * statement runner mem.c uses (mem_internal.h). The rules (ownership, the
 * caps) are in mem.c, each write a single statement or inside BEGIN
 * IMMEDIATE there.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "db/db_internal.h"
#include "db/mem_internal.h"
#include "db/sqlite_internal.h"

const char rg_db_sqlite_mem_migration[] =
    "CREATE TABLE mem_prefs ("
    " owner_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,"
    " prefs TEXT NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE TABLE mem_styles ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " prompt TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE INDEX mem_styles_owner ON mem_styles(owner_id, id);"
    "CREATE TABLE mem_glossary ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " term TEXT NOT NULL,"
    " term_key TEXT NOT NULL,"
    " definition TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " UNIQUE (owner_id, term_key));"
    "CREATE TABLE mem_ratings ("
    " message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " confidence INTEGER,"
    " thumbs TEXT NOT NULL DEFAULT '',"
    " updated_at INTEGER NOT NULL);"
    "CREATE INDEX mem_ratings_owner ON mem_ratings(owner_id, message_id);"
    "CREATE TABLE mem_flags ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " start_at INTEGER NOT NULL,"
    " end_at INTEGER NOT NULL,"
    " quote TEXT NOT NULL,"
    " note TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL);"
    "CREATE INDEX mem_flags_message ON mem_flags(message_id, id);"
    "CREATE INDEX mem_flags_owner ON mem_flags(owner_id, message_id);"
    "ALTER TABLE conversations ADD COLUMN type TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE conversations ADD COLUMN type_auto INTEGER NOT NULL DEFAULT 1;"
    "CREATE INDEX conversations_type ON conversations(owner_id, type);";

#define MEM_COLS_MAX 16

int rg_db_sqlite_mem_exec(void *conn, const char *sql, const struct rg_db_mem_arg *a, int na,
                          rg_db_mem_row_fn fn, void *u, int64_t *changes, char *err)
{
    sqlite3 *c = conn;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK) return rg_db_sq_fail(c, err);
    int rc = SQLITE_OK;
    for (int i = 0; i < na && rc == SQLITE_OK; i++) {
        char name[16];
        snprintf(name, sizeof name, "$%d", i + 1);
        int k = sqlite3_bind_parameter_index(st, name);
        if (!k) continue; /* not used by this statement */
        if (a[i].t == 'i')
            rc = sqlite3_bind_int64(st, k, a[i].i);
        else if (a[i].t == 's' && a[i].s)
            rc = sqlite3_bind_text(st, k, a[i].s, -1, SQLITE_TRANSIENT);
        else
            rc = sqlite3_bind_null(st, k);
    }
    if (rc != SQLITE_OK) {
        int out = rg_db_sq_fail(c, err);
        sqlite3_finalize(st);
        return out;
    }
    int out = RG_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int n = sqlite3_column_count(st);
        if (n > MEM_COLS_MAX) n = MEM_COLS_MAX;
        const char *v[MEM_COLS_MAX];
        for (int i = 0; i < n; i++)
            v[i] = sqlite3_column_type(st, i) == SQLITE_NULL
                       ? NULL
                       : (const char *)sqlite3_column_text(st, i);
        if (fn && (out = fn(u, v, n)) != RG_OK) break;
    }
    if (out == RG_OK && rc != SQLITE_DONE) out = rg_db_sq_fail(c, err);
    if (changes) *changes = sqlite3_changes(c);
    sqlite3_finalize(st);
    return out;
}
