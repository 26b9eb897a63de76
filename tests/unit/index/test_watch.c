/*
 * The folder watch (src/index/watch.c) on a real directory: a new file, a
 * new directory with a file in it, a rename (both names handed over, the
 * new one first), a burst of writes as one batch after the quiet time, and
 * the refusals (no directory, no callback).
 */
#include "test.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "index/watch.h"

#define DEBOUNCE 250
#define MAX_SEEN 256

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char seen[MAX_SEEN][PATH_MAX]; /* every path handed over, in order */
static int n_seen, n_batches;

static void on_batch(void *user, const char *const *paths, size_t n)
{
    (void)user;
    pthread_mutex_lock(&mu);
    n_batches++;
    for (size_t i = 0; i < n && n_seen < MAX_SEEN; i++)
        snprintf(seen[n_seen++], PATH_MAX, "%s", paths[i]);
    pthread_mutex_unlock(&mu);
}

static void reset(void)
{
    pthread_mutex_lock(&mu);
    n_seen = n_batches = 0;
    pthread_mutex_unlock(&mu);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The index of path among the paths seen, or -1; waits up to 3 s for it. */
static int wait_seen(const char *path)
{
    for (int t = 0; t < 300; t++) {
        pthread_mutex_lock(&mu);
        int at = -1;
        for (int i = 0; i < n_seen && at < 0; i++)
            if (!strcmp(seen[i], path)) at = i;
        pthread_mutex_unlock(&mu);
        if (at >= 0) return at;
        sleep_ms(10);
    }
    return -1;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_watch_follows_the_tree(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/rg_watch_XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char root[PATH_MAX];
    assert_non_null(realpath(tmpl, root));
    struct rg_watch_params p;
    rg_watch_default_params(&p);
    p.root = root;
    p.debounce_ms = DEBOUNCE;
    p.fn = on_batch;
    char err[RG_ERR_SIZE] = "";
    struct rg_watch *w = rg_watch_start(&p, err);
    assert_non_null(w);
    assert_string_equal(rg_watch_root(w), root);

    char a[PATH_MAX + 16], c[PATH_MAX + 16], sub[PATH_MAX + 16], b[PATH_MAX + 32];
    snprintf(a, sizeof a, "%s/a.txt", root);
    put(a, "one");
    assert_true(wait_seen(a) >= 0);

    reset();
    snprintf(sub, sizeof sub, "%s/sub", root);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(b, sizeof b, "%s/b.txt", sub);
    put(b, "two"); /* may land before the new directory's watch exists */
    assert_true(wait_seen(sub) >= 0 || wait_seen(b) >= 0);
    reset();
    put(b, "two again"); /* the new directory is watched by now */
    assert_true(wait_seen(b) >= 0);

    reset();
    snprintf(c, sizeof c, "%s/c.txt", root);
    assert_int_equal(rename(a, c), 0);
    int at_new = wait_seen(c), at_old = wait_seen(a);
    assert_true(at_new >= 0);
    assert_true(at_old >= 0);
    assert_true(at_new < at_old); /* what exists first */

    /* a burst: one batch once the tree is quiet */
    sleep_ms(3 * DEBOUNCE);
    reset();
    char f[PATH_MAX + 16];
    for (int i = 0; i < 5; i++) {
        snprintf(f, sizeof f, "%s/burst%d.txt", root, i);
        put(f, "x");
        sleep_ms(5);
    }
    assert_true(wait_seen(f) >= 0);
    sleep_ms(2 * DEBOUNCE);
    pthread_mutex_lock(&mu);
    int batches = n_batches, got = n_seen;
    pthread_mutex_unlock(&mu);
    assert_int_equal(batches, 1);
    assert_int_equal(got, 5);

    /* a deleted file is handed over too */
    reset();
    assert_int_equal(unlink(c), 0);
    assert_true(wait_seen(c) >= 0);
    rg_watch_stop(w);

    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static void test_watch_refuses(void **state)
{
    (void)state;
    struct rg_watch_params p;
    rg_watch_default_params(&p);
    char err[RG_ERR_SIZE];
    p.root = "/nonexistent/rg/watch";
    p.fn = on_batch;
    assert_null(rg_watch_start(&p, err));
    assert_non_null(strstr(err, "not a directory"));
    p.root = "/tmp";
    p.fn = NULL;
    assert_null(rg_watch_start(&p, err));
    rg_watch_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_follows_the_tree),
        cmocka_unit_test(test_watch_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
