/*
 * The shared storage suite: every behaviour of src/db/db.h, run against the
 * SQLite backend and then against PostgreSQL, each test on a fresh database.
 *
 * PostgreSQL: used when PGHOST is set (pg_virtualenv sets it, with PGUSER and
 * PGPASSWORD: `pg_virtualenv build/unit_db_test_storage`, which is how
 * scripts/test.sh runs the whole suite) or RG_TEST_PG_URL names a server
 * ("postgresql://user:pw@host:port"); each test creates its own database
 * there and drops it afterwards. Without either, the PostgreSQL half is
 * skipped and says so; with RG_REQUIRE_PG=1 (set by scripts/test.sh) that is
 * a failure instead, so CI cannot pass without having run it.
 */
#include "storage_fixture.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "common/alloc.h"
#include "db/db.h"

#define H(c)                                                                                       \
    c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c  \
        c c c c c c c c c c c c c c c c c
#define HASH_A H("a")
#define HASH_B H("b")
#define HASH_C H("c")
#define HASH_D H("d")

/* Runs SQL on the fixture's database outside the interface (to look behind it). */
static void raw(struct fx *f, const char *sql)
{
    if (f->be == SQLITE) {
        sqlite3 *c;
        assert_int_equal(sqlite3_open(f->path, &c), SQLITE_OK);
        char *msg = NULL;
        if (sqlite3_exec(c, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
        sqlite3_close(c);
    } else {
        char url[512];
        snprintf(url, sizeof url, "%s/%s", g_pg_base, f->dbname);
        PGconn *c = PQconnectdb(url);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        pg_cmd(c, sql);
        PQfinish(c);
    }
}

/* ---- schema ----------------------------------------------------------------- */

static void test_migrations(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int cur = -1, latest = -1, applied = -1;
    assert_int_equal(rg_db_version(f->db, &cur, &latest, err), RG_OK);
    assert_int_equal(cur, latest);
    assert_true(latest >= 1);
    assert_int_equal(rg_db_migrate(f->db, &applied, err), RG_OK);
    assert_int_equal(applied, 0); /* nothing twice */
    assert_int_equal(raw_int(f, "SELECT count(*) FROM schema_migrations"), latest);
    /* a database from a newer rustygpt is refused, not written to */
    raw(f, "INSERT INTO schema_migrations(version, name, applied_at) VALUES (999, 'future', 0)");
    assert_int_equal(rg_db_migrate(f->db, &applied, err), RG_EUNSUPPORTED);
    assert_non_null(strstr(err, "newer"));
}

/* ---- users ------------------------------------------------------------------ */

static void test_users(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    struct rg_db_user a, b, u;
    mkuser(f->db, "Alice@Example.COM", NULL, &a);
    assert_string_equal(a.email, "alice@example.com");
    assert_string_equal(a.role, "admin"); /* the first account */
    assert_string_equal(a.pw_hash, "$argon2id$x");
    assert_int_equal(a.created_at, 1000);
    assert_false(a.disabled);
    mkuser(f->db, "bob@example.com", NULL, &b);
    assert_string_equal(b.role, "user");
    assert_true(b.id != a.id);

    struct rg_db_new_user dup = {.email = "ALICE@example.com", .pw_hash = "", .now = 1};
    assert_int_equal(rg_db_user_create(f->db, &dup, &u, err), RG_EEXISTS);
    struct rg_db_new_user bad = {.email = "c@x", .role = "root", .now = 1};
    assert_int_equal(rg_db_user_create(f->db, &bad, &u, err), RG_EINVAL);
    struct rg_db_new_user empty = {.email = "", .now = 1};
    assert_int_equal(rg_db_user_create(f->db, &empty, &u, err), RG_EINVAL);

    assert_int_equal(rg_db_user_by_email(f->db, "BOB@example.com", &u, err), RG_OK);
    assert_int_equal(u.id, b.id);
    assert_int_equal(rg_db_user_get(f->db, a.id, &u, err), RG_OK);
    assert_string_equal(u.email, "alice@example.com");
    assert_int_equal(rg_db_user_get(f->db, 424242, &u, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_user_by_email(f->db, "nobody@example.com", &u, err), RG_ENOTFOUND);

    int64_t n = 0;
    assert_int_equal(rg_db_user_count(f->db, &n, err), RG_OK);
    assert_int_equal(n, 2);
    struct rg_db_user *v = NULL;
    size_t nv = 0;
    assert_int_equal(rg_db_user_list(f->db, &v, &nv, err), RG_OK);
    assert_int_equal(nv, 2);
    assert_int_equal(v[0].id, a.id);
    assert_int_equal(v[1].id, b.id);
    rg_free(v);

    /* changes */
    struct rg_db_user_change ch = {.role = "readonly", .disabled = -1, .pending = -1};
    assert_int_equal(rg_db_user_update(f->db, b.id, &ch, &u, err), RG_OK);
    assert_string_equal(u.role, "readonly");
    ch = (struct rg_db_user_change){.disabled = 1, .pending = -1};
    assert_int_equal(rg_db_user_update(f->db, b.id, &ch, &u, err), RG_OK);
    assert_true(u.disabled);
    assert_string_equal(u.role, "readonly"); /* kept */
    ch = (struct rg_db_user_change){.pw_hash = "$argon2id$new", .disabled = -1, .pending = -1};
    assert_int_equal(rg_db_user_update(f->db, b.id, &ch, &u, err), RG_OK);
    assert_string_equal(u.pw_hash, "$argon2id$new");
    assert_int_equal(rg_db_user_update(f->db, 99999, &ch, &u, err), RG_ENOTFOUND);
    ch = (struct rg_db_user_change){.role = "superuser", .disabled = -1, .pending = -1};
    assert_int_equal(rg_db_user_update(f->db, b.id, &ch, &u, err), RG_EINVAL);

    /* the last enabled admin can be neither demoted nor disabled */
    ch = (struct rg_db_user_change){.role = "user", .disabled = -1, .pending = -1};
    assert_int_equal(rg_db_user_update(f->db, a.id, &ch, &u, err), RG_ESTATE);
    ch = (struct rg_db_user_change){.disabled = 1, .pending = -1};
    assert_int_equal(rg_db_user_update(f->db, a.id, &ch, &u, err), RG_ESTATE);
    assert_int_equal(rg_db_user_get(f->db, a.id, &u, err), RG_OK);
    assert_string_equal(u.role, "admin"); /* nothing changed */
    assert_false(u.disabled);
    /* with a second admin it can */
    ch = (struct rg_db_user_change){.role = "admin", .disabled = 0, .pending = -1};
    assert_int_equal(rg_db_user_update(f->db, b.id, &ch, &u, err), RG_OK);
    ch = (struct rg_db_user_change){.role = "user", .disabled = -1, .pending = -1};
    assert_int_equal(rg_db_user_update(f->db, a.id, &ch, &u, err), RG_OK);
    assert_string_equal(u.role, "user");
}

struct race {
    struct rg_db *db;
    int i;
    int rc;
    struct rg_db_user u;
};

static void *race_create(void *arg)
{
    struct race *r = arg;
    char email[64], err[RG_ERR_SIZE];
    snprintf(email, sizeof email, "racer%d@example.com", r->i);
    struct rg_db_new_user nu = {.email = email, .pw_hash = "h", .now = 5};
    r->rc = rg_db_user_create(r->db, &nu, &r->u, err);
    return NULL;
}

static void test_first_admin_race(void **state)
{
    struct fx *f = *state;
    enum { N = 8 };
    pthread_t t[N];
    struct race r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct race){.db = f->db, .i = i};
        pthread_create(&t[i], NULL, race_create, &r[i]);
    }
    int admins = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].rc, RG_OK);
        admins += !strcmp(r[i].u.role, "admin");
    }
    assert_int_equal(admins, 1);
}

