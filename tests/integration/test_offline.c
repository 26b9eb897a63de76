/*
 * Offline mode at run time (docs/memory.md, "Offline mode"): an admin's PUT
 * /admin/network flips the one switch every outbound connection goes
 * through. A model pull from a download server on loopback (libmicrohttpd in
 * this process, counting its requests) works online, is refused with 503
 * offline (and reaches nothing) offline, and works again once switched back;
 * the OAuth start and callback refuse with 503 offline too; /status and GET
 * /admin/network say which; a non-admin may neither read nor flip it.
 * --offline and RUSTYGPT_OFFLINE=1 start the server offline.
 *
 * Runs on SQLite, then on PostgreSQL when PGHOST names one.
 */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>

#include <jansson.h>
#include <microhttpd.h>

#include "integration/harness_auth.h"

static char model[512];
static void *blob;
static size_t blob_len;
static struct MHD_Daemon *dl;
static int dl_port;
static atomic_int dl_requests;

static enum MHD_Result dl_handler(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_len, void **con_cls)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload, (void)upload_len,
        (void)con_cls;
    atomic_fetch_add(&dl_requests, 1);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(blob_len, blob, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static int setup(void **state)
{
    (void)state;
    if (!rg_test_data_path(model, sizeof model, "models/stories260K.gguf")) return 0;
    blob = rg_test_read_file(model, &blob_len);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    dl = MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, dl_handler,
                          NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    if (!blob || !dl) return -1;
    dl_port = MHD_get_daemon_info(dl, MHD_DAEMON_INFO_BIND_PORT)->port;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (dl) MHD_stop_daemon(dl);
    dl = NULL;
    free(blob);
    blob = NULL;
    return 0;
}

#define NEED()                                                                                     \
    do {                                                                                           \
        if (!blob) {                                                                               \
            fprintf(stderr, "SKIP: ../shared/testdata/models/stories260K.gguf is absent\n");       \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* A request with an optional bearer; the status, the body in *out (json_decref). */
static long req(struct rg_server *s, const char *method, const char *path, const char *bearer,
                const char *body, json_t **out)
{
    char auth[1200];
    const char *hdrs[4];
    int n = 0;
    hdrs[n++] = "Content-Type: application/json";
    hdrs[n++] = "Accept: application/json";
    if (bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        hdrs[n++] = auth;
    }
    hdrs[n] = NULL;
    struct rg_resp r;
    memset(&r, 0, sizeof r);
    assert_int_equal(rg_http(s, method, path, hdrs, body, body ? strlen(body) : 0, &r), 0);
    json_t *o = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
    if (!o) fail_msg("%s %s: %ld, not JSON: %.*s", method, path, r.status, (int)r.len, r.body);
    long st = r.status;
    rg_resp_free(&r);
    if (out)
        *out = o;
    else
        json_decref(o);
    return st;
}

static const char *login(struct rg_server *s, const char *email, int slot, bool create)
{
    static char tokens[2][1024];
    char body[256];
    rg_harness_credentials(body, sizeof body, email, "correct horse battery");
    if (create) assert_int_equal(req(s, "POST", "/auth/register", NULL, body, NULL), 202);
    json_t *o = NULL;
    assert_int_equal(req(s, "POST", "/auth/login", NULL, body, &o), 200);
    snprintf(tokens[slot], sizeof tokens[slot], "%s",
             json_string_value(json_object_get(o, "access_token")));
    json_decref(o);
    assert_true(strlen(tokens[slot]) > 20);
    return tokens[slot];
}

/* /status's and GET /admin/network's "offline" must both be want. */
static void assert_offline(struct rg_server *s, const char *admin, bool want)
{
    json_t *o = NULL;
    assert_int_equal(req(s, "GET", "/status", NULL, NULL, &o), 200);
    if (!json_is_boolean(json_object_get(o, "offline")) ||
        json_is_true(json_object_get(o, "offline")) != want)
        fail_msg("/status: offline is not %s: %s", want ? "true" : "false", json_dumps(o, 0));
    json_decref(o);
    if (!admin) return;
    assert_int_equal(req(s, "GET", "/admin/network", admin, NULL, &o), 200);
    assert_true(json_is_boolean(json_object_get(o, "offline")));
    assert_int_equal(json_is_true(json_object_get(o, "offline")), want);
    json_decref(o);
}

/* POST /api/pull (not streamed) of /files/NAME from the download server. */
static long pull(struct rg_server *s, const char *tok, const char *name, json_t **out)
{
    char body[256];
    snprintf(body, sizeof body, "{\"model\":\"http://127.0.0.1:%d/files/%s\",\"stream\":false}",
             dl_port, name);
    return req(s, "POST", "/api/pull", tok, body, out);
}

static void assert_pull_ok(struct rg_server *s, const char *tok, const char *name)
{
    json_t *o = NULL;
    int before = atomic_load(&dl_requests);
    assert_int_equal(pull(s, tok, name, &o), 200);
    const char *st = json_string_value(json_object_get(o, "status"));
    if (!st || strcmp(st, "success")) fail_msg("pull %s: %s", name, json_dumps(o, 0));
    json_decref(o);
    assert_true(atomic_load(&dl_requests) > before);
    char path[600];
    snprintf(path, sizeof path, "%s/models/%s", s->dir, name);
    assert_int_equal(access(path, R_OK), 0);
}

/* 503 with code "offline" and the clear message; nothing reached the download server. */
static void assert_refused(long status, json_t *o)
{
    if (status != 503) fail_msg("wanted 503, got %ld: %s", status, json_dumps(o, 0));
    json_t *e = json_object_get(o, "error");
    const char *code = json_string_value(json_object_get(o, "code")); /* Ollama's flat shape */
    const char *msg = json_string_value(e);
    if (json_is_object(e)) {
        code = json_string_value(json_object_get(e, "code"));
        msg = json_string_value(json_object_get(e, "message"));
    }
    if (!code || strcmp(code, "offline") || !msg || !strstr(msg, "RustyGPT is offline"))
        fail_msg("not an offline refusal: %s", json_dumps(o, 0));
}

static void test_switch_at_run_time(void **state)
{
    (void)state;
    NEED();
    struct rg_server s;
    rg_harness_start(&s, "rg_offline", NULL, NULL);
    const char *admin = login(&s, "admin@example.org", 0, true); /* the first account */
    const char *user = login(&s, "user@example.org", 1, true);
    assert_offline(&s, admin, false);

    assert_pull_ok(&s, admin, "online.gguf");

    /* only an admin reads or flips the switch */
    assert_int_equal(req(&s, "PUT", "/admin/network", user, "{\"offline\":true}", NULL), 403);
    assert_int_equal(req(&s, "GET", "/admin/network", user, NULL, NULL), 403);
    assert_int_equal(req(&s, "PUT", "/admin/network", NULL, "{\"offline\":true}", NULL), 401);
    assert_offline(&s, admin, false);
    assert_int_equal(req(&s, "PUT", "/admin/network", admin, "{\"offline\":\"yes\"}", NULL), 400);
    assert_offline(&s, admin, false);

    json_t *o = NULL;
    assert_int_equal(req(&s, "PUT", "/admin/network", admin, "{\"offline\":true}", &o), 200);
    assert_true(json_is_true(json_object_get(o, "offline")));
    json_int_t refused0 = json_integer_value(json_object_get(o, "refused"));
    json_decref(o);
    assert_offline(&s, admin, true);

    int before = atomic_load(&dl_requests);
    long st = pull(&s, admin, "offline.gguf", &o);
    assert_refused(st, o);
    json_decref(o);
    st = req(&s, "GET", "/auth/oauth/github/start", NULL, NULL, &o);
    assert_refused(st, o);
    json_decref(o);
    st = req(&s, "GET", "/auth/oauth/github/callback?code=c&state=s", NULL, NULL, &o);
    assert_refused(st, o);
    json_decref(o);
    assert_int_equal(atomic_load(&dl_requests), before);
    char path[600];
    snprintf(path, sizeof path, "%s/models/offline.gguf", s.dir);
    assert_int_not_equal(access(path, F_OK), 0);
    /* the refusals are counted */
    assert_int_equal(req(&s, "GET", "/admin/network", admin, NULL, &o), 200);
    assert_true(json_integer_value(json_object_get(o, "refused")) >= refused0 + 2);
    json_decref(o);
    /* offline, the sign-in providers are not offered */
    assert_int_equal(req(&s, "GET", "/auth/providers", NULL, NULL, &o), 200);
    assert_true(json_is_false(json_object_get(o, "github")));
    json_decref(o);

    assert_int_equal(req(&s, "PUT", "/admin/network", admin, "{\"offline\":false}", NULL), 200);
    assert_offline(&s, admin, false);
    assert_pull_ok(&s, admin, "again.gguf");
    rg_harness_stop(&s);
}

/* --offline and RUSTYGPT_OFFLINE=1 start it offline; an admin can switch it on. */
static void test_offline_at_start(void **state)
{
    (void)state;
    NEED();
    struct rg_server s;
    const char *flag[] = {"--offline", NULL};
    rg_harness_start(&s, "rg_offline", flag, NULL);
    const char *admin = login(&s, "admin@example.org", 0, true);
    assert_offline(&s, admin, true);
    json_t *o = NULL;
    long st = pull(&s, admin, "flag.gguf", &o);
    assert_refused(st, o);
    json_decref(o);
    assert_int_equal(req(&s, "PUT", "/admin/network", admin, "{\"offline\":false}", NULL), 200);
    assert_pull_ok(&s, admin, "flag.gguf");
    rg_harness_stop(&s);

    const char *env[] = {"RUSTYGPT_OFFLINE=1", NULL};
    rg_harness_start(&s, "rg_offline", NULL, env);
    assert_offline(&s, NULL, true);
    st = pull(&s, NULL, "env.gguf", &o); /* no accounts yet: anyone manages models */
    assert_refused(st, o);
    json_decref(o);
    rg_harness_stop(&s);
}

#define TESTS cmocka_unit_test(test_switch_at_run_time), cmocka_unit_test(test_offline_at_start)

int main(void)
{
    const struct CMUnitTest tests[] = {TESTS};
    int failed = cmocka_run_group_tests_name("offline/sqlite", tests, setup, teardown);
    int pg = rg_harness_pg_pass("offline");
    if (pg <= 0) return failed + (pg < 0 ? 1 : 0);
    const struct CMUnitTest pg_tests[] = {TESTS};
    failed += cmocka_run_group_tests_name("offline/postgres", pg_tests, setup, teardown);
    return failed;
}
