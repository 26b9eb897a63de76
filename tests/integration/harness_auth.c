/* Databases and sign-in for the account-backed integration suites (see harness_auth.h). */
#include "test.h"

#include <libpq-fe.h>

#include "integration/harness_auth.h"

bool rg_harness_pg;

static int g_seq;
static char g_dbname[64];
static char g_dburl[128];

void rg_harness_pg_cmd(const char *sql)
{
    PGconn *c = PQconnectdb("postgresql:///postgres?connect_timeout=5");
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

void rg_harness_db_new(const char *prefix)
{
    if (!rg_harness_pg) return;
    snprintf(g_dbname, sizeof g_dbname, "%s_%d_%d", prefix, (int)getpid(), ++g_seq);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", g_dbname);
    rg_harness_pg_cmd(sql);
    snprintf(g_dburl, sizeof g_dburl, "postgresql:///%s", g_dbname);
}

void rg_harness_db_drop(void)
{
    if (!rg_harness_pg) return;
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", g_dbname);
    rg_harness_pg_cmd(sql);
}

void rg_harness_start_on(struct rg_server *s, const char *const *extra, const char *const *env)
{
    const char *args[32];
    int n = 0;
    if (rg_harness_pg) {
        args[n++] = "--db";
        args[n++] = g_dburl;
    }
    for (int i = 0; extra && extra[i] && n < 30; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    assert_int_equal(rg_server_start(s, args, env), 0);
}

void rg_harness_start(struct rg_server *s, const char *prefix, const char *const *extra,
                      const char *const *env)
{
    rg_harness_db_new(prefix);
    rg_harness_start_on(s, extra, env);
}

void rg_harness_stop(struct rg_server *s)
{
    assert_int_equal(rg_server_stop(s), 0);
    rg_harness_db_drop();
}

int rg_harness_pg_pass(const char *suite)
{
    if (!getenv("PGHOST")) {
        bool need = getenv("RG_REQUIRE_PG") && !strcmp(getenv("RG_REQUIRE_PG"), "1");
        fprintf(stderr, "%s/postgres: %s: no PostgreSQL (PGHOST unset; run under pg_virtualenv)\n",
                suite, need ? "FAILED" : "skipped");
        return need ? -1 : 0;
    }
    rg_harness_pg = true;
    return 1;
}

void rg_harness_credentials(char *buf, size_t size, const char *email, const char *pw)
{
    snprintf(buf, size, "{\"email\":\"%s\",\"password\":\"%s\"}", email, pw);
}