/* Closed sign-up on an empty database: 12 at once, several rounds; the
 * policy and the first-admin rule are one transaction, so exactly one
 * account (the admin) is made each round. */
struct policy_race {
    struct rg_db *db;
    int i, round;
    bool closed;
    int rc;
    struct rg_db_user u;
    pthread_barrier_t *go;
};

static void *race_policy(void *arg)
{
    struct policy_race *r = arg;
    char email[64], err[RG_ERR_SIZE];
    snprintf(email, sizeof email, "r%d-%d@example.com", r->round, r->i);
    struct rg_db_new_user nu = {
        .email = email, .pw_hash = "h", .pending = !r->closed, .first_only = r->closed, .now = 5};
    pthread_barrier_wait(r->go);
    r->rc = rg_db_user_create(r->db, &nu, &r->u, err);
    return NULL;
}

static void policy_race_rounds(struct fx *f, bool closed)
{
    enum { N = 12, ROUNDS = 4 };
    char err[RG_ERR_SIZE];
    for (int round = 0; round < ROUNDS; round++) {
        raw(f, "DELETE FROM users");
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, N);
        pthread_t t[N];
        struct policy_race r[N];
        for (int i = 0; i < N; i++) {
            r[i] = (struct policy_race){
                .db = f->db, .i = i, .round = round, .closed = closed, .go = &go};
            pthread_create(&t[i], NULL, race_policy, &r[i]);
        }
        int made = 0, admins = 0, unapproved = 0;
        for (int i = 0; i < N; i++) {
            pthread_join(t[i], NULL);
            if (r[i].rc == RG_OK) {
                made++;
                admins += !strcmp(r[i].u.role, "admin");
                unapproved += !r[i].u.pending;
            } else {
                assert_int_equal(r[i].rc, RG_EPERM);
                assert_true(closed);
            }
        }
        pthread_barrier_destroy(&go);
        assert_int_equal(admins, 1);
        assert_int_equal(unapproved, 1); /* only the first admin skips approval */
        assert_int_equal(made, closed ? 1 : N);
        int64_t n = 0;
        assert_int_equal(rg_db_user_count(f->db, &n, err), RG_OK);
        assert_int_equal(n, made);
    }
}

