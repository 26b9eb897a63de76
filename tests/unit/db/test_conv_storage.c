/*
 * Kept conversations and signed-in devices (the "conversations" and
 * "refresh sessions as a user sees them" parts of src/db/db.h), run against
 * SQLite and then PostgreSQL, each test on a fresh database: the tree rules
 * (also as a seeded random property test), ownership (another user's ids are
 * RG_ENOTFOUND and change nothing), full-text search, list order and
 * filters, threads, cascades, bad input.
 *
 * PostgreSQL as in test_storage.c: PGHOST (pg_virtualenv) or RG_TEST_PG_URL;
 * RG_REQUIRE_PG=1 makes its absence a failure.
 */
#include "storage_fixture.h"

#include <pthread.h>
#include <stdbool.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/db.h"
#include "db/db_internal.h" /* RG_DB_SEARCH_Q_MAX */

/* ---- helpers ----------------------------------------------------------------- */

static int64_t mkconv(struct rg_db *db, int64_t owner, const char *title, int64_t now)
{
    char err[RG_ERR_SIZE] = "";
    struct rg_db_conv c;
    struct rg_db_conv_new n = {.owner_id = owner, .title = title, .now = now};
    int rc = rg_db_conv_create(db, &n, &c, err);
    if (rc) fail_msg("conv_create: %d %s", rc, err);
    int64_t id = c.id;
    rg_db_conv_clear(&c);
    return id;
}

static int64_t addmsg_full(struct rg_db *db, int64_t owner, int64_t conv, int64_t parent,
                           const char *type, const char *content, bool active, int64_t now,
                           struct rg_db_msg *keep)
{
    char err[RG_ERR_SIZE] = "";
    struct rg_db_msg m;
    struct rg_db_msg_new n = {.conv_id = conv,
                              .parent_id = parent,
                              .type = type,
                              .content = content,
                              .set_active = active,
                              .now = now};
    int rc = rg_db_msg_add(db, owner, &n, &m, err);
    if (rc) fail_msg("msg_add: %d %s", rc, err);
    int64_t id = m.id;
    if (keep)
        *keep = m;
    else
        rg_db_msg_clear(&m);
    return id;
}

static int64_t addmsg(struct rg_db *db, int64_t owner, int64_t conv, int64_t parent,
                      const char *type, const char *content, int64_t now)
{
    return addmsg_full(db, owner, conv, parent, type, content, true, now, NULL);
}

static struct rg_db_conv getconv(struct rg_db *db, int64_t owner, int64_t id)
{
    char err[RG_ERR_SIZE] = "";
    struct rg_db_conv c;
    int rc = rg_db_conv_get(db, owner, id, &c, err);
    if (rc) fail_msg("conv_get %lld: %d %s", (long long)id, rc, err);
    rg_db_conv_clear(&c);
    return c;
}

/* The conversations a search or list finds: their ids in order. */
static size_t list_ids(struct rg_db *db, int64_t owner, const struct rg_db_conv_filter *f,
                       int64_t *ids, size_t max, bool *more, struct rg_db_conv *first)
{
    char err[RG_ERR_SIZE] = "";
    struct rg_db_conv *v = NULL;
    size_t n = 0;
    bool m = false;
    int rc = rg_db_conv_list(db, owner, f, &v, &n, &m, err);
    if (rc) fail_msg("conv_list: %d %s", rc, err);
    for (size_t i = 0; i < n && i < max; i++)
        ids[i] = v[i].id;
    if (first && n) {
        *first = v[0];
        first->settings = NULL;
    }
    if (more) *more = m;
    rg_db_conv_list_free(v, n);
    return n;
}

static size_t search(struct rg_db *db, int64_t owner, const char *q, int64_t *ids, size_t max,
                     struct rg_db_conv *first)
{
    struct rg_db_conv_filter f = {.q = q, .archived = -1, .limit = 50};
    return list_ids(db, owner, &f, ids, max, NULL, first);
}

static int64_t count_rows(struct fx *f, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return raw_int(f, sql);
}

/* ---- basics and bad input ---------------------------------------------------------- */

static void test_create_get(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    struct rg_db_conv c;
    struct rg_db_conv_new n = {.owner_id = a,
                               .model = "m1",
                               .settings = "{\"temperature\": 0.5}",
                               .folder = "work",
                               .tags = " Rust, work ,rust,,a-b_c d",
                               .now = 5000};
    assert_int_equal(rg_db_conv_create(f->db, &n, &c, err), RG_OK);
    assert_true(c.id > 0);
    assert_int_equal(c.owner_id, a);
    assert_string_equal(c.title, "");
    assert_true(c.title_auto);
    assert_string_equal(c.model, "m1");
    assert_string_equal(c.settings, "{\"temperature\": 0.5}");
    assert_string_equal(c.folder, "work");
    assert_string_equal(c.tags, "a-b_c d,rust,work");
    assert_false(c.archived);
    assert_false(c.pinned);
    assert_int_equal(c.active_leaf, 0);
    assert_true(c.main_thread > 0);
    assert_int_equal(c.n_messages, 0);
    assert_int_equal(c.created_at, 5000);
    assert_int_equal(c.updated_at, 5000);
    int64_t id = c.id, main_thread = c.main_thread;
    rg_db_conv_clear(&c);

    struct rg_db_conv_new t = {.owner_id = a, .title = "Named", .now = 1};
    assert_int_equal(rg_db_conv_create(f->db, &t, &c, err), RG_OK);
    assert_false(c.title_auto);
    assert_string_equal(c.settings, "{}");
    rg_db_conv_clear(&c);

    struct rg_db_thread *th = NULL;
    size_t nt = 0;
    assert_int_equal(rg_db_thread_list(f->db, a, id, &th, &nt, err), RG_OK);
    assert_int_equal(nt, 1);
    assert_int_equal(th[0].id, main_thread);
    assert_int_equal(th[0].root_id, 0);
    rg_free(th);

    /* bad input */
    struct rg_db_conv_new b = n;
    b.tags = "ok, no!";
    assert_int_equal(rg_db_conv_create(f->db, &b, &c, err), RG_EINVAL);
    b.tags = "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q";
    assert_int_equal(rg_db_conv_create(f->db, &b, &c, err), RG_EINVAL);
    b.tags = "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,a"; /* 16 once duplicates go */
    assert_int_equal(rg_db_conv_create(f->db, &b, &c, err), RG_OK);
    assert_string_equal(c.tags, "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p");
    rg_db_conv_clear(&c);
    b.tags = "0123456789012345678901234567890123456789012345678"; /* 49 bytes */
    assert_int_equal(rg_db_conv_create(f->db, &b, &c, err), RG_EINVAL);
    b = n;
    b.settings = "[1]";
    assert_int_equal(rg_db_conv_create(f->db, &b, &c, err), RG_EINVAL);
    b.settings = "{bad";
    assert_int_equal(rg_db_conv_create(f->db, &b, &c, err), RG_EINVAL);
    b = n;
    char longt[RG_DB_CONV_TITLE_MAX + 2];
    memset(longt, 'x', sizeof longt - 1);
    longt[sizeof longt - 1] = '\0';
    b.title = longt;
    assert_int_equal(rg_db_conv_create(f->db, &b, &c, err), RG_EINVAL);
    longt[RG_DB_CONV_TITLE_MAX] = '\0'; /* exactly the maximum */
    assert_int_equal(rg_db_conv_create(f->db, &b, &c, err), RG_OK);
    rg_db_conv_clear(&c);
    b.title = "bad \xc3\x28 utf-8";
    assert_int_equal(rg_db_conv_create(f->db, &b, &c, err), RG_EINVAL);
    b.title = "line\nbreak";
    assert_int_equal(rg_db_conv_create(f->db, &b, &c, err), RG_EINVAL);
    b = n;
    b.owner_id = 0;
    assert_int_equal(rg_db_conv_create(f->db, &b, &c, err), RG_ENOTFOUND);
    b.owner_id = a + 100;
    assert_int_equal(rg_db_conv_create(f->db, &b, &c, err), RG_ENOTFOUND);

    struct rg_db_msg m;
    struct rg_db_msg_new mn = {.conv_id = id, .type = "robot", .content = "x", .now = 1};
    assert_int_equal(rg_db_msg_add(f->db, a, &mn, &m, err), RG_EINVAL);
    mn.type = "user";
    mn.role = "king";
    assert_int_equal(rg_db_msg_add(f->db, a, &mn, &m, err), RG_EINVAL);
    mn.role = NULL;
    mn.content = "\xff\xfe";
    assert_int_equal(rg_db_msg_add(f->db, a, &mn, &m, err), RG_EINVAL);
    mn.content = "line one\nline two\ttab";
    mn.settings = "3";
    assert_int_equal(rg_db_msg_add(f->db, a, &mn, &m, err), RG_EINVAL);
    mn.settings = NULL;
    mn.type = "note";
    assert_int_equal(rg_db_msg_add(f->db, a, &mn, &m, err), RG_OK);
    assert_string_equal(m.role, "system"); /* from the type */
    assert_string_equal(m.content, "line one\nline two\ttab");
    assert_string_equal(m.settings, "{}");
    assert_int_equal(m.thread_id, main_thread);
    int64_t mid = m.id;
    rg_db_msg_clear(&m);
    struct rg_db_msg_end e = {.content = "x", .finish = "done?", .now = 2};
    assert_int_equal(rg_db_msg_finish(f->db, a, mid, &e, &m, err), RG_EINVAL);
    assert_true(rg_db_msg_type_valid("summary"));
    assert_false(rg_db_msg_type_valid("users"));
    assert_false(rg_db_msg_type_valid(NULL));
    /* the note became the active leaf of the empty conversation */
    assert_int_equal(getconv(f->db, a, id).active_leaf, mid);
}

