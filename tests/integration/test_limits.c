/*
 * Connection limits against slow clients (slowloris, issue 23): hundreds of
 * connections that send a request's headers a line at a time must not keep
 * /healthz from a fresh connection unanswered. The defences: a deadline for a
 * request's headers (--header-timeout), a per-address connection limit
 * (--max-connections-per-ip) and the global one (--max-connections).
 *
 * The attackers connect from other loopback addresses (127.0.0.2 and up: all
 * of 127/8 is the loopback on Linux) so that the per-address limit can tell
 * them from the prober on 127.0.0.1. Bounds are generous: the tests check
 * what is answered and what is closed, not how fast.
 */
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include "harness.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A TCP connection to the server from source address 127.0.0.<host>. */
static int connect_from(int host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000000u | (unsigned)host);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0 ||
        connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Opens n slow clients from 127.0.0.<first_host>.. (hosts addresses in turn),
 * each having sent a request line and one header line, no end of headers. */
static int open_slow(int *fds, int n, int first_host, int hosts, int port)
{
    static const char start[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (int i = 0; i < n; i++) {
        fds[i] = connect_from(first_host + i % hosts, port);
        if (fds[i] < 0) return -1;
        send(fds[i], start, sizeof start - 1, MSG_NOSIGNAL); /* may fail: refused is fine */
    }
    return 0;
}

/* One more header line on each slow client still open (the attack's trickle,
 * which keeps an idle timeout from ever firing). */
static void trickle(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0 && send(fds[i], "X-Slow: 1\r\n", 11, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
            errno != EAGAIN) {
            close(fds[i]);
            fds[i] = -1;
        }
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) close(fds[i]);
}

/* GET /healthz on a fresh connection from 127.0.0.1: true on a 200 within
 * timeout_ms. */
static bool healthz(int port, int timeout_ms)
{
    int fd = connect_from(1, port);
    if (fd < 0) return false;
    static const char req[] =
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    bool ok = false;
    if (rg_tcp_send(fd, req, sizeof req - 1) == 0) {
        size_t len = 0;
        char *resp = rg_tcp_read_until(fd, "\r\n\r\n", 1, timeout_ms, &len);
        ok = resp && !strncmp(resp, "HTTP/1.1 200", 12);
        free(resp);
    }
    close(fd);
    return ok;
}

/* Probes /healthz while the slow clients trickle, for up to limit_s seconds.
 * Returns the seconds it took to get a 200, or -1. */
static double healthz_under_attack(int port, int *fds, int n, double limit_s)
{
    double t0 = now_s();
    while (now_s() - t0 < limit_s) {
        if (healthz(port, 10000)) return now_s() - t0;
        trickle(fds, n);
        sleep_ms(500);
    }
    return -1;
}

/* Whether the server closes fd (EOF or reset) within limit_s seconds while
 * the client goes on trickling header lines. */
static bool closed_by_server(int fd, double limit_s)
{
    double t0 = now_s();
    while (now_s() - t0 < limit_s) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 250) > 0) {
            char b[256];
            ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN)) return true;
        }
        if (send(fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) < 0) return true;
    }
    return false;
}

/* The attack of issue 23 against the default settings: 300 connections
 * trickling headers; a fresh client still gets /healthz (within 30 s, well
 * under the 60 s idle timeout that the trickle defeats anyway). */
static void test_slowloris_defaults(void **state)
{
    (void)state;
    struct rg_server s;
    assert_int_equal(rg_server_start(&s, NULL, NULL), 0);
    enum { N = 300 };
    int fds[N];
    assert_int_equal(open_slow(fds, N, 2, 1, s.port), 0);
    double t = healthz_under_attack(s.port, fds, N, 30);
    close_all(fds, N);
    if (t < 0) fail_msg("/healthz got no answer in 30 s with %d slow clients", N);
    assert_int_equal(rg_server_stop(&s), 0);
}

/* A client that never finishes its headers is closed after --header-timeout
 * although it keeps sending; a complete request on another connection is
 * answered meanwhile; a keep-alive connection that waits between requests
 * longer than the header timeout is not cut. */
static void test_header_timeout(void **state)
{
    (void)state;
    struct rg_server s;
    const char *args[] = {"--header-timeout", "2", "--timeout", "60", NULL};
    assert_int_equal(rg_server_start(&s, args, NULL), 0);
    int slow[1];
    assert_int_equal(open_slow(slow, 1, 2, 1, s.port), 0);
    assert_true(healthz(s.port, 5000));
    assert_true(closed_by_server(slow[0], 30));
    close(slow[0]);

    int fd = connect_from(1, s.port);
    assert_true(fd >= 0);
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for (int i = 0; i < 2; i++) {
        assert_int_equal(rg_tcp_send(fd, req, sizeof req - 1), 0);
        size_t len = 0;
        char *resp = rg_tcp_read_until(fd, "\"ok\"", 1, 5000, &len);
        assert_non_null(resp);
        if (strncmp(resp, "HTTP/1.1 200", 12)) fail_msg("request %d: %.200s", i, resp);
        free(resp);
        if (i == 0) sleep_ms(3500); /* idle between requests, past the header timeout */
    }
    close(fd);
    assert_int_equal(rg_server_stop(&s), 0);
}

/* One address gets at most --max-connections-per-ip connections: the next
 * one from it is closed, one from another address is served. */
static void test_per_ip_limit(void **state)
{
    (void)state;
    struct rg_server s;
    const char *args[] = {"--max-connections-per-ip", "8", "--header-timeout", "60", NULL};
    assert_int_equal(rg_server_start(&s, args, NULL), 0);
    enum { N = 8 };
    int fds[N];
    assert_int_equal(open_slow(fds, N, 3, 1, s.port), 0);
    sleep_ms(300); /* let the server take them all before the ninth */
    int extra[1];
    assert_int_equal(open_slow(extra, 1, 3, 1, s.port), 0);
    assert_true(closed_by_server(extra[0], 20));
    close(extra[0]);
    assert_true(healthz(s.port, 5000));
    /* the eight are still open: closing one makes room for another */
    for (int i = 0; i < N; i++) {
        struct pollfd p = {fds[i], POLLIN, 0};
        assert_int_equal(poll(&p, 1, 0), 0);
    }
    close_all(fds, N);
    assert_int_equal(rg_server_stop(&s), 0);
}

/* Slow clients from many addresses fill every connection (the global limit):
 * the header deadline frees them, so /healthz is answered again. */
static void test_global_limit_recovers(void **state)
{
    (void)state;
    struct rg_server s;
    const char *args[] = {
        "--max-connections", "32", "--max-connections-per-ip", "0", "--header-timeout", "2", NULL};
    assert_int_equal(rg_server_start(&s, args, NULL), 0);
    enum { N = 64 };
    int fds[N];
    assert_int_equal(open_slow(fds, N, 10, 32, s.port), 0);
    double t = healthz_under_attack(s.port, fds, N, 40);
    close_all(fds, N);
    if (t < 0) fail_msg("/healthz got no answer in 40 s with %d slow clients", N);
    assert_int_equal(rg_server_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slowloris_defaults),
        cmocka_unit_test(test_header_timeout),
        cmocka_unit_test(test_per_ip_limit),
        cmocka_unit_test(test_global_limit_recovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