static void test_signup_policy_race(void **state)
{
    struct fx *f = *state;
    policy_race_rounds(f, true);  /* --signup closed */
    policy_race_rounds(f, false); /* --signup approval */
}

/* Closed sign-up through a provider: only the first account, decided inside. */
static void test_identity_first_only(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    struct rg_db_user u;
    bool created = false;
    struct rg_db_identity_in in = {.provider = "github",
                                   .subject = "1",
                                   .email = "first@example.com",
                                   .allow_create = true,
                                   .first_only = true,
                                   .now = 10};
    assert_int_equal(rg_db_identity_link(f->db, &in, &u, &created, err), RG_OK);
    assert_true(created);
    assert_string_equal(u.role, "admin");
    in.subject = "2";
    in.email = "second@example.com";
    assert_int_equal(rg_db_identity_link(f->db, &in, &u, &created, err), RG_ENOTFOUND);
    assert_false(created);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM users"), 1);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM identities"), 1);
    /* the known identity still signs in */
    in.subject = "1";
    in.email = "first@example.com";
    assert_int_equal(rg_db_identity_link(f->db, &in, &u, &created, err), RG_OK);
    assert_false(created);
}

/* What an access token may do: the current role and state, the session. */
static void test_token_state(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    struct rg_db_user a, b, u;
    mkuser(f->db, "admin@example.com", "admin", &a);
    mkuser(f->db, "bob@example.com", "admin", &b);
    struct rg_db_session s;
    assert_int_equal(rg_db_session_create(f->db, b.id, HASH_A, 9999999999, "ua", 1000, &s, err),
                     RG_OK);
    struct rg_db_token_state ts;
    assert_int_equal(rg_db_token_state(f->db, b.id, s.family, &ts, err), RG_OK);
    assert_string_equal(ts.role, "admin");
    assert_true(ts.active);
    assert_true(ts.session_live);
    /* another user's family is not b's session */
    assert_int_equal(rg_db_token_state(f->db, a.id, s.family, &ts, err), RG_OK);
    assert_false(ts.session_live);
    /* demoted: the new role at once */
    struct rg_db_user_change ch = {.role = "user", .disabled = -1, .pending = -1};
    assert_int_equal(rg_db_user_update(f->db, b.id, &ch, &u, err), RG_OK);
    assert_int_equal(rg_db_token_state(f->db, b.id, s.family, &ts, err), RG_OK);
    assert_string_equal(ts.role, "user");
    assert_true(ts.session_live);
    /* disabled: inactive and its sessions revoked */
    ch = (struct rg_db_user_change){.disabled = 1, .pending = -1};
    assert_int_equal(rg_db_user_update(f->db, b.id, &ch, &u, err), RG_OK);
    assert_int_equal(rg_db_token_state(f->db, b.id, s.family, &ts, err), RG_OK);
    assert_false(ts.active);
    assert_false(ts.session_live);
    /* signed out: the family is dead */
    assert_int_equal(rg_db_session_create(f->db, a.id, HASH_B, 9999999999, "ua", 1000, &s, err),
                     RG_OK);
    assert_int_equal(rg_db_session_revoke(f->db, HASH_B, 1001, err), RG_OK);
    assert_int_equal(rg_db_token_state(f->db, a.id, s.family, &ts, err), RG_OK);
    assert_true(ts.active);
    assert_false(ts.session_live);
    /* an unknown user is inactive; a bad family is refused */
    assert_int_equal(rg_db_token_state(f->db, 999999, s.family, &ts, err), RG_OK);
    assert_false(ts.active);
    assert_int_equal(rg_db_token_state(f->db, a.id, NULL, &ts, err), RG_EINVAL);
    /* the last enabled admin stays */
    ch = (struct rg_db_user_change){.role = "user", .disabled = -1, .pending = -1};
    assert_int_equal(rg_db_user_update(f->db, a.id, &ch, &u, err), RG_ESTATE);
    assert_non_null(strstr(err, "last enabled admin"));
    ch = (struct rg_db_user_change){.disabled = 1, .pending = -1};
    assert_int_equal(rg_db_user_update(f->db, a.id, &ch, &u, err), RG_ESTATE);
    assert_int_equal(rg_db_user_get(f->db, a.id, &u, err), RG_OK);
    assert_string_equal(u.role, "admin");
    assert_false(u.disabled);
}

