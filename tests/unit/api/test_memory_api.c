/*
 * What the prompt builder asks of the memory module (api/memory.h), over a
 * real database of each backend: the settings with their defaults, a
 * style's instructions (built in, the owner's own, anyone else's refused)
 * and the glossary entries whose terms appear in a text, in the order they
 * first appear; and every memory route's schemas parse into /openapi.json.
 */
#include "test.h"

#include <jansson.h>

#include "api/api.h"
#include "api/api_internal.h"
#include "api/chat_internal.h"
#include "api/memory.h"
#include "chat/glossary.h"
#include "chat/styles.h"
#include "common/buf.h"
#include "db/memory.h"
#include "unit/db/storage_fixture.h"

static int64_t term(struct rg_db *db, int64_t owner, const char *t, const char *def)
{
    char key[512], err[RG_ERR_SIZE] = "";
    rg_chat_gloss_fold(t, key, sizeof key);
    struct rg_db_mem_term out = {0};
    assert_int_equal(rg_db_mem_term_create(db, owner, t, key, def, 1000, &out, err), RG_OK);
    int64_t id = out.id;
    rg_db_mem_term_clear(&out);
    return id;
}

static void test_prefs(void **state)
{
    struct fx *f = *state;
    struct rg_api_state st = {.db = f->db};
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    struct rg_api_mem_prefs p;
    struct rg_req_err e;
    assert_int_equal(rg_api_mem_prefs_get(&st, a, &p, &e), RG_OK);
    assert_string_equal(p.system, "");
    assert_true(p.use_summaries && p.use_glossary && p.use_library && !p.use_prior);
    assert_string_equal(p.auto_thread, "off");
    assert_true(p.auto_thread_distance == 0.6);
    assert_int_equal(p.summary_after, 20);
    rg_api_mem_prefs_clear(&p);
    char err[RG_ERR_SIZE] = "";
    /* stored settings win; a field stored out of range (an older version's)
     * falls back to the default, never to garbage */
    assert_int_equal(rg_db_mem_prefs_put(f->db, a,
                                         "{\"system\":\"Be kind.\",\"sources\":{\"glossary\":false,"
                                         "\"prior\":true},\"auto_thread\":\"new\","
                                         "\"auto_thread_distance\":7,\"summary_after\":5}",
                                         2000, err),
                     RG_OK);
    assert_int_equal(rg_api_mem_prefs_get(&st, a, &p, &e), RG_OK);
    assert_string_equal(p.system, "Be kind.");
    assert_false(p.use_glossary);
    assert_true(p.use_prior && p.use_summaries);
    assert_string_equal(p.auto_thread, "new");
    assert_true(p.auto_thread_distance == 0.6);
    assert_int_equal(p.summary_after, 5);
    rg_api_mem_prefs_clear(&p);
}

static void test_style_prompt(void **state)
{
    struct fx *f = *state;
    struct rg_api_state st = {.db = f->db};
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL), b = mkuser(f->db, "b@x.org", NULL, NULL);
    struct rg_buf out;
    rg_buf_init(&out, SIZE_MAX);
    struct rg_req_err e;
    assert_int_equal(rg_api_mem_style_prompt(&st, a, "plain", &out, &e), RG_OK);
    assert_int_equal(rg_api_mem_style_prompt(&st, a, NULL, &out, &e), RG_OK);
    assert_int_equal(out.len, 0);
    assert_int_equal(rg_api_mem_style_prompt(&st, a, "socratic", &out, &e), RG_OK);
    const struct rg_chat_style *soc = rg_chat_style_get("socratic");
    assert_int_equal(out.len, soc->prompt_len);
    assert_memory_equal(out.data, soc->prompt, soc->prompt_len);
    char err[RG_ERR_SIZE] = "";
    struct rg_db_mem_style s = {0};
    assert_int_equal(
        rg_db_mem_style_create(f->db, a, "Mine", NULL, "Answer in haiku.", 1000, &s, err), RG_OK);
    char id[40];
    snprintf(id, sizeof id, "custom-%lld", (long long)s.id);
    rg_db_mem_style_clear(&s);
    out.len = 0;
    assert_int_equal(rg_api_mem_style_prompt(&st, a, id, &out, &e), RG_OK);
    assert_int_equal(out.len, strlen("Answer in haiku."));
    assert_memory_equal(out.data, "Answer in haiku.", out.len);
    /* another user's style, an unknown one: 400 unknown_style */
    static const char *const bad[] = {"nope", "custom-", "custom-0", "custom-x", NULL};
    for (size_t i = 0; bad[i]; i++) {
        assert_int_equal(rg_api_mem_style_prompt(&st, a, bad[i], &out, &e), RG_EINVAL);
        assert_int_equal(e.status, 400);
        assert_string_equal(e.code, "unknown_style");
        assert_string_equal(e.param, "settings.style");
    }
    assert_int_equal(rg_api_mem_style_prompt(&st, b, id, &out, &e), RG_EINVAL);
    assert_string_equal(e.code, "unknown_style");
    rg_buf_free(&out);
}

