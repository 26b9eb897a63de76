/*
 * What the account-backed integration suites (test_auth.c,
 * test_auth_attack.c, test_jobs.c) share on top of harness.h: each runs once
 * on SQLite and once more on PostgreSQL when PGHOST names a server (as
 * pg_virtualenv sets it), each server on a database of its own; and they
 * sign up and sign in with the same JSON body. The helpers fail the running
 * cmocka test when something they need does not work.
 */
#ifndef RG_TESTS_HARNESS_AUTH_H
#define RG_TESTS_HARNESS_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "integration/harness.h"

/* True during a suite's PostgreSQL pass (set by rg_harness_pg_pass). */
extern bool rg_harness_pg;

/* Runs sql on the "postgres" database of the PGHOST server (CREATE and DROP
 * DATABASE); fails the test unless it succeeds. */
void rg_harness_pg_cmd(const char *sql);

/* On the PostgreSQL pass, creates a fresh database "<prefix>_<pid>_<n>" for
 * the next server(s) (rg_harness_start_on); on SQLite, does nothing (each
 * server keeps its database in its own data dir). */
void rg_harness_db_new(const char *prefix);
/* Drops the database of rg_harness_db_new (PostgreSQL pass only). */
void rg_harness_db_drop(void);

/* Starts s with "--db" and the current database first on the PostgreSQL
 * pass, then extra (NULL-ended, may be NULL; 30 at most), with the extra
 * environment env (may be NULL); fails the test unless it comes up. */
void rg_harness_start_on(struct rg_server *s, const char *const *extra, const char *const *env);
/* rg_harness_db_new(prefix), then rg_harness_start_on. */
void rg_harness_start(struct rg_server *s, const char *prefix, const char *const *extra,
                      const char *const *env);
/* Stops s (fails the test unless it exits 0), then rg_harness_db_drop. */
void rg_harness_stop(struct rg_server *s);

/*
 * After a suite's SQLite pass: whether to make its PostgreSQL pass. 1 (and
 * rg_harness_pg true from now on) when PGHOST is set; else says on stderr
 * that "<suite>/postgres" is skipped (0) or, with RG_REQUIRE_PG=1, that it
 * FAILED (-1: the suite must fail).
 */
int rg_harness_pg_pass(const char *suite);

/* The body of POST /auth/register or /auth/login: {"email":..,"password":..}
 * (the values are not escaped: the tests pass plain ones). */
void rg_harness_credentials(char *buf, size_t size, const char *email, const char *pw);

#endif