/* ---- sign-in ---------------------------------------------------------------- */

static void test_login_attempts(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    struct rg_db_user a;
    mkuser(f->db, "alice@example.com", NULL, &a);
    struct rg_db_login l;
    assert_int_equal(rg_db_login(f->db, "nobody@example.com", "10.0.0.1", 900, 2000, &l, err),
                     RG_OK);
    assert_false(l.found);
    assert_true(l.attempt_id > 0);
    assert_int_equal(l.failures_addr, 0);

    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            rg_db_login(f->db, "ALICE@example.com", "10.0.0.1", 900, 2001 + i, &l, err), RG_OK);
        assert_true(l.found);
        assert_int_equal(l.user.id, a.id);
        assert_string_equal(l.user.pw_hash, "$argon2id$x");
        assert_int_equal(l.failures_pair, i);
        assert_int_equal(l.last_failure_at, i ? 2001 + i - 1 : 0);
        assert_int_equal(l.failures_addr, i + 1); /* the unknown email counted too */
    }
    /* from another address: that pair has no failures (10.0.0.1 cannot lock
     * alice out of 10.0.0.2) */
    assert_int_equal(rg_db_login(f->db, "alice@example.com", "10.0.0.2", 900, 2010, &l, err),
                     RG_OK);
    assert_int_equal(l.failures_pair, 0);
    assert_int_equal(l.last_failure_at, 0);
    assert_int_equal(l.failures_addr, 0);
    /* success there clears only that pair's failures */
    assert_int_equal(rg_db_login_succeeded(f->db, l.attempt_id, err), RG_OK);
    assert_int_equal(rg_db_login(f->db, "alice@example.com", "10.0.0.1", 900, 2011, &l, err),
                     RG_OK);
    assert_int_equal(l.failures_pair, 3);
    assert_int_equal(l.last_failure_at, 2003);
    assert_int_equal(l.failures_addr, 4);
    /* success from 10.0.0.1 clears its pair */
    assert_int_equal(rg_db_login_succeeded(f->db, l.attempt_id, err), RG_OK);
    assert_int_equal(rg_db_login(f->db, "alice@example.com", "10.0.0.1", 900, 2012, &l, err),
                     RG_OK);
    assert_int_equal(l.failures_pair, 0);
    /* outside the window nothing counts */
    assert_int_equal(rg_db_login(f->db, "alice@example.com", "10.0.0.1", 900, 2012 + 901, &l, err),
                     RG_OK);
    assert_int_equal(l.failures_pair, 0);
    assert_int_equal(l.failures_addr, 0);
    assert_int_equal(rg_db_login_succeeded(f->db, 987654, err), RG_ENOTFOUND);
    /* attempts older than a day are pruned */
    assert_int_equal(rg_db_login(f->db, "x@example.com", "10.0.0.9", 900, 2011 + 90000, &l, err),
                     RG_OK);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM login_attempts"), 1);
}

