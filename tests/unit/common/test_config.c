/* Configuration layers: defaults < file < environment < flags, and every error path. */
#include "test.h"

#include "common/config.h"

static char cfg_path[256];

static void write_cfg(const char *text)
{
    snprintf(cfg_path, sizeof cfg_path, "/tmp/rg-test-config-%d.json", (int)getpid());
    FILE *f = fopen(cfg_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int load(struct rg_config *c, char *err, char **env, int argc, ...)
{
    char *argv[32];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    argv[argc] = NULL;
    err[0] = '\0';
    return rg_config_load(c, argc, argv, env, err);
}

static void test_defaults(void **state)
{
    (void)state;
    struct rg_config c;
    char err[RG_ERR_SIZE];
    assert_int_equal(load(&c, err, NULL, 0), RG_OK);
    assert_string_equal(c.host, "127.0.0.1");
    assert_int_equal(c.port, 8080);
    assert_int_equal(c.parallel, 4);
    assert_int_equal(c.threads, 0);
    assert_int_equal(c.max_body, 8u << 20);
    assert_int_equal(c.max_connections, 256);
    assert_int_equal(c.log_format, RG_LOG_TEXT);
    assert_string_equal(c.log_level, "info");
    assert_string_equal(c.models_dir, "./models");
    assert_string_equal(c.data_dir, "./data");
    assert_null(c.db);
    assert_null(c.web_dir);
    assert_false(c.offline);
    assert_int_equal(c.models.n, 0);
    assert_int_equal(c.job_workers, 2);
    assert_int_equal(c.job_lease, 30);
    char url[128];
    assert_string_equal(rg_config_db_url(&c, url, sizeof url), "sqlite:./data/rustygpt.db");
    assert_null(rg_config_db_url(&c, url, 8));
    rg_config_free(&c);
}

static void test_flags(void **state)
{
    (void)state;
    struct rg_config c;
    char err[RG_ERR_SIZE];
    assert_int_equal(load(&c, err, NULL, 11, "--port", "9000", "--host=0.0.0.0", "-m", "a.gguf",
                          "--model=b.gguf", "--offline", "--log-format", "json", "--max-body",
                          "2k"),
                     RG_OK);
    assert_int_equal(c.port, 9000);
    assert_string_equal(c.host, "0.0.0.0");
    assert_int_equal(c.models.n, 2);
    assert_string_equal(c.models.v[0], "a.gguf");
    assert_string_equal(c.models.v[1], "b.gguf");
    assert_true(c.offline);
    assert_int_equal(c.log_format, RG_LOG_JSON);
    assert_int_equal(c.max_body, 2048);
    rg_config_free(&c);

    assert_int_equal(load(&c, err, NULL, 2, "--offline", "--no-offline"), RG_OK);
    assert_false(c.offline);
    rg_config_free(&c);
}

static void test_precedence(void **state)
{
    (void)state;
    write_cfg("{\"port\": 7000, \"threads\": 3, \"parallel\": 5, \"ctx-size\": 512,"
              " \"cors-origin\": [\"http://file:1\", \"http://file:2\"], \"offline\": true}");
    char cfg_env[300];
    snprintf(cfg_env, sizeof cfg_env, "RUSTYGPT_CONFIG=%s", cfg_path);
    char *env[] = {cfg_env,
                   "RUSTYGPT_THREADS=6",
                   "RUSTYGPT_PARALLEL=7",
                   "RUSTYGPT_CORS_ORIGIN=http://env:1,http://env:2,http://env:3",
                   "RUSTYGPT_UNRELATED_TEST_VAR=x",
                   "PATH=/bin",
                   NULL};
    struct rg_config c;
    char err[RG_ERR_SIZE];
    assert_int_equal(load(&c, err, env, 2, "--parallel", "8"), RG_OK);
    assert_int_equal(c.port, 7000);    /* file over default */
    assert_int_equal(c.ctx_size, 512); /* file */
    assert_int_equal(c.threads, 6);    /* env over file */
    assert_int_equal(c.parallel, 8);   /* flag over env */
    assert_true(c.offline);
    assert_int_equal(c.cors_origins.n, 3); /* env list replaces the file's */
    assert_string_equal(c.cors_origins.v[2], "http://env:3");
    rg_config_free(&c);

    /* A flag list replaces the env list; repeated flags append. */
    assert_int_equal(
        load(&c, err, env, 4, "--cors-origin", "http://a:1", "--cors-origin", "http://b:1"), RG_OK);
    assert_int_equal(c.cors_origins.n, 2);
    assert_string_equal(c.cors_origins.v[0], "http://a:1");
    rg_config_free(&c);

    /* --config on the command line wins over RUSTYGPT_CONFIG. */
    char *env2[] = {"RUSTYGPT_CONFIG=/nonexistent/file.json", NULL};
    assert_int_equal(load(&c, err, env2, 2, "--config", cfg_path), RG_OK);
    assert_int_equal(c.port, 7000);
    rg_config_free(&c);
    unlink(cfg_path);
}

static void expect_err(int want, const char *needle, char **env, int argc, char **argv)
{
    struct rg_config c;
    char err[RG_ERR_SIZE] = "";
    int rc = rg_config_load(&c, argc, argv, env, err);
    assert_int_equal(rc, want);
    if (!strstr(err, needle)) fail_msg("error '%s' does not mention '%s'", err, needle);
    assert_null(strchr(err, '\n'));
}

/* --job-workers: the environment sets it, a flag wins, bad values are refused. */
static void test_job_workers(void **state)
{
    (void)state;
    struct rg_config c;
    char err[RG_ERR_SIZE];
    char *env[] = {"RUSTYGPT_JOB_WORKERS=5", NULL};
    assert_int_equal(load(&c, err, env, 0), RG_OK);
    assert_int_equal(c.job_workers, 5);
    rg_config_free(&c);
    assert_int_equal(load(&c, err, env, 2, "--job-workers", "0"), RG_OK);
    assert_int_equal(c.job_workers, 0);
    rg_config_free(&c);
    assert_int_equal(load(&c, err, NULL, 2, "--job-workers", "-1"), RG_EINVAL);
    assert_non_null(strstr(err, "job-workers")); /* c is left freed */
}

static void test_flag_errors(void **state)
{
    (void)state;
    char *a1[] = {"--prot", "1"};
    expect_err(RG_EINVAL, "unknown option --prot", NULL, 2, a1);
    char *a2[] = {"--port", "x"};
    expect_err(RG_EINVAL, "port: expected an integer 0-65535, got 'x'", NULL, 2, a2);
    char *a3[] = {"--port", "70000"};
    expect_err(RG_EINVAL, "70000", NULL, 2, a3);
    char *a4[] = {"--port"};
    expect_err(RG_EINVAL, "--port: missing value", NULL, 1, a4);
    char *a5[] = {"--log-format", "xml"};
    expect_err(RG_EINVAL, "json or text", NULL, 2, a5);
    char *a6[] = {"--max-body", "12q"};
    expect_err(RG_EINVAL, "max-body", NULL, 2, a6);
    char *a7[] = {"stray"};
    expect_err(RG_EINVAL, "unexpected argument 'stray'", NULL, 1, a7);
    char *a8[] = {"-z"};
    expect_err(RG_EINVAL, "unknown option -z", NULL, 1, a8);
    char *a9[] = {"--log-level", "loud"};
    expect_err(RG_EINVAL, "--log-level", NULL, 2, a9);
    char *a10[] = {"--offline=maybe"};
    expect_err(RG_EINVAL, "true or false", NULL, 1, a10);
    char *a11[] = {"--parallel", "0"};
    expect_err(RG_EINVAL, "parallel", NULL, 2, a11);
    char *env[] = {"RUSTYGPT_PORT=abc", NULL};
    expect_err(RG_EINVAL, "RUSTYGPT_PORT", env, 0, NULL);
}

static void test_file_errors(void **state)
{
    (void)state;
    char arg[300];
    char *argv[] = {"--config", arg};

    snprintf(arg, sizeof arg, "/nonexistent/rg.json");
    expect_err(RG_EIO, "cannot read", NULL, 2, argv);

    write_cfg("{\"port\": 1,");
    snprintf(arg, sizeof arg, "%s", cfg_path);
    expect_err(RG_EFORMAT, "line", NULL, 2, argv);

    write_cfg("[1]");
    expect_err(RG_EFORMAT, "JSON object", NULL, 2, argv);

    write_cfg("{\"prot\": 1}");
    expect_err(RG_EINVAL, "unknown option 'prot'", NULL, 2, argv);

    write_cfg("{\"port\": \"80\"}");
    expect_err(RG_EINVAL, "port: expected an integer", NULL, 2, argv);

    write_cfg("{\"offline\": 1}");
    expect_err(RG_EINVAL, "true or false", NULL, 2, argv);

    write_cfg("{\"cors-origin\": [1]}");
    expect_err(RG_EINVAL, "array of strings", NULL, 2, argv);

    write_cfg("{\"port\": 99999}");
    expect_err(RG_EINVAL, "99999", NULL, 2, argv);
    unlink(cfg_path);
}

static void test_help_lists_every_option(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    rg_config_print_help(f, "usage: rustygpt serve [options]");
    fclose(f);
    static const char *const names[] = {
        "--host",    "--port",       "--model",    "--models-dir", "--data-dir",    "--db",
        "--threads", "--parallel",   "--ctx-size", "--api-key",    "--cors-origin", "--web-dir",
        "--offline", "--log-format", "--config",   "--max-body",   "--timeout"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strstr(buf, names[i])) fail_msg("help lacks %s", names[i]);
    assert_non_null(strstr(buf, "[default: 8080]"));
    free(buf);
    char *h[] = {"--port", "1", "--help"};
    assert_true(rg_config_wants_help(3, h));
    assert_false(rg_config_wants_help(2, h));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_job_workers),
        cmocka_unit_test(test_flag_errors),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_help_lists_every_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
