/*
 * Message vectors (migration 8, db/msgvec.h) on both backends: a vector is
 * stored with its model and replaced; the scan ranks by cosine, keeps the
 * best k, leaves out the excluded conversation, other models, other
 * dimensions, other users and non-chat messages; a deleted message takes
 * its vector along. And a summary message is never descended to: deleting
 * the branch it would be chosen for leaves no active leaf.
 */
#include "storage_fixture.h"

#include <math.h>
#include <stdbool.h>

#include "common/alloc.h"
#include "db/db.h"
#include "db/msgvec.h"

static int64_t mkconv(struct rg_db *db, int64_t owner)
{
    char err[RG_ERR_SIZE] = "";
    struct rg_db_conv c;
    struct rg_db_conv_new n = {.owner_id = owner, .title = "t", .now = 1};
    int rc = rg_db_conv_create(db, &n, &c, err);
    if (rc) fail_msg("conv_create: %d %s", rc, err);
    int64_t id = c.id;
    rg_db_conv_clear(&c);
    return id;
}

static int64_t addmsg(struct rg_db *db, int64_t owner, int64_t conv, int64_t parent,
                      const char *type, const char *content, bool active)
{
    char err[RG_ERR_SIZE] = "";
    struct rg_db_msg m;
    struct rg_db_msg_new n = {.conv_id = conv,
                              .parent_id = parent,
                              .type = type,
                              .content = content,
                              .set_active = active,
                              .now = 2};
    int rc = rg_db_msg_add(db, owner, &n, &m, err);
    if (rc) fail_msg("msg_add: %d %s", rc, err);
    int64_t id = m.id;
    rg_db_msg_clear(&m);
    return id;
}

/* A unit vector at angle a in the first two dimensions of 4. */
static void vec(float *v, double a)
{
    v[0] = (float)cos(a);
    v[1] = (float)sin(a);
    v[2] = v[3] = 0;
}