/* ---- sessions ----------------------------------------------------------------- */

static void test_sessions(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    struct rg_db_user a, u;
    mkuser(f->db, "alice@example.com", NULL, &a);
    mkuser(f->db, "bob@example.com", NULL, NULL);
    struct rg_db_session s, s2;
    assert_int_equal(rg_db_session_create(f->db, a.id, HASH_A, 5000, "curl/8", 1000, &s, err),
                     RG_OK);
    assert_int_equal(s.user_id, a.id);
    assert_int_equal(strlen(s.family), 32);
    assert_int_equal(s.expires_at, 5000);
    assert_int_equal(rg_db_session_create(f->db, 77777, HASH_D, 5000, "", 1000, &s2, err),
                     RG_ENOTFOUND);

    assert_int_equal(rg_db_session_validate(f->db, HASH_A, 1001, &s2, &u, err), RG_OK);
    assert_int_equal(u.id, a.id);
    assert_int_equal(s2.id, s.id);
    assert_int_equal(rg_db_session_validate(f->db, HASH_A, 5000, &s2, &u, err), RG_EAUTH);
    assert_int_equal(rg_db_session_validate(f->db, HASH_B, 1001, &s2, &u, err), RG_EAUTH);
    assert_int_equal(rg_db_session_validate(f->db, "zz' OR 1=1 --", 1001, &s2, &u, err), RG_EAUTH);

    /* rotation: the old token dies, the new one lives in the same family */
    bool reuse = true;
    assert_int_equal(
        rg_db_session_rotate(f->db, HASH_A, HASH_B, 6000, "curl/8", 1100, &s2, &u, &reuse, err),
        RG_OK);
    assert_false(reuse);
    assert_string_equal(s2.family, s.family);
    assert_int_equal(s2.expires_at, 6000);
    assert_int_equal(u.id, a.id);
    assert_int_equal(rg_db_session_validate(f->db, HASH_A, 1101, &s2, &u, err), RG_EAUTH);
    assert_int_equal(rg_db_session_validate(f->db, HASH_B, 1101, &s2, &u, err), RG_OK);

    /* reuse of the replaced token revokes the family, the new token too */
    assert_int_equal(
        rg_db_session_rotate(f->db, HASH_A, HASH_C, 6000, "", 1200, &s2, &u, &reuse, err),
        RG_EAUTH);
    assert_true(reuse);
    assert_int_equal(rg_db_session_validate(f->db, HASH_B, 1201, &s2, &u, err), RG_EAUTH);
    assert_int_equal(rg_db_session_validate(f->db, HASH_C, 1201, &s2, &u, err), RG_EAUTH);
    reuse = true;
    assert_int_equal(
        rg_db_session_rotate(f->db, HASH_B, HASH_C, 6000, "", 1200, &s2, &u, &reuse, err),
        RG_EAUTH);
    assert_false(reuse); /* revoked, not replaced */

    /* expired tokens do not rotate */
    assert_int_equal(rg_db_session_create(f->db, a.id, HASH_D, 1300, "", 1250, &s, err), RG_OK);
    assert_int_equal(
        rg_db_session_rotate(f->db, HASH_D, H("e"), 9000, "", 1300, &s2, &u, &reuse, err),
        RG_EAUTH);

    /* sign-out revokes the family */
    assert_int_equal(rg_db_session_create(f->db, a.id, H("f"), 9000, "", 1250, &s, err), RG_OK);
    assert_int_equal(
        rg_db_session_rotate(f->db, H("f"), H("0"), 9000, "", 1260, &s2, &u, &reuse, err), RG_OK);
    assert_int_equal(rg_db_session_revoke(f->db, H("0"), 1270, err), RG_OK);
    assert_int_equal(rg_db_session_validate(f->db, H("0"), 1271, &s2, &u, err), RG_EAUTH);
    assert_int_equal(rg_db_session_revoke(f->db, H("9"), 1270, err), RG_ENOTFOUND);

    /* disabling a user ends their sessions */
    assert_int_equal(rg_db_session_create(f->db, a.id, H("1"), 9000, "", 1300, &s, err), RG_OK);
    struct rg_db_user b;
    assert_int_equal(rg_db_user_by_email(f->db, "bob@example.com", &b, err), RG_OK);
    assert_int_equal(rg_db_session_create(f->db, b.id, H("2"), 9000, "", 1300, &s, err), RG_OK);
    struct rg_db_user_change ch = {.disabled = 1, .pending = -1};
    assert_int_equal(rg_db_user_update(f->db, b.id, &ch, &u, err), RG_OK);
    assert_int_equal(rg_db_session_validate(f->db, H("2"), 1301, &s2, &u, err), RG_EAUTH);
    ch.disabled = 0;
    assert_int_equal(rg_db_user_update(f->db, b.id, &ch, &u, err), RG_OK);
    assert_int_equal(rg_db_session_validate(f->db, H("2"), 1301, &s2, &u, err), RG_EAUTH);
    /* revoke_user */
    assert_int_equal(rg_db_session_validate(f->db, H("1"), 1301, &s2, &u, err), RG_OK);
    assert_int_equal(rg_db_session_revoke_user(f->db, a.id, 1302, err), RG_OK);
    assert_int_equal(rg_db_session_validate(f->db, H("1"), 1303, &s2, &u, err), RG_EAUTH);
}

