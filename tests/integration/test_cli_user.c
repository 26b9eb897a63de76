/* rustygpt user and rustygpt db against a real database file (and
 * PostgreSQL when PGHOST is set), then the accounts they make used by serve. */
#include "test.h"

#include <stdbool.h>
#include <sys/stat.h>

#include "integration/harness.h"

static char g_dir[128];
static char g_db[300];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/rg_cli_user_%d", (int)getpid());
    mkdir(g_dir, 0700);
    snprintf(g_db, sizeof g_db, "sqlite:%s/accounts.db", g_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int cli(const char *const *args, const char *in, struct rg_run *r)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(rg_run_cli(args, NULL, in, 60, r), 0);
    return r->status;
}

static void test_db_commands(void **state)
{
    (void)state;
    struct rg_run r;
    const char *check[] = {"db", "check", "--db", g_db, NULL};
    assert_int_equal(cli(check, NULL, &r), 1); /* empty: behind */
    assert_non_null(strstr(r.err, "rustygpt db migrate"));
    assert_non_null(strstr(r.out, "schema version 0"));
    rg_run_free(&r);
    const char *migrate[] = {"db", "migrate", "--db", g_db, NULL};
    assert_int_equal(cli(migrate, NULL, &r), 0);
    /* every migration this binary knows, however many that is ("N migration(s) applied") */
    const char *m = strstr(r.out, " migration");
    assert_non_null(m);
    const char *d = m;
    while (d > r.out && d[-1] >= '0' && d[-1] <= '9')
        d--;
    assert_true(d < m && atoi(d) >= 1);
    rg_run_free(&r);
    assert_int_equal(cli(migrate, NULL, &r), 0);
    assert_non_null(strstr(r.out, "0 migrations applied"));
    rg_run_free(&r);
    assert_int_equal(cli(check, NULL, &r), 0);
    assert_non_null(strstr(r.out, "backend sqlite"));
    rg_run_free(&r);
    /* seed: demo accounts once, then refuses */
    const char *seed[] = {"db", "seed", "--db", g_db, NULL};
    assert_int_equal(cli(seed, NULL, &r), 0);
    assert_non_null(strstr(r.out, "admin@example.com"));
    assert_non_null(strstr(r.out, "user@example.com"));
    rg_run_free(&r);
    assert_int_equal(cli(seed, NULL, &r), 1);
    assert_non_null(strstr(r.err, "--force"));
    rg_run_free(&r);
    const char *bad[] = {"db", "frobnicate", NULL};
    assert_int_equal(cli(bad, NULL, &r), 2);
    rg_run_free(&r);
    const char *badurl[] = {"db", "check", "--db", "mysql://x", NULL};
    assert_int_equal(cli(badurl, NULL, &r), 1);
    assert_non_null(strstr(r.err, "sqlite:PATH"));
    rg_run_free(&r);
}

static void test_user_commands(void **state)
{
    (void)state;
    char db[300];
    snprintf(db, sizeof db, "sqlite:%s/users.db", g_dir);
    struct rg_run r;
    const char *add[] = {
        "user", "add", "root@example.com", "--name", "Root", "--password-stdin", "--db", db, NULL};
    assert_int_equal(cli(add, "correct horse battery\n", &r), 0);
    assert_non_null(strstr(r.out, "role admin")); /* the first account */
    rg_run_free(&r);
    assert_int_equal(cli(add, "correct horse battery\n", &r), 1); /* twice */
    assert_non_null(strstr(r.err, "exists"));
    rg_run_free(&r);
    const char *add2[] = {"user", "add", "ann@example.com", "--password-stdin", "--db", db, NULL};
    assert_int_equal(cli(add2, "short\n", &r), 1); /* rules apply */
    assert_non_null(strstr(r.err, "at least 8"));
    rg_run_free(&r);
    assert_int_equal(cli(add2, "another good one\n", &r), 0);
    assert_non_null(strstr(r.out, "role user"));
    rg_run_free(&r);
    const char *role[] = {"user", "role", "ann@example.com", "readonly", "--db", db, NULL};
    assert_int_equal(cli(role, NULL, &r), 0);
    rg_run_free(&r);
    const char *badrole[] = {"user", "role", "ann@example.com", "god", "--db", db, NULL};
    assert_int_equal(cli(badrole, NULL, &r), 2);
    rg_run_free(&r);
    const char *demote[] = {"user", "role", "root@example.com", "user", "--db", db, NULL};
    assert_int_equal(cli(demote, NULL, &r), 1); /* the last admin stays */
    assert_non_null(strstr(r.err, "admin"));
    rg_run_free(&r);
    const char *dis[] = {"user", "disable", "ann@example.com", "--db", db, NULL};
    assert_int_equal(cli(dis, NULL, &r), 0);
    rg_run_free(&r);
    const char *list[] = {"user", "list", "--json", "--db", db, NULL};
    assert_int_equal(cli(list, NULL, &r), 0);
    assert_non_null(
        strstr(r.out, "\"email\":\"ann@example.com\",\"role\":\"readonly\",\"disabled\":true"));
    assert_non_null(strstr(r.out, "\"email\":\"root@example.com\",\"role\":\"admin\""));
    rg_run_free(&r);
    const char *nobody[] = {"user", "disable", "nobody@example.com", "--db", db, NULL};
    assert_int_equal(cli(nobody, NULL, &r), 1);
    rg_run_free(&r);

    /* the server signs in the account the CLI made */
    struct rg_server s;
    const char *args[] = {"--db", db, NULL};
    assert_int_equal(rg_server_start(&s, args, NULL), 0);
    const char *h[] = {"Content-Type: application/json", NULL};
    const char *body = "{\"email\":\"root@example.com\",\"password\":\"correct horse battery\"}";
    struct rg_resp resp;
    assert_int_equal(rg_http(&s, "POST", "/auth/login", h, body, strlen(body), &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_non_null(strstr(resp.body, "\"role\":\"admin\""));
    rg_resp_free(&resp);
    const char *body2 = "{\"email\":\"ann@example.com\",\"password\":\"another good one\"}";
    assert_int_equal(rg_http(&s, "POST", "/auth/login", h, body2, strlen(body2), &resp), 0);
    assert_int_equal(resp.status, 403); /* disabled */
    rg_resp_free(&resp);
    assert_int_equal(rg_server_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_db_commands),
        cmocka_unit_test(test_user_commands),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