static void test_put_search(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE] = "";
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL), b = mkuser(f->db, "b@x.org", NULL, NULL);
    int64_t c1 = mkconv(f->db, a), c2 = mkconv(f->db, a), cb = mkconv(f->db, b);
    int64_t m1 = addmsg(f->db, a, c1, 0, "user", "one", true);
    int64_t m2 = addmsg(f->db, a, c1, m1, "assistant", "two", true);
    int64_t m3 = addmsg(f->db, a, c2, 0, "user", "three", true);
    int64_t n1 = addmsg(f->db, a, c1, m2, "note", "a note", true);
    int64_t mb = addmsg(f->db, b, cb, 0, "user", "b's", true);
    float v[4];
    vec(v, 0.1);
    assert_int_equal(rg_db_msgvec_put(f->db, a, m1, "test-hash", v, 4, 3, err), RG_OK);
    vec(v, 0.5);
    assert_int_equal(rg_db_msgvec_put(f->db, a, m2, "test-hash", v, 4, 3, err), RG_OK);
    vec(v, 0.05);
    assert_int_equal(rg_db_msgvec_put(f->db, a, m3, "test-hash", v, 4, 3, err), RG_OK);
    vec(v, 0.0);
    assert_int_equal(rg_db_msgvec_put(f->db, a, n1, "test-hash", v, 4, 3, err), RG_OK);
    assert_int_equal(rg_db_msgvec_put(f->db, b, mb, "test-hash", v, 4, 3, err), RG_OK);
    assert_int_equal(rg_db_msgvec_put(f->db, a, m1, "other-model", v, 4, 3, err), RG_OK);
    vec(v, 0.1); /* back to test-hash: replaced, not added */
    assert_int_equal(rg_db_msgvec_put(f->db, a, m1, "test-hash", v, 4, 3, err), RG_OK);
    /* another's message, a missing one, a bad model or size */
    assert_int_equal(rg_db_msgvec_put(f->db, a, mb, "test-hash", v, 4, 3, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_msgvec_put(f->db, a, 999999, "test-hash", v, 4, 3, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_msgvec_put(f->db, a, m1, "", v, 4, 3, err), RG_EINVAL);
    assert_int_equal(rg_db_msgvec_put(f->db, a, m1, "x", v, 0, 3, err), RG_EINVAL);
    int64_t n = 0;
    assert_int_equal(rg_db_msgvec_count(f->db, a, "test-hash", &n, err), RG_OK);
    assert_int_equal(n, 4);

    float q[4];
    vec(q, 0.0);
    struct rg_db_msgvec_hit *h = NULL;
    size_t nh = 0;
    assert_int_equal(rg_db_msgvec_search(f->db, a, "test-hash", q, 4, 0, 2, &h, &nh, err), RG_OK);
    assert_int_equal(nh, 2); /* best two of m1, m2, m3 (the note never) */
    assert_int_equal(h[0].message_id, m3);
    assert_int_equal(h[0].conv_id, c2);
    assert_string_equal(h[0].content, "three");
    assert_int_equal(h[1].message_id, m1);
    assert_true(fabs(h[0].score - cos(0.05)) < 1e-5);
    assert_true(h[0].score >= h[1].score);
    rg_db_msgvec_hits_free(h, nh);
    /* outside c2 */
    assert_int_equal(rg_db_msgvec_search(f->db, a, "test-hash", q, 4, c2, 8, &h, &nh, err), RG_OK);
    assert_int_equal(nh, 2);
    assert_int_equal(h[0].message_id, m1);
    assert_int_equal(h[1].message_id, m2);
    rg_db_msgvec_hits_free(h, nh);
    /* other model, other size, other user */
    assert_int_equal(rg_db_msgvec_search(f->db, a, "other-model", q, 4, 0, 8, &h, &nh, err), RG_OK);
    assert_int_equal(nh, 0);
    rg_db_msgvec_hits_free(h, nh);
    assert_int_equal(rg_db_msgvec_search(f->db, a, "test-hash", q, 3, 0, 8, &h, &nh, err), RG_OK);
    assert_int_equal(nh, 0);
    rg_db_msgvec_hits_free(h, nh);
    assert_int_equal(rg_db_msgvec_search(f->db, b, "test-hash", q, 4, 0, 8, &h, &nh, err), RG_OK);
    assert_int_equal(nh, 1);
    assert_int_equal(h[0].message_id, mb);
    rg_db_msgvec_hits_free(h, nh);
    assert_int_equal(rg_db_msgvec_search(f->db, a, "test-hash", q, 4, 0, 0, &h, &nh, err),
                     RG_EINVAL);
    /* a deleted message takes its vector along */
    assert_int_equal(rg_db_msg_delete(f->db, a, m3, NULL, err), RG_OK);
    assert_int_equal(rg_db_msgvec_count(f->db, a, "test-hash", &n, err), RG_OK);
    assert_int_equal(n, 3);
}

static void test_summary_not_descended(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE] = "";
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t c = mkconv(f->db, a);
    int64_t u = addmsg(f->db, a, c, 0, "user", "hi", true);
    int64_t r = addmsg(f->db, a, c, u, "assistant", "hello", true);
    int64_t s = addmsg(f->db, a, c, 0, "summary", "they said hi", false); /* a root */
    int64_t leaf = 0;
    /* descending from the summary finds the newest other root's branch */
    assert_int_equal(rg_db_conv_set_active(f->db, a, c, s, true, &leaf, err), RG_OK);
    assert_int_equal(leaf, r);
    /* a summary child is never followed */
    int64_t s2 = addmsg(f->db, a, c, r, "summary", "child summary", false);
    assert_int_equal(rg_db_conv_set_active(f->db, a, c, u, true, &leaf, err), RG_OK);
    assert_int_equal(leaf, r);
    (void)s2;
    /* the branch deleted: no active leaf, not the summary */
    assert_int_equal(rg_db_msg_delete(f->db, a, u, NULL, err), RG_OK);
    struct rg_db_conv cv;
    assert_int_equal(rg_db_conv_get(f->db, a, c, &cv, err), RG_OK);
    assert_int_equal(cv.active_leaf, 0);
    rg_db_conv_clear(&cv);
}

#define SUITE(x)                                                                                   \
    cmocka_unit_test_setup_teardown(test_put_search, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_summary_not_descended, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {SUITE(x)};
    g_backend = SQLITE;
    int failed = cmocka_run_group_tests_name("msgvec_storage/sqlite", tests, NULL, NULL);
    int pg = fx_pg_find("msgvec_storage");
    if (pg <= 0) return failed + (pg < 0 ? 1 : 0);
    g_backend = PG;
    const struct CMUnitTest pg_tests[] = {SUITE(x)};
    failed += cmocka_run_group_tests_name("msgvec_storage/postgres", pg_tests, NULL, NULL);
    return failed;
}