struct rot {
    struct rg_db *db;
    const char *new_hash;
    int rc;
    bool reuse;
};

static void *race_rotate(void *arg)
{
    struct rot *r = arg;
    struct rg_db_session s;
    struct rg_db_user u;
    char err[RG_ERR_SIZE];
    r->rc =
        rg_db_session_rotate(r->db, HASH_A, r->new_hash, 9000, "", 1100, &s, &u, &r->reuse, err);
    return NULL;
}

/* Two clients rotating the same token at once: one wins, the other is a reuse. */
static void test_rotation_race(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    struct rg_db_user a;
    struct rg_db_session s;
    mkuser(f->db, "alice@example.com", NULL, &a);
    assert_int_equal(rg_db_session_create(f->db, a.id, HASH_A, 9000, "", 1000, &s, err), RG_OK);
    struct rot r[2] = {{f->db, HASH_B, 0, false}, {f->db, HASH_C, 0, false}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, race_rotate, &r[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal((r[0].rc == RG_OK) + (r[1].rc == RG_OK), 1);
    assert_true(r[0].reuse || r[1].reuse);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM sessions WHERE revoked_at IS NULL"), 0);
}

/* ---- identities ------------------------------------------------------------------ */

static void test_identities(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    struct rg_db_user u, u2;
    bool created = false;
    struct rg_db_identity_in in = {.provider = "github",
                                   .subject = "12345",
                                   .email = "Octo@Example.com",
                                   .name = "Octo",
                                   .pending = true,
                                   .allow_create = true,
                                   .now = 50};
    assert_int_equal(rg_db_identity_link(f->db, &in, &u, &created, err), RG_OK);
    assert_true(created);
    assert_string_equal(u.email, "octo@example.com");
    assert_string_equal(u.role, "admin"); /* first account of the database */
    assert_string_equal(u.pw_hash, "");
    assert_false(u.pending); /* the first account is never left waiting */
    /* the same identity again: the same account */
    assert_int_equal(rg_db_identity_link(f->db, &in, &u2, &created, err), RG_OK);
    assert_false(created);
    assert_int_equal(u2.id, u.id);

    /* an email that belongs to another account is not taken over */
    struct rg_db_user b;
    mkuser(f->db, "bob@example.com", NULL, &b);
    int64_t before = raw_int(f, "SELECT count(*) FROM users");
    struct rg_db_identity_in steal = {.provider = "apple",
                                      .subject = "001.x",
                                      .email = "BOB@example.com",
                                      .allow_create = true,
                                      .now = 60};
    assert_int_equal(rg_db_identity_link(f->db, &steal, &u2, &created, err), RG_EEXISTS);
    assert_false(created);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM users"), before);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM identities"), 1);
    /* but Bob, signed in, can link it */
    steal.signed_in_user = b.id;
    assert_int_equal(rg_db_identity_link(f->db, &steal, &u2, &created, err), RG_OK);
    assert_false(created);
    assert_int_equal(u2.id, b.id);
    /* one identity per provider per account */
    struct rg_db_identity_in second = {
        .provider = "apple", .subject = "002.y", .signed_in_user = b.id, .now = 70};
    assert_int_equal(rg_db_identity_link(f->db, &second, &u2, &created, err), RG_EEXISTS);
    /* no email from the provider: an account all the same */
    struct rg_db_identity_in anon = {
        .provider = "apple", .subject = "003.z", .pending = true, .now = 80};
    /* closed sign-up: an unknown identity makes no account */
    before = raw_int(f, "SELECT count(*) FROM users");
    assert_int_equal(rg_db_identity_link(f->db, &anon, &u2, &created, err), RG_ENOTFOUND);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM users"), before);
    anon.allow_create = true;
    assert_int_equal(rg_db_identity_link(f->db, &anon, &u2, &created, err), RG_OK);
    assert_true(created);
    assert_string_equal(u2.role, "user");
    assert_true(u2.pending);
    assert_string_equal(u2.email, "apple:003.z");
}

