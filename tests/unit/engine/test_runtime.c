/*
 * The engine runtime's contract, without HTTP: every submitted request ends
 * with exactly one END; a queued request can be cancelled before it runs;
 * interactive requests are admitted before background ones; a caller that
 * stops reading has its request ended instead of the memory growing; bad
 * requests are refused at submit and change nothing.
 */
#include "test.h"

#include <stdatomic.h>

#include <math.h>
#include <unistd.h>

#include "engine/engine.h"

static char dir[512];

static int setup(void **state)
{
    (void)state;
    char path[512];
    if (!rg_test_data_path(path, sizeof path, "models/stories260K.gguf")) {
        fprintf(stderr, "SKIP: ../shared/testdata/models/stories260K.gguf is absent\n");
        dir[0] = '\0';
        return 0;
    }
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') - path), path);
    return 0;
}

static struct rg_engine *engine(int slots, size_t max_event_bytes)
{
    struct rg_engine_params p = rg_engine_default_params();
    p.models_dir = dir;
    p.n_slots = slots;
    p.n_threads = 1;
    p.max_event_bytes = max_event_bytes;
    char err[RG_ERR_SIZE];
    struct rg_engine *e = rg_engine_new(&p, err);
    assert_non_null(e);
    return e;
}

/* Holds stories260K on e (loading it). */
static struct rg_engine_model *hold(struct rg_engine *e)
{
    struct rg_engine_model *m;
    char err[RG_ERR_SIZE];
    if (rg_engine_acquire(e, "stories260K", &m, err) != RG_OK) fail_msg("acquire: %s", err);
    return m;
}

static const int32_t PROMPT[] = {1, 100, 200, 300, 400}; /* BOS and four of its 512 tokens */

static struct rg_engine_request gen(const int32_t *const *toks, const int32_t *n, long max_tokens,
                                    enum rg_engine_priority prio)
{
    struct rg_engine_request r = {.kind = RG_ENGINE_GENERATE,
                                  .priority = prio,
                                  .tokens = toks,
                                  .n_tokens = n,
                                  .n_inputs = 1,
                                  .n = 1,
                                  .sp = rg_sample_default_params(),
                                  .max_tokens = max_tokens,
                                  .ignore_eos = true};
    r.sp.temperature = 0;
    return r;
}

static double last_queue_ms; /* of the last request finish() read */

/* Reads id to its END; returns END's rc and the text's token count in *n_tok. */
static int finish(struct rg_engine *e, uint64_t id, long *n_tok)
{
    struct rg_engine_event ev;
    int rc = RG_EINTERNAL, got;
    long toks = 0;
    int ends = 0;
    while ((got = rg_engine_next(e, id, &ev, 10000)) == 1) {
        if (ev.type == RG_ENGINE_EV_TEXT) toks += ev.n_tok;
        bool end = ev.type == RG_ENGINE_EV_END;
        if (end) rc = ev.rc, ends++, last_queue_ms = ev.queue_ms;
        rg_engine_event_clear(&ev);
        if (end) break;
    }
    assert_int_equal(got, 1);
    assert_int_equal(ends, 1);
    assert_int_equal(rg_engine_next(e, id, &ev, 0), RG_ENOTFOUND); /* nothing after END */
    if (n_tok) *n_tok = toks;
    return rc;
}

static void test_generate_and_errors(void **state)
{
    (void)state;
    if (!dir[0]) skip();
    struct rg_engine *e = engine(1, 0);
    struct rg_engine_model *m;
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_engine_acquire(e, "nope", &m, err), RG_ENOTFOUND);
    assert_int_equal(rg_engine_acquire(e, "../etc/passwd", &m, err), RG_ENOTFOUND);
    assert_int_equal(rg_engine_acquire(e, "stories260K", &m, err), RG_OK);
    const int32_t *p = PROMPT;
    int32_t n = 5;
    struct rg_engine_request r = gen(&p, &n, 16, RG_ENGINE_INTERACTIVE);
    int rc;
    uint64_t id = rg_engine_submit(m, &r, NULL, NULL, &rc, err);
    assert_true(id > 0);
    long toks;
    assert_int_equal(finish(e, id, &toks), RG_OK);
    assert_int_equal(toks, 16);
    /* refused at submit: a token out of range, an empty prompt, no inputs */
    const int32_t bad[] = {1, 999999};
    const int32_t *pb = bad;
    int32_t nb = 2;
    r = gen(&pb, &nb, 4, RG_ENGINE_INTERACTIVE);
    assert_int_equal(rg_engine_submit(m, &r, NULL, NULL, &rc, err), 0);
    assert_int_equal(rc, RG_EINVAL);
    nb = 0;
    assert_int_equal(rg_engine_submit(m, &r, NULL, NULL, &rc, err), 0);
    assert_int_equal(rc, RG_EINVAL);
    r.n_inputs = 0;
    assert_int_equal(rg_engine_submit(m, &r, NULL, NULL, &rc, err), 0);
    /* and the model still serves */
    r = gen(&p, &n, 4, RG_ENGINE_INTERACTIVE);
    id = rg_engine_submit(m, &r, NULL, NULL, &rc, err);
    assert_int_equal(finish(e, id, NULL), RG_OK);
    rg_engine_release(m, NAN);
    rg_engine_free(e);
}

