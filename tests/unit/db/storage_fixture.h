/*
 * The two-backend fixture of the storage suites (test_storage.c,
 * test_jobs_storage.c): each test gets a fresh database, an SQLite file or a
 * PostgreSQL database created on the server named by RG_TEST_PG_URL or
 * PGHOST (pg_virtualenv) and dropped afterwards. Each suite is one binary
 * built from one file, so everything here is static.
 *
 * A suite's main() runs its tests with g_backend = SQLITE, then calls
 * fx_pg_find(): 1 when PostgreSQL is there (run them again with g_backend =
 * PG); 0 when it is absent and may be skipped; -1 when it is absent and
 * RG_REQUIRE_PG=1 makes that a failure.
 */
#ifndef RG_TESTS_UNIT_DB_STORAGE_FIXTURE_H
#define RG_TESTS_UNIT_DB_STORAGE_FIXTURE_H

#include "test.h"

#include <stdbool.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "db/db.h"

enum backend { SQLITE, PG };

struct fx {
    enum backend be;
    char url[512];
    char path[256];  /* sqlite file */
    char dbname[64]; /* postgres database */
    struct rg_db *db;
};

static enum backend g_backend;
static char g_pg_base[384]; /* "postgresql://..." without the database */
static int g_seq;

static inline PGconn *pg_admin(void)
{
    char url[512];
    snprintf(url, sizeof url, "%s/postgres?connect_timeout=5", g_pg_base);
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "postgres: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

static inline void pg_cmd(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* A fresh, migrated database of g_backend in *state (a struct fx). */
static inline int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->be = g_backend;
    if (f->be == SQLITE) {
        snprintf(f->path, sizeof f->path, "/tmp/rg_test_storage_%d_%d.db", (int)getpid(), ++g_seq);
        unlink(f->path);
        snprintf(f->url, sizeof f->url, "sqlite:%s", f->path);
    } else {
        snprintf(f->dbname, sizeof f->dbname, "rg_test_%d_%d", (int)getpid(), ++g_seq);
        PGconn *c = pg_admin();
        assert_non_null(c);
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", f->dbname);
        pg_cmd(c, sql);
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", f->dbname);
        pg_cmd(c, sql);
        PQfinish(c);
        snprintf(f->url, sizeof f->url, "%s/%s", g_pg_base, f->dbname);
    }
    struct rg_db_params p;
    rg_db_default_params(&p);
    p.url = f->url;
    p.pool = 4;
    char err[RG_ERR_SIZE] = "";
    f->db = rg_db_open(&p, err);
    if (!f->db) fail_msg("open %s: %s", f->url, err);
    int applied = 0;
    if (rg_db_migrate(f->db, &applied, err) != RG_OK) fail_msg("migrate: %s", err);
    int latest = 0;
    assert_int_equal(rg_db_version(f->db, NULL, &latest, err), RG_OK);
    assert_int_equal(applied, latest); /* every migration ran on the fresh database */
    *state = f;
    return 0;
}

/* Closes the fixture's database and deletes it. */
static inline int teardown(void **state)
{
    struct fx *f = *state;
    rg_db_close(f->db);
    if (f->be == SQLITE) {
        char p[300];
        unlink(f->path);
        snprintf(p, sizeof p, "%s-wal", f->path);
        unlink(p);
        snprintf(p, sizeof p, "%s-shm", f->path);
        unlink(p);
    } else {
        PGconn *c = pg_admin();
        if (c) {
            char sql[128];
            snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", f->dbname);
            pg_cmd(c, sql);
            PQfinish(c);
        }
    }
    free(f);
    return 0;
}

/* One integer from SQL run outside the interface. */
static inline long long raw_int(struct fx *f, const char *sql)
{
    long long v = -1;
    if (f->be == SQLITE) {
        sqlite3 *c;
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_open(f->path, &c), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(c, sql, -1, &st, NULL), SQLITE_OK);
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(c);
    } else {
        char url[512];
        snprintf(url, sizeof url, "%s/%s", g_pg_base, f->dbname);
        PGconn *c = PQconnectdb(url);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
            v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        else
            fail_msg("%s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(c);
    }
    return v;
}

/* A user with this email and role (NULL: the first-account rule); its id. */
static inline int64_t mkuser(struct rg_db *db, const char *email, const char *role,
                             struct rg_db_user *out)
{
    struct rg_db_user tmp;
    if (!out) out = &tmp;
    char err[RG_ERR_SIZE];
    struct rg_db_new_user nu = {
        .email = email, .name = "N", .pw_hash = "$argon2id$x", .role = role, .now = 1000};
    int rc = rg_db_user_create(db, &nu, out, err);
    if (rc) fail_msg("create %s: %s", email, err);
    return out->id;
}

/*
 * Finds the PostgreSQL server for the second run (g_pg_base): RG_TEST_PG_URL,
 * else PGHOST. Returns 1 when there is one, else says on stderr that suite's
 * PostgreSQL half is skipped (0) or, with RG_REQUIRE_PG=1, FAILED (-1).
 */
static inline int fx_pg_find(const char *suite)
{
    const char *url = getenv("RG_TEST_PG_URL");
    if (url && *url)
        snprintf(g_pg_base, sizeof g_pg_base, "%s", url);
    else if (getenv("PGHOST"))
        snprintf(g_pg_base, sizeof g_pg_base, "postgresql://");
    if (!g_pg_base[0]) {
        bool need = getenv("RG_REQUIRE_PG") && !strcmp(getenv("RG_REQUIRE_PG"), "1");
        fprintf(stderr,
                "%s/postgres: %s: no PostgreSQL (set PGHOST, e.g. run under "
                "pg_virtualenv, or RG_TEST_PG_URL)\n",
                suite, need ? "FAILED" : "skipped");
        return need ? -1 : 0;
    }
    /* the database name is appended as "/name": "postgresql://" + "/x" leaves
     * the host to PGHOST, "postgresql://u@h:5432" + "/x" names it */
    size_t n = strlen(g_pg_base);
    if (n > strlen("postgresql://") && g_pg_base[n - 1] == '/') g_pg_base[n - 1] = '\0';
    return 1;
}

#endif