/* ---- API keys ---------------------------------------------------------------------- */

static void test_api_keys(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE], hash[72];
    struct rg_db_user a, b, owner;
    mkuser(f->db, "alice@example.com", NULL, &a);
    mkuser(f->db, "bob@example.com", NULL, &b);
    struct rg_db_apikey k1, k2, k;
    assert_int_equal(
        rg_db_apikey_create(f->db, a.id, "laptop", "rg_aaaa1111", HASH_A, "", 100, &k1, err),
        RG_OK);
    assert_string_equal(k1.prefix, "rg_aaaa1111");
    assert_string_equal(k1.name, "laptop");
    assert_int_equal(k1.last_used_at, 0);
    assert_int_equal(
        rg_db_apikey_create(f->db, b.id, "ci", "rg_bbbb2222", HASH_B, "", 101, &k2, err), RG_OK);
    assert_int_equal(
        rg_db_apikey_create(f->db, b.id, "dup", "rg_bbbb2222", HASH_C, "", 102, &k, err),
        RG_EEXISTS);

    struct rg_db_apikey *v = NULL;
    size_t n = 0;
    assert_int_equal(rg_db_apikey_list(f->db, a.id, &v, &n, err), RG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, k1.id);
    rg_free(v);
    assert_int_equal(rg_db_apikey_list(f->db, 0, &v, &n, err), RG_OK);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].id, k2.id); /* newest first */
    rg_free(v);

    assert_int_equal(rg_db_apikey_lookup(f->db, "rg_aaaa1111", 500, &k, hash, &owner, err), RG_OK);
    assert_string_equal(hash, HASH_A);
    assert_int_equal(owner.id, a.id);
    assert_string_equal(owner.role, "admin");
    assert_int_equal(raw_int(f, "SELECT last_used_at FROM api_keys WHERE prefix = 'rg_aaaa1111'"),
                     500);
    assert_int_equal(rg_db_apikey_lookup(f->db, "rg_nope", 500, &k, hash, &owner, err),
                     RG_ENOTFOUND);

    /* Bob cannot revoke Alice's key; an admin call (owner 0) can */
    assert_int_equal(rg_db_apikey_revoke(f->db, k1.id, b.id, 600, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_apikey_lookup(f->db, "rg_aaaa1111", 601, &k, hash, &owner, err), RG_OK);
    assert_int_equal(rg_db_apikey_revoke(f->db, k1.id, 0, 602, err), RG_OK);
    assert_int_equal(rg_db_apikey_lookup(f->db, "rg_aaaa1111", 603, &k, hash, &owner, err),
                     RG_ENOTFOUND);
    assert_int_equal(rg_db_apikey_revoke(f->db, k1.id, 0, 604, err), RG_ENOTFOUND);
    /* a disabled owner's keys stop working */
    struct rg_db_user_change ch = {.disabled = 1, .pending = -1};
    struct rg_db_user u;
    assert_int_equal(rg_db_user_update(f->db, b.id, &ch, &u, err), RG_OK);
    assert_int_equal(rg_db_apikey_lookup(f->db, "rg_bbbb2222", 605, &k, hash, &owner, err),
                     RG_ENOTFOUND);
}

/* ---- hostile input ---------------------------------------------------------------- */