/* One slot, busy with a long generation: a queued request is cancelled
 * before it runs (no token), and of two queued ones the interactive one is
 * admitted before the background one that came first. */
static void test_cancel_queued_and_priority(void **state)
{
    (void)state;
    if (!dir[0]) skip();
    struct rg_engine *e = engine(1, 0);
    struct rg_engine_model *m = hold(e);
    char err[RG_ERR_SIZE];
    const int32_t *p = PROMPT;
    int32_t n = 5;
    int rc;
    struct rg_engine_request r = gen(&p, &n, 1500, RG_ENGINE_INTERACTIVE);
    uint64_t busy = rg_engine_submit(m, &r, NULL, NULL, &rc, err);
    r = gen(&p, &n, 8, RG_ENGINE_INTERACTIVE);
    uint64_t doomed = rg_engine_submit(m, &r, NULL, NULL, &rc, err);
    r = gen(&p, &n, 8, RG_ENGINE_BACKGROUND);
    uint64_t bg = rg_engine_submit(m, &r, NULL, NULL, &rc, err);
    r = gen(&p, &n, 8, RG_ENGINE_INTERACTIVE);
    uint64_t fg = rg_engine_submit(m, &r, NULL, NULL, &rc, err);
    assert_true(busy && doomed && bg && fg);
    rg_engine_cancel(e, doomed);
    long toks = -1;
    assert_int_equal(finish(e, doomed, &toks), RG_ECANCELED);
    assert_int_equal(toks, 0);
    rg_engine_cancel(e, busy);
    assert_int_equal(finish(e, busy, NULL), RG_ECANCELED);
    /* fg was admitted first although bg came first: bg waited longer */
    assert_int_equal(finish(e, fg, NULL), RG_OK);
    double fg_wait = last_queue_ms;
    assert_int_equal(finish(e, bg, NULL), RG_OK);
    if (!(last_queue_ms > fg_wait))
        fail_msg("background waited %.3f ms, interactive %.3f ms", last_queue_ms, fg_wait);
    rg_engine_release(m, NAN);
    rg_engine_free(e);
}

static void count_note(void *user)
{
    atomic_fetch_add((atomic_int *)user, 1);
}

/* A caller that never reads: with a small event budget the request ends
 * with RG_ENOMEM rather than holding more than that. */
static void test_unread_events_end_request(void **state)
{
    (void)state;
    if (!dir[0]) skip();
    struct rg_engine *e = engine(1, 256);
    struct rg_engine_model *m = hold(e);
    char err[RG_ERR_SIZE];
    const int32_t *p = PROMPT;
    int32_t n = 5;
    int rc;
    struct rg_engine_request r = gen(&p, &n, 1500, RG_ENGINE_INTERACTIVE);
    atomic_int notes = 0;
    uint64_t id = rg_engine_submit(m, &r, count_note, &notes, &rc, err);
    assert_true(id > 0);
    /* the scheduler runs ahead of a caller that is not reading: wait until it
     * has stopped telling of new events for a while (the request ended) rather
     * than a fixed time, which a slow machine or qemu does not fill */
    int last = -1, quiet_ms = 0;
    for (int waited = 0; waited < 120000 && quiet_ms < 1000; waited += 50) {
        usleep(50000);
        int now = atomic_load(&notes);
        quiet_ms = now > 0 && now == last ? quiet_ms + 50 : 0;
        last = now;
    }
    long toks;
    assert_int_equal(finish(e, id, &toks), RG_ENOMEM);
    assert_true(toks < 1500);
    rg_engine_release(m, NAN);
    rg_engine_free(e);
}

/* Requests left unread when the engine is freed are freed with it. */
static void test_free_with_requests(void **state)
{
    (void)state;
    if (!dir[0]) skip();
    struct rg_engine *e = engine(2, 0);
    struct rg_engine_model *m = hold(e);
    char err[RG_ERR_SIZE];
    const int32_t *p = PROMPT;
    int32_t n = 5;
    int rc;
    for (int i = 0; i < 4; i++) {
        struct rg_engine_request r = gen(&p, &n, 1000, RG_ENGINE_INTERACTIVE);
        assert_true(rg_engine_submit(m, &r, NULL, NULL, &rc, err) > 0);
    }
    rg_engine_release(m, NAN);
    rg_engine_free(e); /* LeakSanitizer checks nothing is left */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_and_errors),
        cmocka_unit_test(test_cancel_queued_and_priority),
        cmocka_unit_test(test_unread_events_end_request),
        cmocka_unit_test(test_free_with_requests),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