static void test_glossary_match(void **state)
{
    struct fx *f = *state;
    struct rg_api_state st = {.db = f->db};
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL), b = mkuser(f->db, "b@x.org", NULL, NULL);
    int64_t raii = term(f->db, a, "RAII", "Scope-bound resources.");
    int64_t bc = term(f->db, a, "borrow checker", "Rust's check of references.");
    term(f->db, a, "Zig", "A language.");
    int64_t cafe = term(f->db, a, "Café", "A place for coffee.");
    term(f->db, b, "raii", "b's");
    json_t *out = NULL;
    struct rg_req_err e;
    assert_int_equal(rg_api_mem_glossary_match(&st, a,
                                               "The BORROW CHECKER and raii meet at the CAFÉ; "
                                               "zigzag is no Zig-less word. RAII again.",
                                               10, &out, &e),
                     RG_OK);
    assert_non_null(out);
    /* first appearance first; "zigzag" is no match but "Zig-less" is */
    assert_int_equal(json_array_size(out), 4);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 0), "id")), bc);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 1), "id")), raii);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 2), "id")), cafe);
    assert_string_equal(json_string_value(json_object_get(json_array_get(out, 3), "term")), "Zig");
    assert_string_equal(json_string_value(json_object_get(json_array_get(out, 1), "definition")),
                        "Scope-bound resources.");
    json_decref(out);
    /* at most max */
    assert_int_equal(rg_api_mem_glossary_match(&st, a, "raii and the borrow checker", 1, &out, &e),
                     RG_OK);
    assert_int_equal(json_array_size(out), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 0), "id")), raii);
    json_decref(out);
    /* none: NULL */
    out = (json_t *)1;
    assert_int_equal(rg_api_mem_glossary_match(&st, a, "nothing here, braiin", 10, &out, &e),
                     RG_OK);
    assert_null(out);
    out = (json_t *)1;
    assert_int_equal(
        rg_api_mem_glossary_match(&st, mkuser(f->db, "c@x.org", NULL, NULL), "RAII", 10, &out, &e),
        RG_OK);
    assert_null(out);
}

static void test_routes_described(void **state)
{
    (void)state;
    struct rg_api_state st = {0};
    struct rg_route routes[64];
    size_t n = rg_api_memory_routes(routes, 64, &st);
    assert_true(n >= 18 && n < 40);
    n += rg_api_chat_store_routes(routes + n, 64 - n, &st); /* type and rating in their schemas */
    assert_true(n < 64);
    json_t *doc = rg_api_openapi(routes, n, "1");
    json_t *paths = json_object_get(doc, "paths");
    static const char *const methods[] = {"get", "put", "post", "patch", "delete"};
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_object_get(paths, routes[i].pattern);
        if (!item) fail_msg("%s is not described", routes[i].pattern);
        const char *m = routes[i].methods & RG_HTTP_GET     ? methods[0]
                        : routes[i].methods & RG_HTTP_PUT   ? methods[1]
                        : routes[i].methods & RG_HTTP_POST  ? methods[2]
                        : routes[i].methods & RG_HTTP_PATCH ? methods[3]
                                                            : methods[4];
        const char *schemas[] = {routes[i].request_schema, routes[i].response_schema};
        for (size_t k = 0; k < 2; k++) {
            json_error_t je;
            json_t *sj = schemas[k] ? json_loads(schemas[k], 0, &je) : NULL;
            if (schemas[k] && !sj)
                fail_msg("%s: schema %zu: %s at %d", routes[i].pattern, k, je.text, je.position);
            json_decref(sj);
        }
        json_t *op = json_object_get(item, m);
        assert_non_null(op);
        if (routes[i].request_schema && !json_object_get(op, "requestBody"))
            fail_msg("%s %s: request schema did not parse", m, routes[i].pattern);
        json_t *resp = json_object_get(op, "responses");
        const char *key;
        json_t *v;
        bool content = false;
        json_object_foreach(resp, key, v) content = content || json_object_get(v, "content");
        if (routes[i].response_schema && !content)
            fail_msg("%s %s: response schema did not parse", m, routes[i].pattern);
    }
    json_decref(doc);
}

#define SUITE(x)                                                                                   \
    cmocka_unit_test_setup_teardown(test_prefs, setup, teardown),                                  \
        cmocka_unit_test_setup_teardown(test_style_prompt, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(test_glossary_match, setup, teardown),                     \
        cmocka_unit_test(test_routes_described)

int main(void)
{
    const struct CMUnitTest tests[] = {SUITE(x)};
    g_backend = SQLITE;
    int failed = cmocka_run_group_tests_name("memory_api/sqlite", tests, NULL, NULL);
    int pg = fx_pg_find("memory_api");
    if (pg <= 0) return failed + (pg < 0 ? 1 : 0);
    g_backend = PG;
    const struct CMUnitTest pg_tests[] = {SUITE(x)};
    failed += cmocka_run_group_tests_name("memory_api/postgres", pg_tests, NULL, NULL);
    return failed;
}