static void test_injection(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    static const char *evil[] = {
        "x'); DROP TABLE users; --@example.com",
        "\" OR \"\"=\"@example.com",
        "a@b.c' OR '1'='1",
        "robert'); DELETE FROM users WHERE ('1'='1@example.com",
        "$1; SELECT pg_sleep(10); --@x",
    };
    struct rg_db_user u;
    for (size_t i = 0; i < sizeof evil / sizeof *evil; i++) {
        struct rg_db_new_user nu = {
            .email = evil[i], .name = evil[(i + 1) % 5], .pw_hash = evil[i], .now = 1};
        assert_int_equal(rg_db_user_create(f->db, &nu, &u, err), RG_OK);
        assert_string_equal(u.name, evil[(i + 1) % 5]); /* stored verbatim */
        struct rg_db_login l;
        assert_int_equal(rg_db_login(f->db, evil[i], evil[i], 60, 10, &l, err), RG_OK);
        assert_true(l.found);
        assert_int_equal(l.user.id, u.id);
    }
    assert_int_equal(raw_int(f, "SELECT count(*) FROM users"), 5);
    struct rg_db_apikey k;
    struct rg_db_user owner;
    char hash[72];
    assert_int_equal(rg_db_apikey_lookup(f->db, "' OR '1'='1", 1, &k, hash, &owner, err),
                     RG_ENOTFOUND);
    struct rg_db_user_change ch = {.role = "admin' --", .disabled = -1, .pending = -1};
    assert_int_equal(rg_db_user_update(f->db, u.id, &ch, &u, err), RG_EINVAL);
    /* control characters are refused before they reach the database */
    struct rg_db_new_user nul = {.email = "a\nb@example.com", .now = 1};
    assert_int_equal(rg_db_user_create(f->db, &nul, &u, err), RG_EINVAL);
    char longmail[400];
    memset(longmail, 'a', sizeof longmail - 1);
    longmail[sizeof longmail - 1] = '\0';
    struct rg_db_new_user lng = {.email = longmail, .now = 1};
    assert_int_equal(rg_db_user_create(f->db, &lng, &u, err), RG_EINVAL);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM users"), 5);
}

/* ---- opening ------------------------------------------------------------------ */

static void test_open_errors(void **state)
{
    (void)state;
    char err[RG_ERR_SIZE];
    struct rg_db_params p;
    rg_db_default_params(&p);
    p.url = "mysql://x";
    assert_null(rg_db_open(&p, err));
    assert_non_null(strstr(err, "sqlite:PATH"));
    p.url = "sqlite:";
    assert_null(rg_db_open(&p, err));
    /* a file that is not a database */
    const char *path = "/tmp/rg_test_storage_notadb";
    FILE *fp = fopen(path, "w");
    for (int i = 0; i < 200; i++)
        fputs("this is not a database file at all\n", fp);
    fclose(fp);
    char url[300];
    snprintf(url, sizeof url, "sqlite:%s", path);
    p.url = url;
    assert_null(rg_db_open(&p, err));
    assert_non_null(strstr(err, "not a database"));
    unlink(path);
    /* a directory that does not exist */
    p.url = "sqlite:/nonexistent-dir-rg/x.db";
    assert_null(rg_db_open(&p, err));
    /* a PostgreSQL server that is not there */
    p.url = "postgresql://rg@127.0.0.1:1/none?connect_timeout=2";
    assert_null(rg_db_open(&p, err));
    assert_true(strlen(err) > 0);
}

#define SUITE(name)                                                                                \
    cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_users, setup, teardown),                              \
        cmocka_unit_test_setup_teardown(test_first_admin_race, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(test_signup_policy_race, setup, teardown),                 \
        cmocka_unit_test_setup_teardown(test_token_state, setup, teardown),                        \
        cmocka_unit_test_setup_teardown(test_identity_first_only, setup, teardown),                \
        cmocka_unit_test_setup_teardown(test_login_attempts, setup, teardown),                     \
        cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),                           \
        cmocka_unit_test_setup_teardown(test_rotation_race, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(test_identities, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_api_keys, setup, teardown),                           \
        cmocka_unit_test_setup_teardown(test_injection, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {SUITE(x), cmocka_unit_test(test_open_errors)};
    g_backend = SQLITE;
    int failed = cmocka_run_group_tests_name("storage/sqlite", tests, NULL, NULL);

    int pg = fx_pg_find("storage");
    if (pg <= 0) return failed + (pg < 0 ? 1 : 0);
    g_backend = PG;
    const struct CMUnitTest pg_tests[] = {SUITE(x)};
    failed += cmocka_run_group_tests_name("storage/postgres", pg_tests, NULL, NULL);
    return failed;
}
