/*
 * src/net/: the URL check, the offline flag and its refusals, and the guard
 * on a handle's sockets, against a one-shot HTTP listener on loopback that
 * counts the connections it accepts (so "refused" means nothing got out).
 */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "net/net.h"

static int lfd = -1, lport;
static atomic_int accepted;
static atomic_bool stop;

static void *serve(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        int c = accept(lfd, NULL, NULL);
        if (c < 0) continue;
        atomic_fetch_add(&accepted, 1);
        char buf[4096];
        (void)recv(c, buf, sizeof buf, 0);
        static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n"
                                    "\r\nok";
        (void)send(c, reply, sizeof reply - 1, MSG_NOSIGNAL);
        close(c);
    }
    return NULL;
}

static pthread_t th;

static int setup(void **state)
{
    (void)state;
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 8) ||
        getsockname(lfd, (struct sockaddr *)&a, &n))
        return -1;
    lport = ntohs(a.sin_port);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return pthread_create(&th, NULL, serve, NULL) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    atomic_store(&stop, true);
    pthread_join(th, NULL);
    close(lfd);
    curl_global_cleanup();
    return 0;
}

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
    (void)p, (void)ud;
    return size * n;
}

static CURLcode fetch(CURL *c)
{
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    return curl_easy_perform(c);
}

static void test_check_url(void **state)
{
    (void)state;
    char err[RG_ERR_SIZE];
    rg_net_set_offline(false);
    assert_int_equal(rg_net_check_url("https://example.org/x.gguf", "a test", err), RG_OK);
    assert_int_equal(rg_net_check_url("HTTP://example.org/", "a test", err), RG_OK);
    assert_int_equal(rg_net_check_url("file:///etc/passwd", "a test", err), RG_EINVAL);
    assert_int_equal(rg_net_check_url("ftp://example.org/", "a test", err), RG_EINVAL);
    assert_int_equal(rg_net_check_url("gopher://x", "a test", err), RG_EINVAL);
    assert_int_equal(rg_net_check_url("http://a b/", "a test", err), RG_EINVAL);
    assert_int_equal(rg_net_check_url(NULL, "a test", err), RG_EINVAL);
    assert_int_equal(rg_net_allowed("a test", err), RG_OK);
}

static void test_offline_refuses_and_counts(void **state)
{
    (void)state;
    char err[RG_ERR_SIZE], last[64];
    uint64_t before = rg_net_refused();
    rg_net_set_offline(true);
    assert_true(rg_net_offline());
    assert_int_equal(rg_net_check_url("https://example.org/m.gguf", "a model pull", err), RG_EPERM);
    assert_non_null(strstr(err, RG_NET_OFFLINE_MSG));
    assert_non_null(strstr(err, "a model pull"));
    assert_int_equal(rg_net_allowed("sign-in", err), RG_EPERM);
    assert_int_equal(rg_net_refused(), before + 2);
    assert_string_equal(rg_net_last_refused(last, sizeof last), "sign-in");
    /* a bad scheme is a bad request whether offline or not, and not a refusal */
    assert_int_equal(rg_net_check_url("file:///x", "a test", err), RG_EINVAL);
    assert_int_equal(rg_net_refused(), before + 2);
    /* a refused URL is not set on the handle */
    CURL *c = rg_net_curl(err);
    assert_non_null(c);
    assert_int_equal(rg_net_curl_url(c, "http://127.0.0.1:1/", "a test", err), RG_EPERM);
    curl_easy_cleanup(c);
    rg_net_set_offline(false);
    assert_false(rg_net_offline());
}

/* Online the handle reaches the listener; switched off after the URL was
 * set (a transfer already planned, or a redirect), the guard stops it
 * before any socket is made. */
static void test_guard_on_handle(void **state)
{
    (void)state;
    char err[RG_ERR_SIZE], url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", lport);
    rg_net_set_offline(false);
    CURL *c = rg_net_curl(err);
    assert_non_null(c);
    assert_int_equal(rg_net_curl_url(c, url, "a test", err), RG_OK);
    int seen = atomic_load(&accepted);
    assert_int_equal(fetch(c), CURLE_OK);
    assert_int_equal(atomic_load(&accepted), seen + 1);

    uint64_t before = rg_net_refused();
    rg_net_set_offline(true);
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
    CURLcode res = fetch(c);
    assert_int_not_equal(res, CURLE_OK);
    assert_true(rg_net_refused() > before);
    assert_int_equal(atomic_load(&accepted), seen + 1);

    /* a host name: refused before the lookup */
    snprintf(url, sizeof url, "http://localhost:%d/x", lport);
    curl_easy_setopt(c, CURLOPT_URL, url);
    before = rg_net_refused();
    res = fetch(c);
    assert_int_not_equal(res, CURLE_OK);
    assert_true(rg_net_refused() > before);
    assert_int_equal(atomic_load(&accepted), seen + 1);

    rg_net_set_offline(false);
    assert_int_equal(fetch(c), CURLE_OK);
    assert_int_equal(atomic_load(&accepted), seen + 2);
    curl_easy_cleanup(c);
}

/* Other schemes are off on the handle itself, not only in the check. */
static void test_handle_protocols(void **state)
{
    (void)state;
    char err[RG_ERR_SIZE];
    rg_net_set_offline(false);
    CURL *c = rg_net_curl(err);
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, "file:///etc/hostname");
    assert_int_equal(fetch(c), CURLE_UNSUPPORTED_PROTOCOL);
    curl_easy_cleanup(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_url),
        cmocka_unit_test(test_offline_refuses_and_counts),
        cmocka_unit_test(test_guard_on_handle),
        cmocka_unit_test(test_handle_protocols),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