static void test_stream_finish(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t cv = mkconv(f->db, a, "t", 100);
    int64_t u = addmsg(f->db, a, cv, 0, "user", "hello", 200);
    struct rg_db_msg m;
    struct rg_db_msg_new n = {.conv_id = cv,
                              .parent_id = u,
                              .type = "assistant",
                              .content = "",
                              .model = "tiny",
                              .incomplete = true,
                              .set_active = true,
                              .now = 300};
    assert_int_equal(rg_db_msg_add(f->db, a, &n, &m, err), RG_OK);
    assert_string_equal(m.role, "assistant");
    assert_true(m.incomplete);
    assert_string_equal(m.finish, "");
    int64_t id = m.id;
    rg_db_msg_clear(&m);
    struct rg_db_msg_end e = {.content = "Hi th", .incomplete = true, .now = 350};
    assert_int_equal(rg_db_msg_finish(f->db, a, id, &e, &m, err), RG_OK);
    rg_db_msg_clear(&m);
    e = (struct rg_db_msg_end){.content = "Hi there",
                               .finish = "stop",
                               .prompt_tokens = 12,
                               .completion_tokens = 3,
                               .duration_ms = 40,
                               .settings = "{\"seed\": 7}",
                               .now = 400};
    assert_int_equal(rg_db_msg_finish(f->db, a, id, &e, &m, err), RG_OK);
    rg_db_msg_clear(&m);
    assert_int_equal(rg_db_msg_get(f->db, a, id, &m, err), RG_OK);
    assert_string_equal(m.content, "Hi there");
    assert_string_equal(m.finish, "stop");
    assert_false(m.incomplete);
    assert_int_equal(m.prompt_tokens, 12);
    assert_int_equal(m.completion_tokens, 3);
    assert_int_equal(m.duration_ms, 40);
    assert_string_equal(m.settings, "{\"seed\": 7}");
    assert_string_equal(m.model, "tiny");
    assert_int_equal(m.created_at, 300);
    assert_int_equal(m.updated_at, 400);
    assert_int_equal(m.parent_id, u);
    rg_db_msg_clear(&m);
    struct rg_db_conv c = getconv(f->db, a, cv);
    assert_int_equal(c.updated_at, 400);
    assert_int_equal(c.n_messages, 2);
    assert_int_equal(c.active_leaf, id);
    /* the search sees the final text */
    int64_t ids[4];
    assert_int_equal(search(f->db, a, "there", ids, 4, NULL), 1);
}

/* ---- the tree ---------------------------------------------------------------------- */

