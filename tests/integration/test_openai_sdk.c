/*
 * The official `openai` npm client (tests/sdk/openai_sdk.mjs) against the
 * real server on stories260K: models, chat (plain, streamed with usage, the
 * SDK's stream helper), completions, n, tools, structured output,
 * embeddings (float and the SDK's default base64), typed errors, aborts.
 * The package is installed with `npm ci` from tests/sdk/package-lock.json
 * into the build directory. Skips, saying why, without Node.js or the
 * reference model; RG_SKIP_SDK=1 skips on purpose (offline machines).
 */
#include "test.h"

#include <sys/stat.h>

#include "harness.h"

static int sh(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_openai_npm_client(void **state)
{
    (void)state;
    char model[512];
    if (!rg_test_data_path(model, sizeof model, "models/stories260K.gguf")) {
        fprintf(stderr, "SKIP: ../shared/testdata/models/stories260K.gguf is absent\n");
        skip();
    }
    if (getenv("RG_SKIP_SDK") && !strcmp(getenv("RG_SKIP_SDK"), "1")) {
        fprintf(stderr, "SKIP: RG_SKIP_SDK=1\n");
        skip();
    }
    if (sh("command -v node >/dev/null && command -v npm >/dev/null") != 0) {
        fprintf(stderr, "SKIP: node and npm are not installed (make deps installs them)\n");
        skip();
    }
    const char *src = getenv("RG_SOURCE_DIR"), *build = getenv("RG_BUILD_DIR");
    assert_non_null(src);
    assert_non_null(build);
    char dir[1024], cmd[4096];
    snprintf(dir, sizeof dir, "%s/sdk", build);
    mkdir(dir, 0755);
    /* install once per lockfile: npm ci only when the copy differs */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && cp '%s/tests/sdk/openai_sdk.mjs' . && "
             "if ! cmp -s '%s/tests/sdk/package-lock.json' package-lock.json || "
             "[ ! -d node_modules/openai ]; then "
             "cp '%s/tests/sdk/package.json' '%s/tests/sdk/package-lock.json' . && "
             "npm ci --no-audit --no-fund --loglevel=error >npm.log 2>&1 || "
             "{ cat npm.log; rm -f package-lock.json; exit 1; }; fi",
             dir, src, src, src, src);
    if (sh(cmd) != 0) fail_msg("npm ci failed (see above); RG_SKIP_SDK=1 skips this test offline");

    struct rg_server srv;
    const char *args[] = {"--api-key", "sdk-test-key", "--parallel", "2", "--threads", "2", NULL};
    assert_int_equal(rg_server_start(&srv, args, NULL), 0);
    char link[600];
    snprintf(link, sizeof link, "%s/models/stories260K.gguf", srv.dir);
    assert_int_equal(symlink(model, link), 0);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && RG_BASE_URL=http://127.0.0.1:%d RG_MODEL=stories260K "
             "RG_KEY=sdk-test-key timeout 300 node openai_sdk.mjs",
             dir, srv.port);
    int rc = sh(cmd);
    if (rc != 0) {
        char *log = rg_server_log(&srv);
        fprintf(stderr, "--- server log ---\n%s\n", log ? log : "");
        free(log);
    }
    assert_int_equal(rg_server_stop(&srv), 0);
    assert_int_equal(rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_openai_npm_client)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
