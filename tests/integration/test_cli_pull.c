/*
 * `rustygpt pull`: the real binary downloads from a small HTTP server that
 * runs in this test process (libmicrohttpd on a loopback port) and serves one
 * GGUF-looking blob through routes that behave well or badly: Range support,
 * a published SHA-256 (X-Linked-Etag, ETag), a wrong one, 404, a server that
 * ignores Range, redirects, a body that dies half way (resume), an HTML page,
 * and a model hub layout for the hf: form.
 */
#include "test.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <microhttpd.h>
#include <openssl/evp.h>

#include "harness.h"

#define BLOB_LEN (300 * 1000)

static struct {
    struct MHD_Daemon *d;
    int port;
    char base[64]; /* http://127.0.0.1:PORT */
    unsigned char *blob;
    char sha[65];
    pthread_mutex_t mu;
    int requests;        /* every request */
    int flaky_requests;  /* requests to /flaky/ */
    char last_range[64]; /* Range header of the last request that had one */
    int range_requests;  /* requests that carried a Range header */
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

static const char WRONG_SHA[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* ---------------------------------------------------------------- the server */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const void *body, size_t n,
                             const char *const *headers)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(r, headers[i], headers[i + 1]);
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

/* The blob, honouring "Range: bytes=N-" unless ignore_range. */
static enum MHD_Result serve_blob(struct MHD_Connection *c, bool ignore_range,
                                  const char *const *headers)
{
    const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
    unsigned long long start = 0;
    if (range && !ignore_range && sscanf(range, "bytes=%llu-", &start) == 1) {
        char cr[64];
        if (start >= BLOB_LEN) {
            snprintf(cr, sizeof cr, "bytes */%d", BLOB_LEN);
            struct MHD_Response *r =
                MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
            MHD_add_response_header(r, "Content-Range", cr);
            for (size_t i = 0; headers && headers[i]; i += 2)
                MHD_add_response_header(r, headers[i], headers[i + 1]);
            enum MHD_Result ret = MHD_queue_response(c, 416, r);
            MHD_destroy_response(r);
            return ret;
        }
        snprintf(cr, sizeof cr, "bytes %llu-%d/%d", start, BLOB_LEN - 1, BLOB_LEN);
        struct MHD_Response *r = MHD_create_response_from_buffer(BLOB_LEN - start, S.blob + start,
                                                                 MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Content-Range", cr);
        for (size_t i = 0; headers && headers[i]; i += 2)
            MHD_add_response_header(r, headers[i], headers[i + 1]);
        enum MHD_Result ret = MHD_queue_response(c, 206, r);
        MHD_destroy_response(r);
        return ret;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(BLOB_LEN, S.blob, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Accept-Ranges", ignore_range ? "none" : "bytes");
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(r, headers[i], headers[i + 1]);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* Announces the whole blob, sends half of it, then drops the connection. */
static ssize_t half_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    if (pos >= BLOB_LEN / 2) return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = BLOB_LEN / 2 - (size_t)pos;
    if (n > max) n = max;
    memcpy(buf, S.blob + pos, n);
    return (ssize_t)n;
}

static enum MHD_Result redirect(struct MHD_Connection *c, const char *path, const char *linked)
{
    char loc[256];
    snprintf(loc, sizeof loc, "%s%s", S.base, path);
    const char *h[] = {"Location", loc, linked ? "X-Linked-Etag" : NULL, linked, NULL};
    return reply(c, 302, "", 0, h);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_size, void **con_cls)
{
    (void)cls, (void)method, (void)version, (void)upload_data, (void)upload_size, (void)con_cls;
    const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
    pthread_mutex_lock(&S.mu);
    S.requests++;
    if (range) {
        S.range_requests++;
        snprintf(S.last_range, sizeof S.last_range, "%s", range);
    }
    bool flaky_first = !strcmp(url, "/flaky/model.gguf") && S.flaky_requests++ == 0;
    pthread_mutex_unlock(&S.mu);

    char quoted[80];
    snprintf(quoted, sizeof quoted, "\"%s\"", S.sha);
    char wrong[80];
    snprintf(wrong, sizeof wrong, "\"%s\"", WRONG_SHA);

    if (!strcmp(url, "/files/model.gguf")) return serve_blob(c, false, NULL);
    if (!strcmp(url, "/linked/model.gguf")) {
        /* a 40-hex ETag (a git blob id) must not be taken for the SHA-256 */
        const char *h[] = {"X-Linked-Etag", quoted, "ETag",
                           "\"0123456789abcdef0123456789abcdef01234567\"", NULL};
        return serve_blob(c, false, h);
    }
    if (!strcmp(url, "/etag/model.gguf")) {
        const char *h[] = {"ETag", quoted, NULL};
        return serve_blob(c, false, h);
    }
    if (!strcmp(url, "/wrong/model.gguf")) {
        const char *h[] = {"X-Linked-Etag", wrong, NULL};
        return serve_blob(c, false, h);
    }
    if (!strcmp(url, "/norange/model.gguf")) return serve_blob(c, true, NULL);
    if (!strcmp(url, "/redirect/model.gguf")) return redirect(c, "/files/model.gguf", NULL);
    if (!strcmp(url, "/loop.gguf")) return redirect(c, "/loop.gguf", NULL);
    if (!strcmp(url, "/flaky/model.gguf")) {
        if (!flaky_first) return serve_blob(c, false, NULL);
        struct MHD_Response *r =
            MHD_create_response_from_callback(BLOB_LEN, 16 * 1024, half_reader, NULL, NULL);
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (!strcmp(url, "/html.gguf")) {
        static const char page[] = "<html><body>sign in to continue</body></html>\n";
        const char *h[] = {"Content-Type", "text/html", NULL};
        return reply(c, 200, page, sizeof page - 1, h);
    }
    /* a model hub: the resolve URL redirects to storage, publishing the LFS SHA-256 */
    if (!strcmp(url, "/hub/owner/repo/resolve/main/model.gguf"))
        return redirect(c, "/files/model.gguf", quoted);
    if (!strcmp(url, "/hub/owner/repo/resolve/v1/sub/model.gguf"))
        return redirect(c, "/files/model.gguf", NULL);
    if (!strcmp(url, "/hub/owner/repo/resolve/main/bad.gguf"))
        return redirect(c, "/files/model.gguf", wrong);
    static const char nf[] = "Entry not found";
    return reply(c, 404, nf, sizeof nf - 1, NULL);
}

static int server_setup(void **state)
{
    (void)state;
    S.blob = malloc(BLOB_LEN);
    if (!S.blob) return -1;
    memcpy(S.blob, "GGUF\x03\x00\x00\x00", 8);
    uint32_t x = 2463534242u;
    for (size_t i = 8; i < BLOB_LEN; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        S.blob[i] = (unsigned char)x;
    }
    unsigned char d[32];
    unsigned int dl = 0;
    if (EVP_Digest(S.blob, BLOB_LEN, d, &dl, EVP_sha256(), NULL) != 1) return -1;
    for (int i = 0; i < 32; i++)
        snprintf(S.sha + 2 * i, 3, "%02x", d[i]);

    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    S.d = MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler,
                           NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    if (!S.d) return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(S.d, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || !info->port) return -1;
    S.port = info->port;
    snprintf(S.base, sizeof S.base, "http://127.0.0.1:%d", S.port);
    /* the pulls must see only what each test gives them */
    unsetenv("RUSTYGPT_HF_ENDPOINT");
    unsetenv("RUSTYGPT_OFFLINE");
    unsetenv("RUSTYGPT_MODELS_DIR");
    return 0;
}

static int server_teardown(void **state)
{
    (void)state;
    if (S.d) MHD_stop_daemon(S.d);
    free(S.blob);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

static void make_dir(char *dir)
{
    snprintf(dir, 32, "/tmp/rg-pull-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static bool exists(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static long file_size(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void assert_blob(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    size_t n = 0;
    unsigned char *got = rg_test_read_file(p, &n);
    if (!got) fail_msg("%s is missing", p);
    assert_int_equal(n, BLOB_LEN);
    assert_memory_equal(got, S.blob, BLOB_LEN);
    free(got);
}

static void write_file(const char *dir, const char *name, const void *data, size_t n)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static int requests(void)
{
    pthread_mutex_lock(&S.mu);
    int n = S.requests;
    pthread_mutex_unlock(&S.mu);
    return n;
}

static void last_range(char *buf, size_t n, int *count)
{
    pthread_mutex_lock(&S.mu);
    snprintf(buf, n, "%s", S.last_range);
    *count = S.range_requests;
    pthread_mutex_unlock(&S.mu);
}

/* rustygpt pull URL --models-dir DIR [extra...]; the URL is S.base + path
 * unless path already has a scheme (hf:, http:). */
static void pull(struct rg_run *r, const char *dir, const char *path, const char *const *extra,
                 const char *const *env)
{
    char url[512];
    if (strchr(path, ':'))
        snprintf(url, sizeof url, "%s", path);
    else
        snprintf(url, sizeof url, "%s%s", S.base, path);
    const char *args[24] = {"pull", url, "--models-dir", dir};
    size_t n = 4;
    for (size_t i = 0; extra && extra[i] && n < 23; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    assert_int_equal(rg_run_cli(args, env, NULL, 60, r), 0);
}

#define ASSERT_ERR_HAS(r, s)                                                                       \
    do {                                                                                           \
        if (!strstr((r)->err, (s))) fail_msg("stderr lacks \"%s\":\n%s", (s), (r)->err);           \
    } while (0)

/* ---------------------------------------------------------------- tests */

static void test_plain_url(void **state)
{
    (void)state;
    char dir[32];
    make_dir(dir);
    struct rg_run r;
    pull(&r, dir, "/files/model.gguf", NULL, NULL);
    if (r.status != 0) fail_msg("exit %d:\n%s", r.status, r.err);
    assert_blob(dir, "model.gguf");
    assert_false(exists(dir, "model.gguf.partial"));
    assert_non_null(strstr(r.out, "/model.gguf"));
    /* nothing published: the computed hash is shown */
    ASSERT_ERR_HAS(&r, S.sha);
    rg_run_free(&r);

    /* a second pull refuses to replace it, without a request */
    int before = requests();
    pull(&r, dir, "/files/model.gguf", NULL, NULL);
    assert_int_equal(r.status, 1);
    ASSERT_ERR_HAS(&r, "--force");
    assert_int_equal(requests(), before);
    rg_run_free(&r);

    const char *force[] = {"--force", "-q", NULL};
    pull(&r, dir, "/files/model.gguf", force, NULL);
    if (r.status != 0) fail_msg("exit %d:\n%s", r.status, r.err);
    assert_blob(dir, "model.gguf");
    rg_run_free(&r);
    remove_dir(dir);
}

static void test_published_hash(void **state)
{
    (void)state;
    char dir[32];
    make_dir(dir);
    struct rg_run r;
    pull(&r, dir, "/linked/model.gguf", NULL, NULL);
    if (r.status != 0) fail_msg("exit %d:\n%s", r.status, r.err);
    assert_blob(dir, "model.gguf");
    ASSERT_ERR_HAS(&r, "X-Linked-Etag");
    rg_run_free(&r);

    const char *name[] = {"--name", "etag.gguf", NULL};
    pull(&r, dir, "/etag/model.gguf", name, NULL);
    if (r.status != 0) fail_msg("exit %d:\n%s", r.status, r.err);
    assert_blob(dir, "etag.gguf");
    ASSERT_ERR_HAS(&r, "ETag");
    rg_run_free(&r);

    pull(&r, dir, "/wrong/model.gguf", (const char *[]){"--name", "wrong.gguf", NULL}, NULL);
    assert_int_equal(r.status, 1);
    ASSERT_ERR_HAS(&r, WRONG_SHA);
    ASSERT_ERR_HAS(&r, S.sha);
    assert_false(exists(dir, "wrong.gguf"));
    assert_false(exists(dir, "wrong.gguf.partial"));
    rg_run_free(&r);
    remove_dir(dir);
}

static void test_sha256_flag(void **state)
{
    (void)state;
    char dir[32];
    make_dir(dir);
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)toupper((unsigned char)S.sha[i]);
    struct rg_run r;
    pull(&r, dir, "/files/model.gguf", (const char *[]){"--sha256", upper, NULL}, NULL);
    if (r.status != 0) fail_msg("exit %d:\n%s", r.status, r.err);
    assert_blob(dir, "model.gguf");
    ASSERT_ERR_HAS(&r, "--sha256");
    rg_run_free(&r);

    /* --sha256 wins over what the server publishes */
    pull(&r, dir, "/linked/model.gguf",
         (const char *[]){"--sha256", WRONG_SHA, "--name", "x.gguf", NULL}, NULL);
    assert_int_equal(r.status, 1);
    ASSERT_ERR_HAS(&r, WRONG_SHA);
    ASSERT_ERR_HAS(&r, S.sha);
    assert_false(exists(dir, "x.gguf"));
    assert_false(exists(dir, "x.gguf.partial"));
    rg_run_free(&r);
    remove_dir(dir);
}

static void test_http_errors(void **state)
{
    (void)state;
    char dir[32];
    make_dir(dir);
    struct rg_run r;
    pull(&r, dir, "/missing.gguf", NULL, NULL);
    assert_int_equal(r.status, 1);
    ASSERT_ERR_HAS(&r, "404");
    assert_false(exists(dir, "missing.gguf"));
    assert_false(exists(dir, "missing.gguf.partial"));
    rg_run_free(&r);

    pull(&r, dir, "/html.gguf", NULL, NULL);
    assert_int_equal(r.status, 1);
    ASSERT_ERR_HAS(&r, "not a GGUF file");
    assert_false(exists(dir, "html.gguf"));
    assert_false(exists(dir, "html.gguf.partial"));
    rg_run_free(&r);

    pull(&r, dir, "/loop.gguf", NULL, NULL);
    assert_int_equal(r.status, 1);
    ASSERT_ERR_HAS(&r, "redirect");
    rg_run_free(&r);

    /* a port nobody listens on */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/model.gguf", ntohs(sa.sin_port));
    pull(&r, dir, url, NULL, NULL);
    assert_int_equal(r.status, 1);
    ASSERT_ERR_HAS(&r, "cannot connect");
    assert_false(exists(dir, "model.gguf.partial"));
    rg_run_free(&r);
    remove_dir(dir);
}

static void test_redirect(void **state)
{
    (void)state;
    char dir[32];
    make_dir(dir);
    struct rg_run r;
    pull(&r, dir, "/redirect/model.gguf", (const char *[]){"-q", NULL}, NULL);
    if (r.status != 0) fail_msg("exit %d:\n%s", r.status, r.err);
    assert_blob(dir, "model.gguf");
    assert_false(exists(dir, "model.gguf.partial"));
    rg_run_free(&r);
    remove_dir(dir);
}

static void test_resume(void **state)
{
    (void)state;
    char dir[32];
    make_dir(dir);
    struct rg_run r;
    pull(&r, dir, "/flaky/model.gguf", NULL, NULL);
    assert_int_equal(r.status, 1);
    ASSERT_ERR_HAS(&r, "resume");
    assert_false(exists(dir, "model.gguf"));
    long part = file_size(dir, "model.gguf.partial");
    if (part <= 0 || part >= BLOB_LEN) fail_msg("partial has %ld bytes:\n%s", part, r.err);
    rg_run_free(&r);

    int ranges_before;
    char range[64];
    last_range(range, sizeof range, &ranges_before);
    pull(&r, dir, "/flaky/model.gguf", NULL, NULL);
    if (r.status != 0) fail_msg("exit %d:\n%s", r.status, r.err);
    int ranges_after;
    last_range(range, sizeof range, &ranges_after);
    assert_int_equal(ranges_after, ranges_before + 1);
    char want[64];
    snprintf(want, sizeof want, "bytes=%ld-", part);
    assert_string_equal(range, want);
    assert_blob(dir, "model.gguf");
    assert_false(exists(dir, "model.gguf.partial"));
    rg_run_free(&r);
    remove_dir(dir);
}

static void test_range_ignored(void **state)
{
    (void)state;
    char dir[32];
    make_dir(dir);
    /* a stale partial that does not match the file: the server sends it all */
    unsigned char junk[1000];
    memset(junk, 'x', sizeof junk);
    write_file(dir, "model.gguf.partial", junk, sizeof junk);
    struct rg_run r;
    pull(&r, dir, "/norange/model.gguf", NULL, NULL);
    if (r.status != 0) fail_msg("exit %d:\n%s", r.status, r.err);
    char range[64];
    int n;
    last_range(range, sizeof range, &n);
    assert_string_equal(range, "bytes=1000-");
    ASSERT_ERR_HAS(&r, "starting over");
    assert_blob(dir, "model.gguf");
    assert_false(exists(dir, "model.gguf.partial"));
    rg_run_free(&r);
    remove_dir(dir);
}

static void test_partial_complete(void **state)
{
    (void)state;
    char dir[32];
    make_dir(dir);
    /* the whole file is already there: the server answers 416, pull verifies */
    write_file(dir, "model.gguf.partial", S.blob, BLOB_LEN);
    struct rg_run r;
    pull(&r, dir, "/linked/model.gguf", NULL, NULL);
    if (r.status != 0) fail_msg("exit %d:\n%s", r.status, r.err);
    char range[64];
    int n;
    last_range(range, sizeof range, &n);
    char want[64];
    snprintf(want, sizeof want, "bytes=%d-", BLOB_LEN);
    assert_string_equal(range, want);
    ASSERT_ERR_HAS(&r, "X-Linked-Etag");
    assert_blob(dir, "model.gguf");
    assert_false(exists(dir, "model.gguf.partial"));
    rg_run_free(&r);
    remove_dir(dir);
}

static void test_hf(void **state)
{
    (void)state;
    char dir[32];
    make_dir(dir);
    char env_buf[128];
    snprintf(env_buf, sizeof env_buf, "RUSTYGPT_HF_ENDPOINT=%s/hub/", S.base);
    const char *env[] = {env_buf, NULL};
    struct rg_run r;

    /* no endpoint: a clear refusal, no request */
    int before = requests();
    pull(&r, dir, "hf:owner/repo/model.gguf", NULL, NULL);
    assert_int_equal(r.status, 1);
    ASSERT_ERR_HAS(&r, "RUSTYGPT_HF_ENDPOINT");
    assert_int_equal(requests(), before);
    rg_run_free(&r);

    pull(&r, dir, "hf:owner/repo/model.gguf", NULL, env);
    if (r.status != 0) fail_msg("exit %d:\n%s", r.status, r.err);
    assert_blob(dir, "model.gguf");
    ASSERT_ERR_HAS(&r, "X-Linked-Etag");
    rg_run_free(&r);

    pull(&r, dir, "hf:owner/repo/sub/model.gguf@v1", (const char *[]){"--name", "v1.gguf", NULL},
         env);
    if (r.status != 0) fail_msg("exit %d:\n%s", r.status, r.err);
    assert_blob(dir, "v1.gguf");
    rg_run_free(&r);

    pull(&r, dir, "hf:owner/repo/bad.gguf", NULL, env);
    assert_int_equal(r.status, 1);
    ASSERT_ERR_HAS(&r, WRONG_SHA);
    assert_false(exists(dir, "bad.gguf"));
    assert_false(exists(dir, "bad.gguf.partial"));
    rg_run_free(&r);

    pull(&r, dir, "hf:owner/repo/nothere.gguf", NULL, env);
    assert_int_equal(r.status, 1);
    ASSERT_ERR_HAS(&r, "404");
    rg_run_free(&r);

    pull(&r, dir, "hf:owner/model.gguf", NULL, env);
    assert_int_equal(r.status, 2);
    rg_run_free(&r);
    remove_dir(dir);
}

static void test_offline(void **state)
{
    (void)state;
    char dir[32];
    make_dir(dir);
    struct rg_run r;
    int before = requests();
    pull(&r, dir, "/files/model.gguf", (const char *[]){"--offline", NULL}, NULL);
    assert_int_equal(r.status, 1);
    ASSERT_ERR_HAS(&r, "offline");
    rg_run_free(&r);

    const char *env[] = {"RUSTYGPT_OFFLINE=1", NULL};
    pull(&r, dir, "/files/model.gguf", NULL, env);
    assert_int_equal(r.status, 1);
    ASSERT_ERR_HAS(&r, "offline");
    rg_run_free(&r);
    assert_int_equal(requests(), before);
    assert_false(exists(dir, "model.gguf"));
    assert_false(exists(dir, "model.gguf.partial"));
    remove_dir(dir);
}

static void test_usage(void **state)
{
    (void)state;
    char dir[32];
    make_dir(dir);
    int before = requests();
    const char *bad_names[] = {"../evil.gguf", "model.bin", "a/b.gguf", ".gguf", ".hidden.gguf"};
    struct rg_run r;
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        pull(&r, dir, "/files/model.gguf", (const char *[]){"--name", bad_names[i], NULL}, NULL);
        if (r.status != 2) fail_msg("--name %s: exit %d:\n%s", bad_names[i], r.status, r.err);
        rg_run_free(&r);
    }
    pull(&r, dir, "/files/model.gguf", (const char *[]){"--sha256", "abc", NULL}, NULL);
    assert_int_equal(r.status, 2);
    rg_run_free(&r);
    pull(&r, dir, "/files/model.gguf", (const char *[]){"--bogus", NULL}, NULL);
    assert_int_equal(r.status, 2);
    rg_run_free(&r);
    pull(&r, dir, "/files/model.gguf", (const char *[]){"--name", NULL}, NULL);
    assert_int_equal(r.status, 2);
    rg_run_free(&r);
    /* no file name in the URL and no --name */
    pull(&r, dir, "/files/", NULL, NULL);
    assert_int_equal(r.status, 2);
    ASSERT_ERR_HAS(&r, "--name");
    rg_run_free(&r);
    pull(&r, dir, "ftp://127.0.0.1/model.gguf", NULL, NULL);
    assert_int_equal(r.status, 2);
    rg_run_free(&r);

    const char *none[] = {"pull", NULL};
    assert_int_equal(rg_run_cli(none, NULL, NULL, 10, &r), 0);
    assert_int_equal(r.status, 2);
    rg_run_free(&r);
    const char *help[] = {"pull", "--help", NULL};
    assert_int_equal(rg_run_cli(help, NULL, NULL, 10, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "RUSTYGPT_HF_ENDPOINT"));
    rg_run_free(&r);
    assert_int_equal(requests(), before);
    remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_url),
        cmocka_unit_test(test_published_hash),
        cmocka_unit_test(test_sha256_flag),
        cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_redirect),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_range_ignored),
        cmocka_unit_test(test_partial_complete),
        cmocka_unit_test(test_hf),
        cmocka_unit_test(test_offline),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, server_setup, server_teardown);
}