static void test_tree_rules(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t cv = mkconv(f->db, a, "t", 1), other = mkconv(f->db, a, "o", 1);
    int64_t o1 = addmsg(f->db, a, other, 0, "user", "elsewhere", 2);
    int64_t u1 = addmsg(f->db, a, cv, 0, "user", "q1", 10);
    int64_t a1 = addmsg(f->db, a, cv, u1, "assistant", "r1", 11);
    int64_t u2 = addmsg(f->db, a, cv, a1, "user", "q2", 12);
    int64_t a2 = addmsg(f->db, a, cv, u2, "assistant", "r2", 13);
    /* a regeneration of r1 that is not made active */
    int64_t a1b = addmsg_full(f->db, a, cv, u1, "assistant", "r1 again", false, 14, NULL);
    assert_int_equal(getconv(f->db, a, cv).active_leaf, a2);
    /* a parent of another conversation is not found */
    struct rg_db_msg m;
    struct rg_db_msg_new n = {.conv_id = cv, .parent_id = o1, .type = "user", .content = "x"};
    assert_int_equal(rg_db_msg_add(f->db, a, &n, &m, err), RG_ENOTFOUND);
    n.parent_id = 0;
    n.thread_id = getconv(f->db, a, other).main_thread;
    assert_int_equal(rg_db_msg_add(f->db, a, &n, &m, err), RG_ENOTFOUND);

    struct rg_db_msg *v = NULL;
    size_t k = 0;
    assert_int_equal(rg_db_msg_branch(f->db, a, cv, 0, &v, &k, err), RG_OK);
    assert_int_equal(k, 4);
    assert_int_equal(v[0].id, u1);
    assert_int_equal(v[1].id, a1);
    assert_int_equal(v[2].id, u2);
    assert_int_equal(v[3].id, a2);
    assert_int_equal(v[0].n_children, 2);
    rg_db_msg_list_free(v, k);
    assert_int_equal(rg_db_msg_branch(f->db, a, cv, a1b, &v, &k, err), RG_OK);
    assert_int_equal(k, 2);
    assert_int_equal(v[1].id, a1b);
    rg_db_msg_list_free(v, k);
    assert_int_equal(rg_db_msg_branch(f->db, a, cv, o1, &v, &k, err), RG_ENOTFOUND);

    /* set_active: to the regeneration, then back down from the root */
    int64_t leaf = 0;
    assert_int_equal(rg_db_conv_set_active(f->db, a, cv, a1b, false, &leaf, err), RG_OK);
    assert_int_equal(leaf, a1b);
    assert_int_equal(rg_db_conv_set_active(f->db, a, cv, a1, true, &leaf, err), RG_OK);
    assert_int_equal(leaf, a2);
    assert_int_equal(rg_db_conv_set_active(f->db, a, cv, u1, true, &leaf, err), RG_OK);
    assert_int_equal(leaf, a1b); /* the newest child */
    assert_int_equal(rg_db_conv_set_active(f->db, a, cv, o1, false, &leaf, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_conv_set_active(f->db, a, other, u1, false, &leaf, err), RG_ENOTFOUND);

    /* deleting the active branch: the active leaf goes to the parent, down its newest child */
    assert_int_equal(rg_db_conv_set_active(f->db, a, cv, a2, false, &leaf, err), RG_OK);
    int64_t gone = 0;
    assert_int_equal(rg_db_msg_delete(f->db, a, u2, &gone, err), RG_OK);
    assert_int_equal(gone, 2);
    assert_int_equal(getconv(f->db, a, cv).active_leaf, a1);
    assert_int_equal(rg_db_msg_get(f->db, a, a2, &m, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_msg_delete(f->db, a, a1, &gone, err), RG_OK);
    assert_int_equal(gone, 1);
    assert_int_equal(getconv(f->db, a, cv).active_leaf, a1b);
    /* a second root (an edit of the first message), then the first root goes */
    int64_t u1b = addmsg_full(f->db, a, cv, 0, "user", "q1 edited", false, 20, NULL);
    int64_t a3 = addmsg_full(f->db, a, cv, u1b, "assistant", "r", false, 21, NULL);
    assert_int_equal(rg_db_msg_delete(f->db, a, u1, &gone, err), RG_OK);
    assert_int_equal(gone, 2);
    struct rg_db_conv c = getconv(f->db, a, cv);
    assert_int_equal(c.active_leaf, a3);
    assert_int_equal(c.n_messages, 2);
    assert_int_equal(rg_db_msg_delete(f->db, a, u1b, &gone, err), RG_OK);
    c = getconv(f->db, a, cv);
    assert_int_equal(c.active_leaf, 0);
    assert_int_equal(c.n_messages, 0);
    assert_int_equal(rg_db_msg_branch(f->db, a, cv, 0, &v, &k, err), RG_OK);
    assert_int_equal(k, 0);
    assert_int_equal(rg_db_msg_delete(f->db, a, u1b, &gone, err), RG_ENOTFOUND);
    /* the other conversation was not touched */
    assert_int_equal(getconv(f->db, a, other).n_messages, 1);
}

static void test_threads_move(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t cv = mkconv(f->db, a, "t", 1);
    int64_t main_thread = getconv(f->db, a, cv).main_thread;
    int64_t u1 = addmsg(f->db, a, cv, 0, "user", "q1", 10);
    int64_t a1 = addmsg(f->db, a, cv, u1, "assistant", "r1", 11);
    int64_t u2 = addmsg(f->db, a, cv, a1, "user", "q2", 12);
    int64_t a2 = addmsg(f->db, a, cv, u2, "assistant", "r2", 13);
    struct rg_db_thread t;
    assert_int_equal(rg_db_msg_move(f->db, a, u2, 0, NULL, 20, &t, err), RG_OK);
    assert_true(t.id != main_thread);
    assert_string_equal(t.title, "Thread 1");
    assert_int_equal(t.root_id, u2);
    assert_int_equal(t.n_messages, 2);
    int64_t side = t.id;
    struct rg_db_msg m;
    assert_int_equal(rg_db_msg_get(f->db, a, a2, &m, err), RG_OK);
    assert_int_equal(m.thread_id, side);
    assert_int_equal(m.parent_id, u2); /* moving never reparents */
    rg_db_msg_clear(&m);
    /* a child of a moved message joins its parent's thread */
    int64_t u3 = addmsg(f->db, a, cv, a2, "user", "q3", 14);
    assert_int_equal(rg_db_msg_get(f->db, a, u3, &m, err), RG_OK);
    assert_int_equal(m.thread_id, side);
    rg_db_msg_clear(&m);
    /* a named thread, then the subtree moves back: the emptied thread goes */
    assert_int_equal(rg_db_msg_move(f->db, a, a2, 0, "Side", 30, &t, err), RG_OK);
    assert_string_equal(t.title, "Side");
    int64_t side2 = t.id;
    assert_int_equal(rg_db_msg_move(f->db, a, u2, side2, NULL, 31, &t, err), RG_OK);
    assert_int_equal(t.id, side2);
    assert_int_equal(t.n_messages, 3);
    struct rg_db_thread *v = NULL;
    size_t k = 0;
    assert_int_equal(rg_db_thread_list(f->db, a, cv, &v, &k, err), RG_OK);
    assert_int_equal(k, 2); /* main and Side; "Thread 1" was left empty */
    assert_int_equal(v[0].id, main_thread);
    assert_int_equal(v[0].n_messages, 2);
    assert_int_equal(v[1].id, side2);
    rg_free(v);
    /* thread_update */
    int64_t sum = addmsg_full(f->db, a, cv, u3, "summary", "a summary", false, 40, NULL);
    assert_int_equal(rg_db_thread_update(f->db, a, side2, "Renamed", 1, sum, &t, err), RG_OK);
    assert_string_equal(t.title, "Renamed");
    assert_true(t.collapsed);
    assert_int_equal(t.summary_id, sum);
    assert_int_equal(rg_db_thread_update(f->db, a, side2, NULL, -1, -1, &t, err), RG_OK);
    assert_string_equal(t.title, "Renamed");
    assert_true(t.collapsed);
    assert_int_equal(t.summary_id, sum);
    assert_int_equal(rg_db_thread_update(f->db, a, side2, NULL, 0, 0, &t, err), RG_OK);
    assert_false(t.collapsed);
    assert_int_equal(t.summary_id, 0);
    int64_t cv2 = mkconv(f->db, a, "t2", 1);
    int64_t x = addmsg(f->db, a, cv2, 0, "user", "x", 2);
    assert_int_equal(rg_db_thread_update(f->db, a, side2, NULL, -1, x, &t, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_msg_move(f->db, a, x, side2, NULL, 50, &t, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_msg_move(f->db, a, x, 0, "\x01", 50, &t, err), RG_EINVAL);
    /* deleting a thread's every message removes the thread too */
    assert_int_equal(rg_db_msg_delete(f->db, a, u2, NULL, err), RG_OK);
    assert_int_equal(rg_db_thread_list(f->db, a, cv, &v, &k, err), RG_OK);
    assert_int_equal(k, 1);
    rg_free(v);
}

/* ---- ownership ----------------------------------------------------------------------- */

/* Everything of user a's conversation as text, to compare before and after. */
static void snapshot(struct rg_db *db, int64_t owner, int64_t cv, char *out, size_t size)
{
    char err[RG_ERR_SIZE];
    struct rg_db_conv c;
    assert_int_equal(rg_db_conv_get(db, owner, cv, &c, err), RG_OK);
    size_t o = (size_t)snprintf(out, size, "%s|%s|%s|%s|%s|%d%d%d|%lld|%lld|%lld|%lld;", c.title,
                                c.model, c.settings, c.folder, c.tags, c.archived, c.pinned,
                                c.title_auto, (long long)c.active_leaf, (long long)c.main_thread,
                                (long long)c.n_messages, (long long)c.updated_at);
    rg_db_conv_clear(&c);
    struct rg_db_msg *v = NULL;
    size_t k = 0;
    assert_int_equal(rg_db_msg_list(db, owner, cv, &v, &k, err), RG_OK);
    for (size_t i = 0; i < k && o < size; i++)
        o +=
            (size_t)snprintf(out + o, size - o, "%lld,%lld,%lld,%s,%s,%s,%lld;", (long long)v[i].id,
                             (long long)v[i].parent_id, (long long)v[i].thread_id, v[i].content,
                             v[i].finish, v[i].settings, (long long)v[i].updated_at);
    rg_db_msg_list_free(v, k);
    struct rg_db_thread *t = NULL;
    assert_int_equal(rg_db_thread_list(db, owner, cv, &t, &k, err), RG_OK);
    for (size_t i = 0; i < k && o < size; i++)
        o += (size_t)snprintf(out + o, size - o, "%lld,%s,%d,%lld;", (long long)t[i].id, t[i].title,
                              t[i].collapsed, (long long)t[i].summary_id);
    rg_free(t);
}

static void test_other_user(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t b = mkuser(f->db, "b@x.org", NULL, NULL);
    int64_t cv = mkconv(f->db, a, "secret plans", 1);
    int64_t u1 = addmsg(f->db, a, cv, 0, "user", "the launch code", 2);
    int64_t a1 = addmsg(f->db, a, cv, u1, "assistant", "noted", 3);
    struct rg_db_thread t;
    assert_int_equal(rg_db_msg_move(f->db, a, a1, 0, "side", 4, &t, err), RG_OK);
    int64_t th = t.id, main_thread = getconv(f->db, a, cv).main_thread;
    int64_t bc = mkconv(f->db, b, "mine", 1);
    int64_t bm = addmsg(f->db, b, bc, 0, "user", "b's own", 2);
    char before[8192], after[8192];
    snapshot(f->db, a, cv, before, sizeof before);

    struct rg_db_conv c;
    struct rg_db_msg m;
    struct rg_db_msg *mv = NULL;
    struct rg_db_thread *tv = NULL;
    size_t k = 0;
    int64_t x = 0;
    assert_int_equal(rg_db_conv_get(f->db, b, cv, &c, err), RG_ENOTFOUND);
    struct rg_db_conv_change ch = {
        .title = "pwned", .archived = 1, .pinned = 1, .title_auto = -1, .now = 99};
    assert_int_equal(rg_db_conv_update(f->db, b, cv, &ch, &c, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_conv_delete(f->db, b, cv, err), RG_ENOTFOUND);
    struct rg_db_msg_new n = {
        .conv_id = cv, .type = "user", .content = "hi", .set_active = true, .now = 99};
    assert_int_equal(rg_db_msg_add(f->db, b, &n, &m, err), RG_ENOTFOUND);
    n.conv_id = bc; /* b's conversation, a's parent or thread */
    n.parent_id = a1;
    assert_int_equal(rg_db_msg_add(f->db, b, &n, &m, err), RG_ENOTFOUND);
    n.parent_id = 0;
    n.thread_id = th;
    assert_int_equal(rg_db_msg_add(f->db, b, &n, &m, err), RG_ENOTFOUND);
    struct rg_db_msg_end e = {.content = "changed", .finish = "stop", .now = 99};
    assert_int_equal(rg_db_msg_finish(f->db, b, a1, &e, &m, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_msg_get(f->db, b, u1, &m, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_msg_list(f->db, b, cv, &mv, &k, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_msg_branch(f->db, b, cv, 0, &mv, &k, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_msg_branch(f->db, b, bc, a1, &mv, &k, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_conv_set_active(f->db, b, cv, u1, true, &x, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_conv_set_active(f->db, b, bc, u1, false, &x, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_msg_delete(f->db, b, u1, &x, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_thread_list(f->db, b, cv, &tv, &k, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_thread_update(f->db, b, th, "x", 1, -1, &t, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_thread_update(f->db, b, main_thread, NULL, -1, bm, &t, err),
                     RG_ENOTFOUND);
    assert_int_equal(rg_db_msg_move(f->db, b, u1, 0, NULL, 99, &t, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_msg_move(f->db, b, bm, th, NULL, 99, &t, err), RG_ENOTFOUND);
    /* a's own call with b's ids is refused the same way */
    assert_int_equal(
        rg_db_msg_move(f->db, a, a1, getconv(f->db, b, bc).main_thread, NULL, 99, &t, err),
        RG_ENOTFOUND);
    assert_int_equal(rg_db_thread_update(f->db, a, th, NULL, -1, bm, &t, err), RG_ENOTFOUND);
    /* searching and listing never show a's conversation to b */
    int64_t ids[8];
    assert_int_equal(search(f->db, b, "launch", ids, 8, NULL), 0);
    assert_int_equal(search(f->db, b, "secret", ids, 8, NULL), 0);
    struct rg_db_conv_filter lf = {.archived = -1, .limit = 50};
    assert_int_equal(list_ids(f->db, b, &lf, ids, 8, NULL, NULL), 1);
    assert_int_equal(ids[0], bc);

    snapshot(f->db, a, cv, after, sizeof after);
    assert_string_equal(before, after);
    assert_int_equal(getconv(f->db, b, bc).n_messages, 1);
}

/* ---- the property test ---------------------------------------------------------------- */

static uint64_t rnd_state;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}
static size_t pick(size_t n)
{
    return (size_t)(rnd() % n);
}

/* Checks every invariant of conversation cv; returns the messages (caller frees). */
static struct rg_db_msg *check_tree(struct rg_db *db, int64_t owner, int64_t cv, size_t *count,
                                    unsigned seed, int step)
{
    char err[RG_ERR_SIZE];
    struct rg_db_msg *v = NULL;
    size_t n = 0;
    assert_int_equal(rg_db_msg_list(db, owner, cv, &v, &n, err), RG_OK);
    struct rg_db_thread *t = NULL;
    size_t nt = 0;
    assert_int_equal(rg_db_thread_list(db, owner, cv, &t, &nt, err), RG_OK);
    struct rg_db_conv c = getconv(db, owner, cv);
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) fail_msg("seed %u step %d: %s", seed, step, #cond);                           \
    } while (0)
    CHECK(c.n_messages == (int64_t)n);
    int64_t thread_sum = 0;
    for (size_t j = 0; j < nt; j++)
        thread_sum += t[j].n_messages;
    CHECK(thread_sum == (int64_t)n);
    bool active_found = c.active_leaf == 0 && n == 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(v[i].conv_id == cv);
        CHECK(i == 0 || v[i].id > v[i - 1].id);
        if (v[i].id == c.active_leaf) active_found = true;
        bool thread_ok = false;
        for (size_t j = 0; j < nt && !thread_ok; j++)
            thread_ok = t[j].id == v[i].thread_id;
        CHECK(thread_ok);
        int kids = 0;
        for (size_t j = 0; j < n; j++)
            kids += v[j].parent_id == v[i].id;
        CHECK(kids == v[i].n_children);
        /* walking up ends at a root within n steps, through messages of cv */
        int64_t at = v[i].parent_id;
        size_t steps = 0;
        while (at != 0) {
            size_t j = 0;
            while (j < n && v[j].id != at)
                j++;
            CHECK(j < n); /* no orphan */
            at = v[j].parent_id;
            CHECK(++steps <= n); /* no cycle */
        }
    }
    CHECK(active_found);
    struct rg_db_msg *b = NULL;
    size_t nb = 0;
    assert_int_equal(rg_db_msg_branch(db, owner, cv, 0, &b, &nb, err), RG_OK);
    CHECK((nb == 0) == (n == 0));
    for (size_t i = 0; i < nb; i++)
        CHECK(b[i].parent_id == (i == 0 ? 0 : b[i - 1].id));
    if (nb) CHECK(b[nb - 1].id == c.active_leaf);
    rg_db_msg_list_free(b, nb);
    rg_free(t);
    *count = n;
    return v;
}

static void run_property(struct fx *f, unsigned seed, int ops)
{
    char err[RG_ERR_SIZE], email[64];
    rnd_state = 0x9E3779B97F4A7C15ull ^ seed;
    snprintf(email, sizeof email, "p%u@x.org", seed);
    int64_t a = mkuser(f->db, email, NULL, NULL);
    int64_t cv = mkconv(f->db, a, "prop", 1);
    int64_t other = mkconv(f->db, a, "other", 1);
    int64_t foreign = addmsg(f->db, a, other, 0, "user", "foreign", 1);
    int64_t now = 10;
    for (int step = 0; step < ops; step++, now++) {
        size_t n = 0;
        struct rg_db_msg *v = check_tree(f->db, a, cv, &n, seed, step);
        int op = (int)pick(n == 0 ? 1 : 10);
        struct rg_db_msg m;
        int rc = RG_OK;
        const struct rg_db_msg *x = n ? &v[pick(n)] : NULL;
        if (op <= 2 || !x) { /* add a child (or a new root) */
            bool root = !x || pick(12) == 0;
            const char *type = !root && !strcmp(x->role, "user") ? "assistant" : "user";
            struct rg_db_msg_new nm = {.conv_id = cv,
                                       .parent_id = root ? 0 : x->id,
                                       .type = type,
                                       .content = "p",
                                       .set_active = pick(2),
                                       .now = now};
            rc = rg_db_msg_add(f->db, a, &nm, &m, err);
            if (!rc) rg_db_msg_clear(&m);
        } else if (op == 3 || op == 4) { /* edit (user) or regenerate (assistant): a sibling */
            struct rg_db_msg_new nm = {.conv_id = cv,
                                       .parent_id = x->parent_id,
                                       .type = strcmp(x->role, "user") ? "assistant" : "user",
                                       .content = "sibling",
                                       .set_active = true,
                                       .now = now};
            rc = rg_db_msg_add(f->db, a, &nm, &m, err);
            if (!rc) {
                if (m.parent_id != x->parent_id) fail_msg("seed %u step %d: sibling", seed, step);
                rg_db_msg_clear(&m);
            }
        } else if (op == 5 || op == 6) { /* set_active */
            bool descend = pick(2);
            int64_t leaf = 0;
            rc = rg_db_conv_set_active(f->db, a, cv, x->id, descend, &leaf, err);
            if (!rc && descend) {
                struct rg_db_msg l;
                assert_int_equal(rg_db_msg_get(f->db, a, leaf, &l, err), RG_OK);
                if (l.n_children != 0) fail_msg("seed %u step %d: not a leaf", seed, step);
                rg_db_msg_clear(&l);
            }
            if (!rc && !descend && leaf != x->id) fail_msg("seed %u step %d: leaf", seed, step);
        } else if (op == 7 || op == 8) { /* move a subtree */
            struct rg_db_thread th, *tv = NULL;
            size_t nt = 0;
            assert_int_equal(rg_db_thread_list(f->db, a, cv, &tv, &nt, err), RG_OK);
            int64_t to = pick(2) ? tv[pick(nt)].id : 0;
            rg_free(tv);
            rc = rg_db_msg_move(f->db, a, x->id, to, NULL, now, &th, err);
            if (!rc) {
                struct rg_db_msg l;
                assert_int_equal(rg_db_msg_get(f->db, a, x->id, &l, err), RG_OK);
                if (l.thread_id != th.id || l.parent_id != x->parent_id)
                    fail_msg("seed %u step %d: move", seed, step);
                rg_db_msg_clear(&l);
            }
        } else if (pick(3) == 0) { /* delete a subtree (rarely, so the tree grows) */
            int64_t gone = 0;
            rc = rg_db_msg_delete(f->db, a, x->id, &gone, err);
            if (!rc && gone < 1)
                fail_msg("seed %u step %d: deleted %lld", seed, step, (long long)gone);
        } else { /* a parent from another conversation is refused */
            struct rg_db_msg_new nm = {
                .conv_id = cv, .parent_id = foreign, .type = "user", .content = "x", .now = now};
            rc = rg_db_msg_add(f->db, a, &nm, &m, err) == RG_ENOTFOUND ? RG_OK : RG_EINTERNAL;
        }
        rg_db_msg_list_free(v, n);
        if (rc) fail_msg("seed %u step %d op %d: %d %s", seed, step, op, rc, err);
    }
    size_t n = 0;
    struct rg_db_msg *last = check_tree(f->db, a, cv, &n, seed, ops); /* n set before the free */
    rg_db_msg_list_free(last, n);
    assert_int_equal(getconv(f->db, a, other).n_messages, 1);
}

static void test_property(void **state)
{
    struct fx *f = *state;
    const char *s = getenv("RG_CONV_SEED");
    if (s) { /* replay one seed */
        run_property(f, (unsigned)strtoul(s, NULL, 10), 300);
        return;
    }
    static const unsigned seeds[] = {1, 2, 3, 4, 5};
    for (size_t i = 0; i < RG_ARRAY_LEN(seeds); i++) {
        fprintf(stderr, "conv property: seed %u (replay: RG_CONV_SEED=%u)\n", seeds[i], seeds[i]);
        run_property(f, seeds[i], 300);
    }
}

/* ---- concurrent writers ------------------------------------------------------------------- */

struct writer {
    struct rg_db *db;
    int64_t owner, conv;
    uint64_t seed;
    int added, deleted, failed;
    char err[RG_ERR_SIZE];
};

/* Adds children under, and deletes subtrees of, messages read a moment ago:
 * another writer may have deleted them meanwhile (RG_ENOTFOUND is fine),
 * but no add may ever hang a message under a deleted one. */
static void *writer_run(void *arg)
{
    struct writer *w = arg;
    uint64_t r = w->seed;
    for (int i = 0; i < 120; i++) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        struct rg_db_msg *v = NULL, m;
        size_t n = 0;
        if (rg_db_msg_list(w->db, w->owner, w->conv, &v, &n, w->err) != RG_OK) {
            w->failed++;
            continue;
        }
        int64_t target = n ? v[r % n].id : 0;
        rg_db_msg_list_free(v, n);
        int rc;
        if (target && (r >> 20) % 5 == 0) {
            rc = rg_db_msg_delete(w->db, w->owner, target, NULL, w->err);
            if (rc == RG_OK) w->deleted++;
        } else {
            struct rg_db_msg_new nm = {.conv_id = w->conv,
                                       .parent_id = target,
                                       .type = "user",
                                       .content = "c",
                                       .set_active = (r >> 30) & 1,
                                       .now = 1000 + i};
            rc = rg_db_msg_add(w->db, w->owner, &nm, &m, w->err);
            if (rc == RG_OK) {
                w->added++;
                rg_db_msg_clear(&m);
            }
        }
        if (rc != RG_OK && rc != RG_ENOTFOUND) w->failed++;
    }
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    struct fx *f = *state;
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t cv = mkconv(f->db, a, "busy", 1);
    addmsg(f->db, a, cv, 0, "user", "root", 2);
    struct writer w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct writer){.db = f->db, .owner = a, .conv = cv, .seed = 7919u * (i + 1)};
        assert_int_equal(pthread_create(&th[i], NULL, writer_run, &w[i]), 0);
    }
    int added = 0, deleted = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        if (w[i].failed) fail_msg("writer %d: %d failures, last: %s", i, w[i].failed, w[i].err);
        added += w[i].added;
        deleted += w[i].deleted;
    }
    assert_true(added > 100);
    assert_true(deleted > 5);
    size_t n = 0;
    struct rg_db_msg *last = check_tree(f->db, a, cv, &n, 0, -1); /* n set before the free */
    rg_db_msg_list_free(last, n);
}

/* ---- search ------------------------------------------------------------------------------ */

static void test_search(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t b = mkuser(f->db, "b@x.org", NULL, NULL);
    int64_t ca = mkconv(f->db, a, "Holiday plans", 10);
    int64_t m1 = addmsg(f->db, a, ca, 0, "user", "The borrow checker rejects this code", 11);
    int64_t m2 =
        addmsg(f->db, a, ca, m1, "assistant", "Lifetimes explain it; pick this or that", 12);
    int64_t cb = mkconv(f->db, a, "Groceries", 20);
    addmsg(f->db, a, cb, 0, "user", "Buy MILK and eggs", 21);
    int64_t co = mkconv(f->db, b, "borrow checker notes", 30);
    addmsg(f->db, b, co, 0, "user", "the borrow checker again, zebra", 31);

    int64_t ids[8];
    struct rg_db_conv first;
    /* one word */
    assert_int_equal(search(f->db, a, "checker", ids, 8, &first), 1);
    assert_int_equal(ids[0], ca);
    assert_int_equal(first.match_message, m1);
    assert_non_null(strstr(first.snippet, "checker"));
    assert_true(strlen(first.snippet) <= 240);
    /* two words anywhere in one message, any case */
    assert_int_equal(search(f->db, a, "code BORROW", ids, 8, &first), 1);
    assert_int_equal(first.match_message, m1);
    assert_int_equal(search(f->db, a, "milk eggs", ids, 8, NULL), 1);
    assert_int_equal(ids[0], cb);
    /* the words must be in one message (or the title) */
    assert_int_equal(search(f->db, a, "borrow lifetimes", ids, 8, NULL), 0);
    /* the last word is a prefix, the others are not */
    assert_int_equal(search(f->db, a, "borr", ids, 8, &first), 1);
    assert_int_equal(search(f->db, a, "lifet", ids, 8, &first), 1);
    assert_int_equal(first.match_message, m2);
    assert_int_equal(search(f->db, a, "borr checker", ids, 8, NULL), 0);
    /* a word that is not there; another user's words */
    assert_int_equal(search(f->db, a, "zebra", ids, 8, NULL), 0);
    assert_int_equal(search(f->db, a, "notes", ids, 8, NULL), 0);
    assert_int_equal(search(f->db, b, "zebra", ids, 8, NULL), 1);
    assert_int_equal(ids[0], co);
    /* the title */
    assert_int_equal(search(f->db, a, "holiday", ids, 8, &first), 1);
    assert_int_equal(ids[0], ca);
    assert_int_equal(first.match_message, 0);
    assert_non_null(strstr(first.snippet, "Holiday"));
    /* query syntax of FTS5 and tsquery is only words */
    assert_int_equal(search(f->db, a, "this OR that", ids, 8, &first), 1);
    assert_int_equal(first.match_message, m2);
    assert_int_equal(search(f->db, a, "checker OR zebra", ids, 8, NULL), 0);
    assert_int_equal(search(f->db, a, "chec*", ids, 8, NULL), 1);
    assert_int_equal(search(f->db, a, "x*", ids, 8, NULL), 0);
    static const char *const odd[] = {"\"",        "':*",          "&|!()",    "NOT borrow",
                                      "borrow -",  "a:* & !b | c", "\"a\" \"", "'",
                                      "NEAR(a b)", "rejects^",     "(code)",   "«»"};
    for (size_t i = 0; i < RG_ARRAY_LEN(odd); i++) {
        struct rg_db_conv_filter fl = {.q = odd[i], .archived = -1, .limit = 10};
        struct rg_db_conv *v = NULL;
        size_t n = 0;
        bool more = false;
        int rc = rg_db_conv_list(f->db, a, &fl, &v, &n, &more, err);
        if (rc) fail_msg("query '%s': %d %s", odd[i], rc, err);
        rg_db_conv_list_free(v, n);
    }
    assert_int_equal(search(f->db, a, "NOT borrow", ids, 8, NULL), 0); /* no word "not" */
    assert_int_equal(search(f->db, a, "(code)", ids, 8, NULL), 1);
    assert_int_equal(search(f->db, a, "rejects^", ids, 8, NULL), 1);
    /* too long a query is refused, not cut */
    char longq[RG_DB_SEARCH_Q_MAX + 2];
    memset(longq, 'a', sizeof longq - 1);
    longq[sizeof longq - 1] = '\0';
    struct rg_db_conv_filter fl = {.q = longq, .archived = -1, .limit = 10};
    struct rg_db_conv *v = NULL;
    size_t n = 0;
    bool more = false;
    assert_int_equal(rg_db_conv_list(f->db, a, &fl, &v, &n, &more, err), RG_EINVAL);

    /* a long message with multi-byte characters: the snippet stays short and whole */
    char *big = malloc(20000);
    size_t o = 0;
    for (int i = 0; i < 1500; i++)
        o += (size_t)snprintf(big + o, 20000 - o, "é%s ", i == 700 ? " needle" : "ß");
    int64_t cbig = mkconv(f->db, a, "big", 40);
    int64_t mb = addmsg(f->db, a, cbig, 0, "user", big, 41);
    free(big);
    assert_int_equal(search(f->db, a, "needle", ids, 8, &first), 1);
    assert_int_equal(first.match_message, mb);
    assert_true(strlen(first.snippet) <= 240);
    assert_true(rg_utf8_valid(first.snippet, strlen(first.snippet)));
    assert_non_null(strstr(first.snippet, "needle"));

    /* a deleted message and a deleted conversation are not found any more */
    assert_int_equal(rg_db_msg_delete(f->db, a, mb, NULL, err), RG_OK);
    assert_int_equal(search(f->db, a, "needle", ids, 8, NULL), 0);
    assert_int_equal(rg_db_conv_delete(f->db, a, cb, err), RG_OK);
    assert_int_equal(search(f->db, a, "milk", ids, 8, NULL), 0);
    /* a renamed title is found under its new words only */
    struct rg_db_conv c;
    struct rg_db_conv_change ch = {
        .title = "Summer trip", .archived = -1, .pinned = -1, .title_auto = -1, .now = 50};
    assert_int_equal(rg_db_conv_update(f->db, a, ca, &ch, &c, err), RG_OK);
    rg_db_conv_clear(&c);
    assert_int_equal(search(f->db, a, "holiday", ids, 8, NULL), 0);
    assert_int_equal(search(f->db, a, "summer", ids, 8, NULL), 1);
}

/* Every answer of a search, as text (ids, matches, more), for comparing. */
static void answer(struct rg_db *db, int64_t owner, const struct rg_db_conv_filter *f, char *out,
                   size_t size)
{
    char err[RG_ERR_SIZE];
    struct rg_db_conv *v = NULL;
    size_t n = 0, o = 0;
    bool more = false;
    int rc = rg_db_conv_list(db, owner, f, &v, &n, &more, err);
    if (rc) fail_msg("conv_list '%s': %d %s", f->q, rc, err);
    for (size_t i = 0; i < n && o < size; i++)
        o += (size_t)snprintf(out + o, size - o, "%lld/%lld[%s] ", (long long)v[i].id,
                              (long long)v[i].match_message, v[i].snippet);
    if (o < size) snprintf(out + o, size - o, "more=%d", more);
    rg_db_conv_list_free(v, n);
}

/* SQLite answers a search with many matches by walking the list, with few
 * by grouping the matches: both give the same answers, page by page. */
static void test_search_paths(void **state)
{
    struct fx *f = *state;
    if (f->be != SQLITE) skip();
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t b = mkuser(f->db, "b@x.org", NULL, NULL);
    static const char *const words[] = {"apple", "banana", "cherry", "date", "elder", "fig"};
    rnd_state = 42;
    for (int i = 0; i < 60; i++) {
        int64_t owner = i % 6 == 5 ? b : a;
        char title[64];
        snprintf(title, sizeof title, "%s talk %d", words[pick(6)], i);
        int64_t cv = mkconv(f->db, owner, title, 100 + (int64_t)pick(50));
        int64_t p = 0;
        for (int k = 0; k < 4; k++) {
            char text[128];
            snprintf(text, sizeof text, "%s and %s with %s", words[pick(6)], words[pick(6)],
                     k == 3 && i % 9 == 0 ? "Applesauce" : words[pick(6)]);
            p = addmsg(f->db, owner, cv, p, k % 2 ? "assistant" : "user", text, 200 + i);
        }
        if (i % 7 == 0) {
            char err[RG_ERR_SIZE];
            struct rg_db_conv c;
            struct rg_db_conv_change ch = {.pinned = 1,
                                           .archived = i % 2,
                                           .title_auto = -1,
                                           .folder = i % 3 ? "f" : NULL,
                                           .now = 150};
            assert_int_equal(rg_db_conv_update(f->db, owner, cv, &ch, &c, err), RG_OK);
            rg_db_conv_clear(&c);
        }
    }
    static const char *const queries[] = {"apple",  "appl",         "banana cherry", "talk",
                                          "fig ap", "date elder f", "nothing here"};
    size_t saved = rg_db_sqlite_walk_min;
    int compared = 0;
    for (size_t qi = 0; qi < RG_ARRAY_LEN(queries); qi++)
        for (int archived = -1; archived <= 1; archived++)
            for (int page = 0; page < 4; page++) {
                struct rg_db_conv_filter fl = {.q = queries[qi],
                                               .archived = archived,
                                               .folder = page == 3 ? "f" : NULL,
                                               .limit = 7,
                                               .offset = page * 7};
                char grouped[8192], walked[8192];
                rg_db_sqlite_walk_min = (size_t)-1;
                answer(f->db, a, &fl, grouped, sizeof grouped);
                rg_db_sqlite_walk_min = 0;
                answer(f->db, a, &fl, walked, sizeof walked);
                rg_db_sqlite_walk_min = saved;
                if (strcmp(grouped, walked))
                    fail_msg("'%s' archived %d page %d:\n grouped %s\n walked  %s", queries[qi],
                             archived, page, grouped, walked);
                compared += strlen(grouped) > 10;
            }
    assert_true(compared > 20); /* most of them found something */
}

/* ---- list, update, delete ----------------------------------------------------------------- */

static void test_list_filters(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t b = mkuser(f->db, "b@x.org", NULL, NULL);
    int64_t id[6];
    for (int i = 0; i < 6; i++)
        id[i] = mkconv(f->db, a, "c", 100 + i);
    mkconv(f->db, b, "b's", 1000);
    struct rg_db_conv c;
    /* 1 pinned, 2 archived, 3 in a folder with tags, 0 updated by a message */
    struct rg_db_conv_change ch = {.pinned = 1, .archived = -1, .title_auto = -1, .now = 101};
    assert_int_equal(rg_db_conv_update(f->db, a, id[1], &ch, &c, err), RG_OK);
    assert_true(c.pinned);
    rg_db_conv_clear(&c);
    ch = (struct rg_db_conv_change){.archived = 1, .pinned = -1, .title_auto = -1, .now = 102};
    assert_int_equal(rg_db_conv_update(f->db, a, id[2], &ch, &c, err), RG_OK);
    rg_db_conv_clear(&c);
    ch = (struct rg_db_conv_change){.folder = "Work",
                                    .tags = "Beta,alpha",
                                    .archived = -1,
                                    .pinned = -1,
                                    .title_auto = -1,
                                    .now = 103};
    assert_int_equal(rg_db_conv_update(f->db, a, id[3], &ch, &c, err), RG_OK);
    assert_string_equal(c.tags, "alpha,beta");
    rg_db_conv_clear(&c);
    addmsg(f->db, a, id[0], 0, "user", "bump", 200);

    int64_t got[10];
    bool more = true;
    struct rg_db_conv_filter fl = {.archived = 0, .limit = 50};
    assert_int_equal(list_ids(f->db, a, &fl, got, 10, &more, NULL), 5);
    assert_false(more);
    /* pinned first, then updated desc */
    int64_t want[] = {id[1], id[0], id[5], id[4], id[3]};
    for (int i = 0; i < 5; i++)
        assert_int_equal(got[i], want[i]);
    fl.archived = 1;
    assert_int_equal(list_ids(f->db, a, &fl, got, 10, &more, NULL), 1);
    assert_int_equal(got[0], id[2]);
    fl.archived = -1;
    assert_int_equal(list_ids(f->db, a, &fl, got, 10, &more, NULL), 6);
    fl.folder = "Work";
    assert_int_equal(list_ids(f->db, a, &fl, got, 10, &more, NULL), 1);
    assert_int_equal(got[0], id[3]);
    fl.folder = "work"; /* folders are exact */
    assert_int_equal(list_ids(f->db, a, &fl, got, 10, &more, NULL), 0);
    fl.folder = NULL;
    fl.tag = " ALPHA ";
    assert_int_equal(list_ids(f->db, a, &fl, got, 10, &more, NULL), 1);
    assert_int_equal(got[0], id[3]);
    fl.tag = "alp"; /* a whole tag, not a part */
    assert_int_equal(list_ids(f->db, a, &fl, got, 10, &more, NULL), 0);
    fl.tag = NULL;
    /* paging */
    fl.archived = 0;
    fl.limit = 2;
    assert_int_equal(list_ids(f->db, a, &fl, got, 10, &more, NULL), 2);
    assert_true(more);
    assert_int_equal(got[0], id[1]);
    fl.offset = 2;
    assert_int_equal(list_ids(f->db, a, &fl, got, 10, &more, NULL), 2);
    assert_true(more);
    assert_int_equal(got[0], id[5]);
    fl.offset = 4;
    assert_int_equal(list_ids(f->db, a, &fl, got, 10, &more, NULL), 1);
    assert_false(more);
    assert_int_equal(got[0], id[3]);
    /* bad filters */
    struct rg_db_conv *v = NULL;
    size_t n = 0;
    fl.limit = 0;
    assert_int_equal(rg_db_conv_list(f->db, a, &fl, &v, &n, &more, err), RG_EINVAL);
    fl.limit = 201;
    assert_int_equal(rg_db_conv_list(f->db, a, &fl, &v, &n, &more, err), RG_EINVAL);
    fl.limit = 5;
    fl.offset = -1;
    assert_int_equal(rg_db_conv_list(f->db, a, &fl, &v, &n, &more, err), RG_EINVAL);
    /* ties in updated_at: the higher id first */
    int64_t t1 = mkconv(f->db, b, "x", 5000), t2 = mkconv(f->db, b, "y", 5000);
    struct rg_db_conv_filter fb = {.archived = -1, .limit = 2};
    assert_int_equal(list_ids(f->db, b, &fb, got, 10, &more, NULL), 2);
    assert_int_equal(got[0], t2);
    assert_int_equal(got[1], t1);
}

static void test_update_title_auto(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t cv = mkconv(f->db, a, NULL, 1);
    struct rg_db_conv c;
    /* the title job names it */
    struct rg_db_conv_change ch = {.title = "Auto name",
                                   .archived = -1,
                                   .pinned = -1,
                                   .title_auto = 1,
                                   .only_if_auto = true,
                                   .now = 10};
    assert_int_equal(rg_db_conv_update(f->db, a, cv, &ch, &c, err), RG_OK);
    assert_string_equal(c.title, "Auto name");
    assert_true(c.title_auto);
    assert_int_equal(c.updated_at, 10);
    rg_db_conv_clear(&c);
    /* the user renames */
    struct rg_db_conv_change user = {.title = "Mine",
                                     .model = "m2",
                                     .settings = "{\"a\":1}",
                                     .archived = -1,
                                     .pinned = -1,
                                     .title_auto = -1,
                                     .now = 20};
    assert_int_equal(rg_db_conv_update(f->db, a, cv, &user, &c, err), RG_OK);
    assert_string_equal(c.title, "Mine");
    assert_false(c.title_auto);
    assert_string_equal(c.model, "m2");
    assert_string_equal(c.settings, "{\"a\":1}");
    rg_db_conv_clear(&c);
    /* a late title job changes nothing */
    ch.title = "Too late";
    ch.now = 30;
    assert_int_equal(rg_db_conv_update(f->db, a, cv, &ch, &c, err), RG_ESTATE);
    c = getconv(f->db, a, cv);
    assert_string_equal(c.title, "Mine");
    assert_int_equal(c.updated_at, 20);
    /* only_if_auto on a missing conversation */
    assert_int_equal(rg_db_conv_update(f->db, a, cv + 1000, &ch, &c, err), RG_ENOTFOUND);
    /* bad changes */
    user.settings = "not json";
    assert_int_equal(rg_db_conv_update(f->db, a, cv, &user, &c, err), RG_EINVAL);
    user.settings = NULL;
    user.pinned = 2;
    assert_int_equal(rg_db_conv_update(f->db, a, cv, &user, &c, err), RG_EINVAL);
    user.pinned = -1;
    user.tags = "b,,A";
    assert_int_equal(rg_db_conv_update(f->db, a, cv, &user, &c, err), RG_OK);
    assert_string_equal(c.tags, "a,b");
    rg_db_conv_clear(&c);
    user.tags = "";
    assert_int_equal(rg_db_conv_update(f->db, a, cv, &user, &c, err), RG_OK);
    assert_string_equal(c.tags, "");
    rg_db_conv_clear(&c);
}

/* Runs one statement outside the interface, with foreign keys enforced. */
static void raw_exec(struct fx *f, const char *sql)
{
    if (f->be == SQLITE) {
        sqlite3 *c;
        assert_int_equal(sqlite3_open(f->path, &c), SQLITE_OK);
        char *msg = NULL;
        if (sqlite3_exec(c, "PRAGMA foreign_keys=ON", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(c, sql, NULL, NULL, &msg) != SQLITE_OK)
            fail_msg("%s: %s", sql, msg ? msg : "?");
        sqlite3_close(c);
    } else {
        char url[512];
        snprintf(url, sizeof url, "%s/%s", g_pg_base, f->dbname);
        PGconn *c = PQconnectdb(url);
        pg_cmd(c, sql);
        PQfinish(c);
    }
}

static void test_delete_cascade(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t b = mkuser(f->db, "b@x.org", NULL, NULL);
    int64_t c1 = mkconv(f->db, a, "one", 1), c2 = mkconv(f->db, a, "two", 1);
    int64_t bc = mkconv(f->db, b, "b", 1);
    int64_t p = 0;
    for (int i = 0; i < 5; i++)
        p = addmsg(f->db, a, c1, p, i % 2 ? "assistant" : "user", "alpha words", 2 + i);
    struct rg_db_thread t;
    assert_int_equal(rg_db_msg_move(f->db, a, p, 0, NULL, 9, &t, err), RG_OK);
    addmsg(f->db, a, c2, 0, "user", "beta words", 3);
    addmsg(f->db, b, bc, 0, "user", "gamma words", 3);
    assert_int_equal(count_rows(f, "messages"), 7);
    assert_int_equal(count_rows(f, "threads"), 4);
    assert_int_equal(rg_db_conv_delete(f->db, a, c1, err), RG_OK);
    assert_int_equal(rg_db_conv_delete(f->db, a, c1, err), RG_ENOTFOUND);
    struct rg_db_conv c;
    assert_int_equal(rg_db_conv_get(f->db, a, c1, &c, err), RG_ENOTFOUND);
    assert_int_equal(count_rows(f, "messages"), 2);
    assert_int_equal(count_rows(f, "threads"), 2);
    int64_t ids[4];
    assert_int_equal(search(f->db, a, "alpha", ids, 4, NULL), 0);
    /* deleting a user takes their conversations, messages and threads */
    char sql[64];
    snprintf(sql, sizeof sql, "DELETE FROM users WHERE id = %lld", (long long)a);
    raw_exec(f, sql);
    assert_int_equal(count_rows(f, "conversations"), 1);
    assert_int_equal(count_rows(f, "messages"), 1);
    assert_int_equal(count_rows(f, "threads"), 1);
    assert_int_equal(search(f->db, b, "gamma", ids, 4, NULL), 1);
    if (f->be == SQLITE) { /* the FTS5 indexes followed the cascade */
        assert_int_equal(raw_int(f, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH"
                                    " 'beta OR alpha'"),
                         0);
        assert_int_equal(raw_int(f, "SELECT count(*) FROM conversations_fts WHERE"
                                    " conversations_fts MATCH 'two'"),
                         0);
    }
}

static void test_fts5_present(void **state)
{
    struct fx *f = *state;
    if (f->be != SQLITE) skip();
    /* Debian's libsqlite3 has FTS5; the migration depends on it */
    assert_int_equal(raw_int(f, "SELECT sqlite_compileoption_used('ENABLE_FTS5')"), 1);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM sqlite_master WHERE name = 'messages_fts'"),
                     1);
}

/* ---- signed-in devices ---------------------------------------------------------------------- */

static void session(struct rg_db *db, int64_t user, const char *hash, int64_t expires, int64_t now,
                    char family[40])
{
    char err[RG_ERR_SIZE];
    struct rg_db_session s;
    int rc = rg_db_session_create(db, user, hash, expires, "UA-", now, &s, err);
    if (rc) fail_msg("session_create: %s", err);
    memcpy(family, s.family, 40);
}

static void test_sessions(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x.org", NULL, NULL);
    int64_t b = mkuser(f->db, "b@x.org", NULL, NULL);
    char fa1[40], fa2[40], fa3[40], fb[40], fold[40];
    session(f->db, a, "a1", 10000, 100, fa1);
    session(f->db, a, "a2", 10000, 200, fa2);
    session(f->db, a, "a0", 150, 50, fold); /* expires at 150 */
    session(f->db, b, "b1", 10000, 300, fb);
    /* a1 rotates at 400: its family is the most recently used */
    struct rg_db_session s;
    struct rg_db_user u;
    bool reuse = false;
    assert_int_equal(
        rg_db_session_rotate(f->db, "a1", "a1b", 20000, "UA-new", 400, &s, &u, &reuse, err), RG_OK);
    struct rg_db_device *d = NULL;
    size_t n = 0;
    assert_int_equal(rg_db_session_list(f->db, a, 500, &d, &n, err), RG_OK);
    assert_int_equal(n, 2);
    assert_string_equal(d[0].family, fa1);
    assert_string_equal(d[0].user_agent, "UA-new");
    assert_int_equal(d[0].created_at, 100);
    assert_int_equal(d[0].last_used_at, 400);
    assert_int_equal(d[0].expires_at, 20000);
    assert_string_equal(d[1].family, fa2);
    assert_int_equal(d[1].created_at, 200);
    rg_free(d);
    /* another user's family, an expired one, an unknown one */
    int64_t k = 7;
    assert_int_equal(rg_db_session_revoke_family(f->db, a, fb, NULL, 500, &k, err), RG_ENOTFOUND);
    assert_int_equal(k, 0);
    assert_int_equal(rg_db_session_revoke_family(f->db, a, fold, NULL, 500, &k, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_session_revoke_family(f->db, a, "nope", NULL, 500, &k, err),
                     RG_ENOTFOUND);
    assert_int_equal(rg_db_session_revoke_family(f->db, a, NULL, NULL, 500, &k, err), RG_EINVAL);
    assert_int_equal(rg_db_session_revoke_family(f->db, a, fa1, fa2, 500, &k, err), RG_EINVAL);
    /* b's session still works */
    assert_int_equal(rg_db_session_validate(f->db, "b1", 500, &s, &u, err), RG_OK);
    /* revoke one */
    assert_int_equal(rg_db_session_revoke_family(f->db, a, fa2, NULL, 500, &k, err), RG_OK);
    assert_int_equal(k, 1);
    assert_int_equal(rg_db_session_validate(f->db, "a2", 500, &s, &u, err), RG_EAUTH);
    assert_int_equal(rg_db_session_revoke_family(f->db, a, fa2, NULL, 500, &k, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_session_list(f->db, a, 500, &d, &n, err), RG_OK);
    assert_int_equal(n, 1);
    rg_free(d);
    /* sign out the others */
    session(f->db, a, "a3", 10000, 600, fa3);
    char fa4[40];
    session(f->db, a, "a4", 10000, 700, fa4);
    assert_int_equal(rg_db_session_revoke_family(f->db, a, NULL, fa3, 800, &k, err), RG_OK);
    assert_int_equal(k, 2);
    assert_int_equal(rg_db_session_list(f->db, a, 800, &d, &n, err), RG_OK);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].family, fa3);
    rg_free(d);
    assert_int_equal(rg_db_session_validate(f->db, "a1b", 800, &s, &u, err), RG_EAUTH);
    assert_int_equal(rg_db_session_validate(f->db, "a3", 800, &s, &u, err), RG_OK);
    assert_int_equal(rg_db_session_validate(f->db, "b1", 800, &s, &u, err), RG_OK);
    assert_int_equal(rg_db_session_list(f->db, b, 800, &d, &n, err), RG_OK);
    assert_int_equal(n, 1);
    rg_free(d);
    /* after expiry nothing is listed */
    assert_int_equal(rg_db_session_list(f->db, a, 30000, &d, &n, err), RG_OK);
    assert_int_equal(n, 0);
    rg_free(d);
}

#define SUITE(x)                                                                                   \
    cmocka_unit_test_setup_teardown(test_create_get, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_stream_finish, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(test_tree_rules, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_threads_move, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(test_other_user, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_property, setup, teardown),                           \
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),                 \
        cmocka_unit_test_setup_teardown(test_search, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_search_paths, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(test_update_title_auto, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(test_delete_cascade, setup, teardown),                     \
        cmocka_unit_test_setup_teardown(test_fts5_present, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(test_sessions, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {SUITE(x)};
    g_backend = SQLITE;
    int failed = cmocka_run_group_tests_name("conv_storage/sqlite", tests, NULL, NULL);

    int pg = fx_pg_find("conv_storage");
    if (pg <= 0) return failed + (pg < 0 ? 1 : 0);
    g_backend = PG;
    const struct CMUnitTest pg_tests[] = {SUITE(x)};
    failed += cmocka_run_group_tests_name("conv_storage/postgres", pg_tests, NULL, NULL);
    return failed;
}
