/* `rustygpt models`: lists the models dir as a table or JSON; bad files are
 * listed with their error; usage errors exit 2. */
#include "test.h"

#include <jansson.h>

#include "harness.h"

static void test_models_json_and_table(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(src, "models/tiny-q4_0.gguf");
    char dir[] = "/tmp/rg-models-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[512];
    snprintf(p, sizeof p, "%s/tiny.gguf", dir);
    assert_int_equal(symlink(src, p), 0);
    snprintf(p, sizeof p, "%s/broken.gguf", dir);
    FILE *f = fopen(p, "w");
    fputs("GGUF\x03", f);
    fclose(f);

    struct rg_run r;
    const char *json_args[] = {"models", "--models-dir", dir, "--json", NULL};
    assert_int_equal(rg_run_cli(json_args, NULL, NULL, 20, &r), 0);
    assert_int_equal(r.status, 0);
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    if (!j) fail_msg("not JSON: %s", r.out);
    json_t *models = json_object_get(j, "models");
    assert_int_equal(json_array_size(models), 2);
    json_t *broken = json_array_get(models, 0), *tiny = json_array_get(models, 1);
    assert_string_equal(json_string_value(json_object_get(broken, "name")), "broken");
    assert_non_null(strstr(json_string_value(json_object_get(broken, "error")), "truncated"));
    assert_string_equal(json_string_value(json_object_get(tiny, "arch")), "llama");
    assert_string_equal(json_string_value(json_object_get(tiny, "quant")), "Q4_0");
    assert_int_equal(json_integer_value(json_object_get(tiny, "context_length")), 2048);
    json_decref(j);
    rg_run_free(&r);

    const char *env[] = {NULL, NULL};
    char envbuf[300];
    snprintf(envbuf, sizeof envbuf, "RUSTYGPT_MODELS_DIR=%s", dir);
    env[0] = envbuf;
    const char *table_args[] = {"models", NULL};
    assert_int_equal(rg_run_cli(table_args, env, NULL, 20, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "tiny"));
    assert_non_null(strstr(r.out, "Q4_0"));
    assert_non_null(strstr(r.out, "error:"));
    rg_run_free(&r);

    snprintf(p, sizeof p, "%s/tiny.gguf", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/broken.gguf", dir);
    unlink(p);
    rmdir(dir);
}

static void test_models_errors(void **state)
{
    (void)state;
    struct rg_run r;
    const char *bad[] = {"models", "--bogus", NULL};
    assert_int_equal(rg_run_cli(bad, NULL, NULL, 10, &r), 0);
    assert_int_equal(r.status, 2);
    rg_run_free(&r);
    const char *missing[] = {"models", "--models-dir", "/nonexistent/rg", NULL};
    assert_int_equal(rg_run_cli(missing, NULL, NULL, 10, &r), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "/nonexistent/rg"));
    rg_run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models_json_and_table),
        cmocka_unit_test(test_models_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
