/*
 * Kept conversations on SQLite (migration 4 and the conversation and
 * signed-in-device operations of db_internal.h). The rules the PostgreSQL
 * backend keeps in PL/pgSQL (conv_pg.c) are here in C, each write inside
 * BEGIN IMMEDIATE, so that a read that decides a write (is this parent in
 * the conversation? is the active leaf in the deleted subtree?) sees a
 * stable database.
 *
 * Ownership: every statement reaches a row through conversations.owner_id,
 * so another user's id finds nothing, exactly like a missing one.
 *
 * Search: FTS5 external-content tables over conversation titles and message
 * text, kept by triggers (a cascade from a deleted conversation or user
 * fires them too). The query is built from db.c's words, each quoted as an
 * FTS5 string ("word"; the last "word"*), so nothing the user typed is FTS5
 * syntax. docs/internals/conversations.md gives the rules.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/db_internal.h"
#include "db/sqlite_internal.h"

/* The tree columns (parent_id, thread_id, active_leaf, ...) carry no foreign
 * key: the code keeps them (a self-referencing key would make every deleted
 * message scan the table, and cascading through it is limited in depth);
 * conv_id and owner_id cascade. */
const char rg_db_sqlite_conv_migration[] =
    "CREATE TABLE conversations ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " title TEXT NOT NULL DEFAULT '',"
    " title_auto INTEGER NOT NULL DEFAULT 1,"
    " model TEXT NOT NULL DEFAULT '',"
    " settings TEXT NOT NULL DEFAULT '{}',"
    " folder TEXT NOT NULL DEFAULT '',"
    " tags TEXT NOT NULL DEFAULT '',"
    " archived INTEGER NOT NULL DEFAULT 0,"
    " pinned INTEGER NOT NULL DEFAULT 0,"
    " active_leaf INTEGER,"
    " main_thread INTEGER,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE INDEX conversations_list ON conversations(owner_id, pinned DESC, updated_at DESC,"
    " id DESC);"
    "CREATE TABLE threads ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " conv_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    " title TEXT NOT NULL DEFAULT '',"
    " root_id INTEGER,"
    " collapsed INTEGER NOT NULL DEFAULT 0,"
    " summary_id INTEGER,"
    " created_at INTEGER NOT NULL);"
    "CREATE INDEX threads_conv ON threads(conv_id, id);"
    "CREATE TABLE messages ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " conv_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    " thread_id INTEGER NOT NULL,"
    " parent_id INTEGER,"
    " type TEXT NOT NULL CHECK (type IN ('user','assistant','system','tool','summary','note')),"
    " role TEXT NOT NULL CHECK (role IN ('user','assistant','system','tool')),"
    " content TEXT NOT NULL DEFAULT '',"
    " model TEXT NOT NULL DEFAULT '',"
    " settings TEXT NOT NULL DEFAULT '{}',"
    " finish TEXT NOT NULL DEFAULT '',"
    " incomplete INTEGER NOT NULL DEFAULT 0,"
    " prompt_tokens INTEGER NOT NULL DEFAULT 0,"
    " completion_tokens INTEGER NOT NULL DEFAULT 0,"
    " duration_ms INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE INDEX messages_tree ON messages(conv_id, parent_id);"
    "CREATE INDEX messages_thread ON messages(thread_id);"
    "CREATE VIRTUAL TABLE conversations_fts USING fts5(title, content='conversations',"
    " content_rowid='id', tokenize='unicode61 remove_diacritics 2');"
    "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages',"
    " content_rowid='id', tokenize='unicode61 remove_diacritics 2');"
    "CREATE TRIGGER conversations_fts_ai AFTER INSERT ON conversations BEGIN"
    " INSERT INTO conversations_fts(rowid, title) VALUES (new.id, new.title); END;"
    "CREATE TRIGGER conversations_fts_ad AFTER DELETE ON conversations BEGIN"
    " INSERT INTO conversations_fts(conversations_fts, rowid, title)"
    " VALUES ('delete', old.id, old.title); END;"
    "CREATE TRIGGER conversations_fts_au AFTER UPDATE OF title ON conversations BEGIN"
    " INSERT INTO conversations_fts(conversations_fts, rowid, title)"
    " VALUES ('delete', old.id, old.title);"
    " INSERT INTO conversations_fts(rowid, title) VALUES (new.id, new.title); END;"
    "CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN"
    " INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END;"
    "CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, content)"
    " VALUES ('delete', old.id, old.content); END;"
    "CREATE TRIGGER messages_fts_au AFTER UPDATE OF content ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, content)"
    " VALUES ('delete', old.id, old.content);"
    " INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END;";

/* ---- reading rows ------------------------------------------------------------ */

#define CONV_COLS                                                                                  \
    "c.id, c.owner_id, c.title, c.model, c.settings, c.folder, c.tags, c.archived, c.pinned,"      \
    " c.title_auto, coalesce(c.active_leaf, 0), coalesce(c.main_thread, 0),"                       \
    " (SELECT count(*) FROM messages n WHERE n.conv_id = c.id), c.created_at, c.updated_at,"       \
    " c.type, c.type_auto"
#define CONV_NCOLS 17

#define MSG_COLS                                                                                   \
    "m.id, m.conv_id, m.thread_id, coalesce(m.parent_id, 0), m.type, m.role, m.content, m.model,"  \
    " m.settings, m.finish, m.incomplete, m.prompt_tokens, m.completion_tokens, m.duration_ms,"    \
    " m.created_at, m.updated_at,"                                                                 \
    " (SELECT count(*) FROM messages k WHERE k.conv_id = m.conv_id AND k.parent_id = m.id)"

#define THREAD_COLS                                                                                \
    "t.id, t.conv_id, t.title, coalesce(t.root_id, 0), t.collapsed, coalesce(t.summary_id, 0),"    \
    " t.created_at, (SELECT count(*) FROM messages n WHERE n.thread_id = t.id)"

/* A message of the owner's: joined through its conversation. */
#define MSG_OF_OWNER "messages m JOIN conversations c ON c.id = m.conv_id AND c.owner_id = ?2"

static int read_conv(sqlite3_stmt *st, void *item, char *err)
{
    struct rg_db_conv *c = item;
    c->id = sqlite3_column_int64(st, 0);
    c->owner_id = sqlite3_column_int64(st, 1);
    rg_db_copy(c->title, sizeof c->title, rg_db_sq_text(st, 2));
    rg_db_copy(c->model, sizeof c->model, rg_db_sq_text(st, 3));
    c->settings = rg_strdup(rg_db_sq_text(st, 4));
    rg_db_copy(c->folder, sizeof c->folder, rg_db_sq_text(st, 5));
    rg_db_copy(c->tags, sizeof c->tags, rg_db_sq_text(st, 6));
    c->archived = sqlite3_column_int(st, 7) != 0;
    c->pinned = sqlite3_column_int(st, 8) != 0;
    c->title_auto = sqlite3_column_int(st, 9) != 0;
    c->active_leaf = sqlite3_column_int64(st, 10);
    c->main_thread = sqlite3_column_int64(st, 11);
    c->n_messages = sqlite3_column_int64(st, 12);
    c->created_at = sqlite3_column_int64(st, 13);
    c->updated_at = sqlite3_column_int64(st, 14);
    rg_db_copy(c->type, sizeof c->type, rg_db_sq_text(st, 15)); /* migration 6 */
    c->type_auto = sqlite3_column_int(st, 16) != 0;
    return c->settings ? RG_OK : rg_err_set(err, RG_ENOMEM, "out of memory");
}

/* A list row: the conversation and, last, its matching message (search). */
static int read_conv_hit(sqlite3_stmt *st, void *item, char *err)
{
    struct rg_db_conv *c = item;
    c->match_message = sqlite3_column_int64(st, CONV_NCOLS);
    return read_conv(st, item, err);
}

static int read_msg(sqlite3_stmt *st, void *item, char *err)
{
    struct rg_db_msg *m = item;
    m->id = sqlite3_column_int64(st, 0);
    m->conv_id = sqlite3_column_int64(st, 1);
    m->thread_id = sqlite3_column_int64(st, 2);
    m->parent_id = sqlite3_column_int64(st, 3);
    rg_db_copy(m->type, sizeof m->type, rg_db_sq_text(st, 4));
    rg_db_copy(m->role, sizeof m->role, rg_db_sq_text(st, 5));
    m->content = rg_strdup(rg_db_sq_text(st, 6));
    rg_db_copy(m->model, sizeof m->model, rg_db_sq_text(st, 7));
    m->settings = rg_strdup(rg_db_sq_text(st, 8));
    rg_db_copy(m->finish, sizeof m->finish, rg_db_sq_text(st, 9));
    m->incomplete = sqlite3_column_int(st, 10) != 0;
    m->prompt_tokens = sqlite3_column_int64(st, 11);
    m->completion_tokens = sqlite3_column_int64(st, 12);
    m->duration_ms = sqlite3_column_int64(st, 13);
    m->created_at = sqlite3_column_int64(st, 14);
    m->updated_at = sqlite3_column_int64(st, 15);
    m->n_children = sqlite3_column_int(st, 16);
    if (m->content && m->settings) return RG_OK;
    rg_db_msg_clear(m);
    return rg_err_set(err, RG_ENOMEM, "out of memory");
}

static int read_thread(sqlite3_stmt *st, void *item, char *err)
{
    (void)err;
    struct rg_db_thread *t = item;
    t->id = sqlite3_column_int64(st, 0);
    t->conv_id = sqlite3_column_int64(st, 1);
    rg_db_copy(t->title, sizeof t->title, rg_db_sq_text(st, 2));
    t->root_id = sqlite3_column_int64(st, 3);
    t->collapsed = sqlite3_column_int(st, 4) != 0;
    t->summary_id = sqlite3_column_int64(st, 5);
    t->created_at = sqlite3_column_int64(st, 6);
    t->n_messages = sqlite3_column_int64(st, 7);
    return RG_OK;
}

static int read_device(sqlite3_stmt *st, void *item, char *err)
{
    (void)err;
    struct rg_db_device *d = item;
    rg_db_copy(d->family, sizeof d->family, rg_db_sq_text(st, 0));
    rg_db_copy(d->user_agent, sizeof d->user_agent, rg_db_sq_text(st, 1));
    d->created_at = sqlite3_column_int64(st, 2);
    d->last_used_at = sqlite3_column_int64(st, 3);
    d->expires_at = sqlite3_column_int64(st, 4);
    return RG_OK;
}

typedef int (*read_fn)(sqlite3_stmt *st, void *item, char *err);

/* The one row of st into item (RG_ENOTFOUND "no such <none>" when none);
 * finalizes st. */
static int one_row(sqlite3 *c, sqlite3_stmt *st, read_fn read, void *item, const char *none,
                   char *err)
{
    if (!st) return RG_EIO;
    int step = sqlite3_step(st), rc;
    if (step == SQLITE_ROW)
        rc = read(st, item, err);
    else
        rc = step == SQLITE_DONE ? rg_err_set(err, RG_ENOTFOUND, "no such %s", none)
                                 : rg_db_sq_fail(c, err);
    sqlite3_finalize(st);
    return rc;
}

/* Every row of st (at most max, 0: no limit) as a growing array of elem-byte
 * items; finalizes st. free_fn (may be NULL) clears the items read so far on
 * failure. */
static int all_rows(sqlite3 *c, sqlite3_stmt *st, read_fn read, size_t elem, size_t max,
                    void (*free_fn)(void *v, size_t n), void **out, size_t *n, char *err)
{
    *out = NULL;
    *n = 0;
    if (!st) return RG_EIO;
    size_t cap = 0;
    int step = SQLITE_DONE, rc = RG_OK;
    while ((max == 0 || *n < max) && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            void *v = rg_malloc_array(ncap, elem);
            if (!v) {
                rc = rg_err_set(err, RG_ENOMEM, "out of memory");
                break;
            }
            if (*n) memcpy(v, *out, *n * elem);
            rg_free(*out);
            *out = v;
            cap = ncap;
        }
        void *item = (char *)*out + *n * elem;
        memset(item, 0, elem);
        if ((rc = read(st, item, err))) break;
        (*n)++;
    }
    if (!rc && step != SQLITE_DONE && step != SQLITE_ROW) rc = rg_db_sq_fail(c, err);
    sqlite3_finalize(st);
    if (rc) {
        if (free_fn)
            free_fn(*out, *n);
        else
            rg_free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static void free_convs(void *v, size_t n)
{
    rg_db_conv_list_free(v, n);
}

static void free_msgs(void *v, size_t n)
{
    rg_db_msg_list_free(v, n);
}

static int conv_by_id(sqlite3 *c, int64_t owner, int64_t id, struct rg_db_conv *out, char *err)
{
    return one_row(c,
                   rg_db_sq_prep(c, err,
                                 "SELECT " CONV_COLS
                                 " FROM conversations c WHERE c.id = ?1 AND c.owner_id = ?2",
                                 "ii", id, owner),
                   read_conv, out, "conversation", err);
}

static int msg_by_id(sqlite3 *c, int64_t owner, int64_t id, struct rg_db_msg *out, char *err)
{
    return one_row(c,
                   rg_db_sq_prep(c, err,
                                 "SELECT " MSG_COLS " FROM " MSG_OF_OWNER " WHERE m.id = ?1", "ii",
                                 id, owner),
                   read_msg, out, "message", err);
}

static int thread_by_id(sqlite3 *c, int64_t owner, int64_t id, struct rg_db_thread *out, char *err)
{
    return one_row(c,
                   rg_db_sq_prep(c, err,
                                 "SELECT " THREAD_COLS " FROM threads t JOIN conversations c ON"
                                 " c.id = t.conv_id AND c.owner_id = ?2 WHERE t.id = ?1",
                                 "ii", id, owner),
                   read_thread, out, "thread", err);
}

/* The (conv_id, thread_id, parent_id) of the owner's message id; RG_ENOTFOUND. */
static int msg_place(sqlite3 *c, int64_t owner, int64_t id, int64_t *conv, int64_t *thread,
                     int64_t *parent, char *err)
{
    sqlite3_stmt *st = rg_db_sq_prep(c, err,
                                     "SELECT m.conv_id, m.thread_id, coalesce(m.parent_id, 0)"
                                     " FROM " MSG_OF_OWNER " WHERE m.id = ?1",
                                     "ii", id, owner);
    if (!st) return RG_EIO;
    int step = sqlite3_step(st), rc = RG_OK;
    if (step == SQLITE_ROW) {
        *conv = sqlite3_column_int64(st, 0);
        if (thread) *thread = sqlite3_column_int64(st, 1);
        if (parent) *parent = sqlite3_column_int64(st, 2);
    } else {
        rc = step == SQLITE_DONE ? rg_err_set(err, RG_ENOTFOUND, "no such message")
                                 : rg_db_sq_fail(c, err);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Is the owner's conversation there? RG_OK or RG_ENOTFOUND; *main_thread
 * and *active (may be NULL) get its main thread and active leaf. */
static int conv_owned(sqlite3 *c, int64_t owner, int64_t id, int64_t *main_thread, int64_t *active,
                      char *err)
{
    sqlite3_stmt *st = rg_db_sq_prep(c, err,
                                     "SELECT coalesce(main_thread, 0), coalesce(active_leaf, 0)"
                                     " FROM conversations WHERE id = ?1 AND owner_id = ?2",
                                     "ii", id, owner);
    if (!st) return RG_EIO;
    int step = sqlite3_step(st), rc = RG_OK;
    if (step == SQLITE_ROW) {
        if (main_thread) *main_thread = sqlite3_column_int64(st, 0);
        if (active) *active = sqlite3_column_int64(st, 1);
    } else {
        rc = step == SQLITE_DONE ? rg_err_set(err, RG_ENOTFOUND, "no such conversation")
                                 : rg_db_sq_fail(c, err);
    }
    sqlite3_finalize(st);
    return rc;
}

/* From msg_id (0: none), its newest child repeatedly down to a leaf. A
 * summary (docs/memory.md) is never part of a branch: from one the descent
 * starts at the newest other root, and no summary child is followed. */
static int descend_newest(sqlite3 *c, int64_t conv, int64_t msg_id, int64_t *leaf, char *err)
{
    *leaf = msg_id;
    if (msg_id == 0) return RG_OK;
    int64_t summary = 0;
    int rc0 = rg_db_sq_one_int(c,
                               rg_db_sq_prep(c, err,
                                             "SELECT count(*) FROM messages WHERE id = ?1 AND"
                                             " type = 'summary'",
                                             "i", msg_id),
                               &summary, err);
    if (!rc0 && summary)
        rc0 = rg_db_sq_one_int(c,
                               rg_db_sq_prep(c, err,
                                             "SELECT coalesce(max(id), 0) FROM messages WHERE"
                                             " conv_id = ?1 AND parent_id IS NULL AND"
                                             " type <> 'summary'",
                                             "i", conv),
                               &msg_id, err);
    if (rc0) return rc0;
    *leaf = msg_id;
    if (msg_id == 0) return RG_OK;
    sqlite3_stmt *st = rg_db_sq_prep(c, err,
                                     "SELECT id FROM messages WHERE conv_id = ?1 AND parent_id = ?2"
                                     " AND type <> 'summary' ORDER BY id DESC LIMIT 1",
                                     "ii", conv, msg_id);
    if (!st) return RG_EIO;
    for (;;) {
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW) {
            int rc = rg_db_sq_fail(c, err);
            sqlite3_finalize(st);
            return rc;
        }
        *leaf = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 2, *leaf);
    }
    sqlite3_finalize(st);
    return RG_OK;
}

/* ---- signed-in devices --------------------------------------------------------------- */

/* A live family: its newest token (never replaced) is neither revoked nor expired. */
#define LIVE_TOKEN "s.replaced_at IS NULL AND s.revoked_at IS NULL AND s.expires_at > ?2"

int rg_db_sqlite_session_list(void *conn, int64_t user_id, int64_t now, struct rg_db_device **out,
                              size_t *n, char *err)
{
    sqlite3 *c = conn;
    return all_rows(
        c,
        rg_db_sq_prep(c, err,
                      "SELECT s.family, s.user_agent, (SELECT min(f.created_at) FROM"
                      " sessions f WHERE f.family = s.family), s.created_at,"
                      " s.expires_at FROM sessions s WHERE s.user_id = ?1 AND " LIVE_TOKEN
                      " ORDER BY s.created_at DESC, s.id DESC",
                      "ii", user_id, now),
        read_device, sizeof **out, 0, NULL, (void **)out, n, err);
}

int rg_db_sqlite_session_revoke_family(void *conn, int64_t user_id, const char *family,
                                       const char *except, int64_t now, int64_t *n, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    /* the live families this call revokes */
    rc = rg_db_sq_one_int(
        c,
        rg_db_sq_prep(c, err,
                      "SELECT count(*) FROM sessions s WHERE s.user_id = ?1 AND " LIVE_TOKEN
                      " AND (?3 IS NULL OR s.family = ?3) AND (?4 IS NULL OR s.family <> ?4)",
                      "iiss", user_id, now, family, except),
        n, err);
    if (!rc && family && *n == 0) rc = rg_err_set(err, RG_ENOTFOUND, "no such session");
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1"
                                        " AND revoked_at IS NULL AND (?3 IS NULL OR family = ?3)"
                                        " AND (?4 IS NULL OR family <> ?4)",
                                        "iiss", user_id, now, family, except),
                          NULL, err);
    if (rc) *n = 0;
    return rg_db_sq_finish(c, rc, false, err);
}

/* ---- conversations ------------------------------------------------------------------- */

int rg_db_sqlite_conv_create(void *conn, const struct rg_db_conv_new *n, struct rg_db_conv *out,
                             char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = rg_db_sq_run(
        c,
        rg_db_sq_prep(c, err,
                      "INSERT INTO conversations(owner_id, title, title_auto, model, settings,"
                      " folder, tags, created_at, updated_at)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                      "isbssssi", n->owner_id, n->title, (int)(n->title[0] == '\0'), n->model,
                      n->settings, n->folder, n->tags, n->now),
        NULL, err);
    int64_t id = sqlite3_last_insert_rowid(c);
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "INSERT INTO threads(conv_id, created_at) VALUES (?1, ?2)",
                                        "ii", id, n->now),
                          NULL, err);
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "UPDATE conversations SET main_thread = ?2 WHERE id = ?1",
                                        "ii", id, (int64_t)sqlite3_last_insert_rowid(c)),
                          NULL, err);
    if (!rc) rc = conv_by_id(c, n->owner_id, id, out, err);
    return rg_db_sq_finish(c, rc, false, err);
}

int rg_db_sqlite_conv_get(void *conn, int64_t owner, int64_t id, struct rg_db_conv *out, char *err)
{
    return conv_by_id(conn, owner, id, out, err);
}

/* The FTS5 query of words: each quoted (they hold no quote), the last a prefix. */
static int fts_query(const struct rg_db_words *w, char *out, size_t size, char *err)
{
    size_t o = 0;
    for (int i = 0; i < w->n; i++) {
        int k = snprintf(out + o, size - o, "%s\"%s\"%s", i ? " " : "", w->w[i],
                         i == w->n - 1 ? "*" : "");
        if (k < 0 || (size_t)k >= size - o)
            return rg_err_set(err, RG_EINVAL, "the search is too long");
        o += (size_t)k;
    }
    return RG_OK;
}

/* The filters every list shares: ?1 owner, ?2 archived, ?3 folder, ?4 tag. */
#define LIST_FILTER                                                                                \
    "c.owner_id = ?1 AND (?2 < 0 OR c.archived = ?2) AND (?3 IS NULL OR c.folder = ?3) AND"        \
    " (?4 IS NULL OR instr(',' || c.tags || ',', ',' || ?4 || ',') > 0) AND"                       \
    " (?8 IS NULL OR c.type = ?8)"
#define LIST_ORDER " ORDER BY c.pinned DESC, c.updated_at DESC, c.id DESC LIMIT ?5 OFFSET ?6"

/*
 * The snippet of v's matching message: cut around the first query word in
 * its text (rg_db_snippet), which costs a read of one row; only when that
 * finds no word (a match through case folding or diacritics beyond ASCII)
 * FTS5's snippet(), which costs a pass over the query's whole doclist. A
 * title match shows the title.
 */
static void fill_snippet(sqlite3 *c, const char *q, const struct rg_db_words *w,
                         struct rg_db_conv *v)
{
    char e[RG_ERR_SIZE];
    v->snippet[0] = '\0';
    if (!v->match_message) {
        rg_db_copy_utf8(v->snippet, 240, v->title);
        return;
    }
    sqlite3_stmt *st =
        rg_db_sq_prep(c, e, "SELECT content FROM messages WHERE id = ?1", "i", v->match_message);
    bool found = false;
    if (st && sqlite3_step(st) == SQLITE_ROW)
        found = rg_db_snippet(rg_db_sq_text(st, 0), w, v->snippet, sizeof v->snippet);
    sqlite3_finalize(st);
    if (found) return;
    st = rg_db_sq_prep(c, e,
                       "SELECT snippet(messages_fts, 0, '', '', '…', 24) FROM messages_fts"
                       " WHERE messages_fts MATCH ?1 AND rowid = ?2",
                       "si", q, v->match_message);
    if (st && sqlite3_step(st) == SQLITE_ROW)
        rg_db_copy_utf8(v->snippet, 240, rg_db_sq_text(st, 0));
    sqlite3_finalize(st);
}

/* The rowids FTS5 finds for q in table (messages_fts or conversations_fts),
 * ascending. *out: rg_free. */
static int fts_ids(sqlite3 *c, const char *table, const char *q, int64_t **out, size_t *n,
                   char *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT rowid FROM %s WHERE %s MATCH ?1 ORDER BY rowid", table,
             table);
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = rg_db_sq_prep(c, err, sql, "s", q);
    if (!st) return RG_EIO;
    size_t cap = 0;
    int step, rc = RG_OK;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            int64_t *v = rg_malloc_array(ncap, sizeof *v);
            if (!v) {
                rc = rg_err_set(err, RG_ENOMEM, "out of memory");
                break;
            }
            if (*n) memcpy(v, *out, *n * sizeof *v);
            rg_free(*out);
            *out = v;
            cap = ncap;
        }
        (*out)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    if (!rc && step != SQLITE_DONE) rc = rg_db_sq_fail(c, err);
    sqlite3_finalize(st);
    if (rc) {
        rg_free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static bool has_id(const int64_t *v, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == id;
}

size_t rg_db_sqlite_walk_min = 2000;

/*
 * A search for a common word: the owner's conversations in list order, each
 * kept when one of its messages is among the matches msg (ascending ids;
 * its newest such message is the match) or its title among title; stops
 * after offset + limit + 1 kept ones. Common words match most
 * conversations, so the walk ends soon.
 */
static int search_walk(sqlite3 *c, int64_t owner, const struct rg_db_conv_filter *f,
                       const int64_t *msg, size_t n_msg, const int64_t *title, size_t n_title,
                       struct rg_db_conv **out, size_t *n, char *err)
{
    size_t want = (size_t)f->offset + (size_t)f->limit + 1, kept = 0, got = 0;
    struct rg_db_conv *v = rg_calloc((size_t)f->limit + 1, sizeof *v);
    if (!v) return rg_err_set(err, RG_ENOMEM, "out of memory");
    sqlite3_stmt *cs =
        rg_db_sq_prep(c, err,
                      "SELECT " CONV_COLS ", 0 FROM conversations c WHERE " LIST_FILTER
                      " ORDER BY c.pinned DESC, c.updated_at DESC, c.id DESC",
                      "iissiiss", owner, (int64_t)f->archived, f->folder, f->tag, (int64_t)0,
                      (int64_t)0, (const char *)NULL, f->type);
    sqlite3_stmt *ms = rg_db_sq_prep(
        c, err, "SELECT id FROM messages WHERE conv_id = ?1 ORDER BY id DESC", "i", (int64_t)0);
    int rc = cs && ms ? RG_OK : RG_EIO;
    int step = SQLITE_DONE;
    while (!rc && kept < want && (step = sqlite3_step(cs)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(cs, 0), mid = -1;
        sqlite3_bind_int64(ms, 1, id);
        int mstep = SQLITE_DONE;
        while (mid < 0 && (mstep = sqlite3_step(ms)) == SQLITE_ROW) {
            int64_t m = sqlite3_column_int64(ms, 0);
            if (has_id(msg, n_msg, m)) mid = m;
        }
        if (mstep != SQLITE_ROW && mstep != SQLITE_DONE) rc = rg_db_sq_fail(c, err);
        sqlite3_reset(ms);
        if (rc) break;
        if (mid < 0 && has_id(title, n_title, id)) mid = 0;
        if (mid < 0) continue;
        if (kept++ < (size_t)f->offset) continue;
        rc = read_conv(cs, &v[got], err);
        if (!rc) v[got++].match_message = mid;
    }
    if (!rc && step != SQLITE_DONE && step != SQLITE_ROW) rc = rg_db_sq_fail(c, err);
    sqlite3_finalize(cs);
    sqlite3_finalize(ms);
    if (rc) {
        rg_db_conv_list_free(v, got);
        return rc;
    }
    *out = v;
    *n = got;
    return RG_OK;
}

/*
 * The list, or a search. A search first asks FTS5 for the matching rowids
 * (one pass over each doclist). Few matches: one statement groups them by
 * conversation and sorts that small set. Many (a common word): grouping
 * every match would cost about as many row reads as there are matches, so
 * the conversations are walked in list order instead and the walk stops
 * when the page is full; the cost then follows the page, not the word.
 */
int rg_db_sqlite_conv_list(void *conn, int64_t owner, const struct rg_db_conv_filter *f,
                           const struct rg_db_words *words, struct rg_db_conv **out, size_t *n,
                           bool *more, char *err)
{
    sqlite3 *c = conn;
    char q[RG_DB_SEARCH_Q_MAX * 2 + 4 * RG_DB_SEARCH_WORDS_MAX + 8] = "";
    size_t got = 0;
    struct rg_db_conv *v = NULL;
    int rc;
    if (!words) {
        rc = all_rows(c,
                      rg_db_sq_prep(c, err,
                                    "SELECT " CONV_COLS
                                    ", 0 FROM conversations c WHERE " LIST_FILTER LIST_ORDER,
                                    "iissiiss", owner, (int64_t)f->archived, f->folder, f->tag,
                                    (int64_t)f->limit + 1, (int64_t)f->offset, (const char *)NULL,
                                    f->type),
                      read_conv_hit, sizeof *v, 0, free_convs, (void **)&v, &got, err);
    } else {
        int64_t *msg = NULL, *title = NULL;
        size_t n_msg = 0, n_title = 0;
        if ((rc = fts_query(words, q, sizeof q, err))) return rc;
        if ((rc = rg_db_sq_exec(c, "BEGIN", err))) return rc; /* one snapshot for the steps */
        rc = fts_ids(c, "messages_fts", q, &msg, &n_msg, err);
        if (!rc && n_msg >= rg_db_sqlite_walk_min) {
            rc = fts_ids(c, "conversations_fts", q, &title, &n_title, err);
            if (!rc) rc = search_walk(c, owner, f, msg, n_msg, title, n_title, &v, &got, err);
        } else if (!rc) {
            /* every word in one message (its newest such message is the
             * match) or in the title (match_message 0) */
            rc = all_rows(
                c,
                rg_db_sq_prep(
                    c, err,
                    "WITH hit(cid, mid) AS ("
                    " SELECT m.conv_id, max(m.id) FROM messages_fts f JOIN messages m ON"
                    " m.id = f.rowid WHERE messages_fts MATCH ?7 GROUP BY m.conv_id"
                    " UNION ALL SELECT rowid, 0 FROM conversations_fts WHERE conversations_fts"
                    " MATCH ?7),"
                    " best(cid, mid) AS (SELECT cid, max(mid) FROM hit GROUP BY cid)"
                    " SELECT " CONV_COLS ", best.mid FROM best JOIN conversations c ON"
                    " c.id = best.cid WHERE " LIST_FILTER LIST_ORDER,
                    "iissiiss", owner, (int64_t)f->archived, f->folder, f->tag,
                    (int64_t)f->limit + 1, (int64_t)f->offset, q, f->type),
                read_conv_hit, sizeof *v, 0, free_convs, (void **)&v, &got, err);
        }
        rg_free(msg);
        rg_free(title);
        if (!rc)
            for (size_t i = 0; i < got && i < (size_t)f->limit; i++)
                fill_snippet(c, q, words, &v[i]);
        rg_db_sq_exec(c, "COMMIT", NULL);
    }
    if (rc) return rc;
    *more = got > (size_t)f->limit;
    if (*more) {
        rg_db_conv_clear(&v[f->limit]);
        got = (size_t)f->limit;
    }
    *out = v;
    *n = got;
    return RG_OK;
}

int rg_db_sqlite_conv_update(void *conn, int64_t owner, int64_t id,
                             const struct rg_db_conv_change *ch, struct rg_db_conv *out, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    int64_t changed = 0;
    rc = rg_db_sq_run(
        c,
        rg_db_sq_prep(c, err,
                      "UPDATE conversations SET title = coalesce(?3, title),"
                      " model = coalesce(?4, model), settings = coalesce(?5, settings),"
                      " folder = coalesce(?6, folder), tags = coalesce(?7, tags),"
                      " archived = CASE WHEN ?8 < 0 THEN archived ELSE ?8 END,"
                      " pinned = CASE WHEN ?9 < 0 THEN pinned ELSE ?9 END,"
                      " title_auto = CASE WHEN ?10 < 0 THEN title_auto ELSE ?10 END,"
                      " updated_at = ?11 WHERE id = ?1 AND owner_id = ?2 AND (?12 = 0 OR"
                      " title_auto = 1)",
                      "iisssssiiiib", id, owner, ch->title, ch->model, ch->settings, ch->folder,
                      ch->tags, (int64_t)ch->archived, (int64_t)ch->pinned, (int64_t)ch->title_auto,
                      ch->now, (int)ch->only_if_auto),
        &changed, err);
    if (!rc && changed == 0) {
        rc = conv_owned(c, owner, id, NULL, NULL, err);
        if (!rc) rc = rg_err_set(err, RG_ESTATE, "the title was set by the user");
    }
    if (!rc) rc = conv_by_id(c, owner, id, out, err);
    return rg_db_sq_finish(c, rc, false, err);
}

int rg_db_sqlite_conv_delete(void *conn, int64_t owner, int64_t id, char *err)
{
    sqlite3 *c = conn;
    int64_t changed = 0;
    int rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "DELETE FROM conversations WHERE id = ?1 AND owner_id = ?2",
                                        "ii", id, owner),
                          &changed, err);
    if (!rc && changed == 0) rc = rg_err_set(err, RG_ENOTFOUND, "no such conversation");
    return rc;
}

/* ---- messages ------------------------------------------------------------------------ */

int rg_db_sqlite_msg_add(void *conn, int64_t owner, const struct rg_db_msg_new *n,
                         struct rg_db_msg *out, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    int64_t main_thread = 0, active = 0, thread = n->thread_id;
    rc = conv_owned(c, owner, n->conv_id, &main_thread, &active, err);
    if (!rc && n->parent_id) {
        int64_t pconv = 0, pthread = 0;
        rc = msg_place(c, owner, n->parent_id, &pconv, &pthread, NULL, err);
        if (!rc && pconv != n->conv_id) rc = rg_err_set(err, RG_ENOTFOUND, "no such message");
        if (!rc && !thread) thread = pthread;
    }
    if (!rc && !thread) thread = main_thread;
    if (!rc && n->thread_id) {
        int64_t ok = 0;
        rc = rg_db_sq_one_int(c,
                              rg_db_sq_prep(c, err,
                                            "SELECT count(*) FROM threads WHERE id = ?1 AND"
                                            " conv_id = ?2",
                                            "ii", n->thread_id, n->conv_id),
                              &ok, err);
        if (!rc && !ok) rc = rg_err_set(err, RG_ENOTFOUND, "no such thread");
    }
    if (!rc)
        rc = rg_db_sq_run(
            c,
            rg_db_sq_prep(c, err,
                          "INSERT INTO messages(conv_id, thread_id, parent_id, type, role, content,"
                          " model, settings, incomplete, created_at, updated_at)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
                          "iiosssssbi", n->conv_id, thread, n->parent_id, n->type, n->role,
                          n->content, n->model, n->settings, (int)n->incomplete, n->now),
            NULL, err);
    int64_t id = sqlite3_last_insert_rowid(c);
    /* the first message of a conversation is its active leaf in any case */
    bool activate = n->set_active || active == 0;
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "UPDATE conversations SET updated_at = ?2,"
                                        " active_leaf = CASE WHEN ?3 THEN ?4 ELSE active_leaf END"
                                        " WHERE id = ?1",
                                        "iibi", n->conv_id, n->now, (int)activate, id),
                          NULL, err);
    if (!rc) rc = msg_by_id(c, owner, id, out, err);
    return rg_db_sq_finish(c, rc, false, err);
}

int rg_db_sqlite_msg_finish(void *conn, int64_t owner, int64_t id, const struct rg_db_msg_end *e,
                            struct rg_db_msg *out, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    int64_t conv = 0;
    rc = msg_place(c, owner, id, &conv, NULL, NULL, err);
    if (!rc)
        rc = rg_db_sq_run(
            c,
            rg_db_sq_prep(c, err,
                          "UPDATE messages SET content = ?2, finish = ?3, incomplete = ?4,"
                          " prompt_tokens = ?5, completion_tokens = ?6, duration_ms = ?7,"
                          " settings = coalesce(?8, settings), updated_at = ?9 WHERE id = ?1",
                          "issbiiisi", id, e->content, e->finish, (int)e->incomplete,
                          e->prompt_tokens, e->completion_tokens, e->duration_ms, e->settings,
                          e->now),
            NULL, err);
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "UPDATE conversations SET updated_at = ?2 WHERE id = ?1",
                                        "ii", conv, e->now),
                          NULL, err);
    if (!rc) rc = msg_by_id(c, owner, id, out, err);
    return rg_db_sq_finish(c, rc, false, err);
}

int rg_db_sqlite_msg_get(void *conn, int64_t owner, int64_t id, struct rg_db_msg *out, char *err)
{
    return msg_by_id(conn, owner, id, out, err);
}

int rg_db_sqlite_msg_list(void *conn, int64_t owner, int64_t conv_id, struct rg_db_msg **out,
                          size_t *n, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_exec(c, "BEGIN", err); /* one snapshot for the check and the rows */
    if (rc) return rc;
    rc = conv_owned(c, owner, conv_id, NULL, NULL, err);
    if (!rc)
        rc = all_rows(c,
                      rg_db_sq_prep(c, err,
                                    "SELECT " MSG_COLS " FROM messages m WHERE m.conv_id = ?1"
                                    " ORDER BY m.id",
                                    "i", conv_id),
                      read_msg, sizeof **out, 0, free_msgs, (void **)out, n, err);
    rg_db_sq_exec(c, "COMMIT", NULL);
    return rc;
}

int rg_db_sqlite_msg_branch(void *conn, int64_t owner, int64_t conv_id, int64_t leaf,
                            struct rg_db_msg **out, size_t *n, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_exec(c, "BEGIN", err);
    if (rc) return rc;
    int64_t active = 0;
    rc = conv_owned(c, owner, conv_id, NULL, &active, err);
    if (!rc && leaf) {
        int64_t lconv = 0;
        rc = msg_place(c, owner, leaf, &lconv, NULL, NULL, err);
        if (!rc && lconv != conv_id) rc = rg_err_set(err, RG_ENOTFOUND, "no such message");
    } else if (!rc) {
        leaf = active;
    }
    /* up from the leaf through the parents; the depth bound only guards a
     * corrupted file (the rules never make a cycle) */
    if (!rc && leaf)
        rc = all_rows(c,
                      rg_db_sq_prep(c, err,
                                    "WITH RECURSIVE up(id, depth) AS (SELECT ?1, 0 UNION ALL"
                                    " SELECT p.parent_id, up.depth + 1 FROM messages p JOIN up"
                                    " ON p.id = up.id WHERE p.parent_id IS NOT NULL AND"
                                    " up.depth < 10000000)"
                                    " SELECT " MSG_COLS " FROM up JOIN messages m ON m.id = up.id"
                                    " WHERE m.conv_id = ?2 ORDER BY up.depth DESC",
                                    "ii", leaf, conv_id),
                      read_msg, sizeof **out, 0, free_msgs, (void **)out, n, err);
    rg_db_sq_exec(c, "COMMIT", NULL);
    return rc;
}

int rg_db_sqlite_conv_set_active(void *conn, int64_t owner, int64_t conv_id, int64_t msg_id,
                                 bool descend, int64_t *leaf, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    int64_t mconv = 0;
    rc = conv_owned(c, owner, conv_id, NULL, NULL, err);
    if (!rc) rc = msg_place(c, owner, msg_id, &mconv, NULL, NULL, err);
    if (!rc && mconv != conv_id) rc = rg_err_set(err, RG_ENOTFOUND, "no such message");
    int64_t to = msg_id;
    if (!rc && descend) rc = descend_newest(c, conv_id, msg_id, &to, err);
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "UPDATE conversations SET active_leaf = ?2 WHERE id = ?1",
                                        "ii", conv_id, to),
                          NULL, err);
    rc = rg_db_sq_finish(c, rc, false, err);
    if (!rc) *leaf = to;
    return rc;
}

/* The subtree of message ?1 in conversation ?2, as a CTE named sub(id). */
#define SUBTREE                                                                                    \
    "WITH RECURSIVE sub(id) AS (SELECT ?1 UNION ALL SELECT k.id FROM messages k JOIN sub ON"       \
    " k.parent_id = sub.id WHERE k.conv_id = ?2) "

/* Threads other than the main one left without messages go; threads whose
 * root or summary went lose the link. */
static int tidy_threads(sqlite3 *c, int64_t conv, char *err)
{
    int rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "DELETE FROM threads WHERE conv_id = ?1 AND id <> (SELECT"
                                        " main_thread FROM conversations WHERE id = ?1) AND NOT"
                                        " EXISTS (SELECT 1 FROM messages m WHERE m.thread_id ="
                                        " threads.id)",
                                        "i", conv),
                          NULL, err);
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "UPDATE threads SET root_id = CASE WHEN EXISTS (SELECT 1"
                                        " FROM messages m WHERE m.id = threads.root_id) THEN"
                                        " root_id END, summary_id = CASE WHEN EXISTS (SELECT 1"
                                        " FROM messages m WHERE m.id = threads.summary_id) THEN"
                                        " summary_id END WHERE conv_id = ?1",
                                        "i", conv),
                          NULL, err);
    return rc;
}

int rg_db_sqlite_msg_delete(void *conn, int64_t owner, int64_t id, int64_t now, int64_t *n,
                            char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    int64_t conv = 0, parent = 0, active = 0, hit = 0;
    rc = msg_place(c, owner, id, &conv, NULL, &parent, err);
    if (!rc) rc = conv_owned(c, owner, conv, NULL, &active, err);
    if (!rc)
        rc =
            rg_db_sq_one_int(c,
                             rg_db_sq_prep(c, err, SUBTREE "SELECT count(*) FROM sub WHERE id = ?3",
                                           "iii", id, conv, active),
                             &hit, err);
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "DELETE FROM messages WHERE id IN (" SUBTREE
                                        "SELECT id FROM sub)",
                                        "ii", id, conv),
                          n, err);
    if (!rc && hit) {
        int64_t from = parent;
        if (!from) /* a root went: the newest remaining root */
            rc = rg_db_sq_one_int(c,
                                  rg_db_sq_prep(c, err,
                                                "SELECT coalesce(max(id), 0) FROM messages WHERE"
                                                " conv_id = ?1 AND parent_id IS NULL",
                                                "i", conv),
                                  &from, err);
        if (!rc) rc = descend_newest(c, conv, from, &active, err);
    }
    if (!rc) rc = tidy_threads(c, conv, err);
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "UPDATE conversations SET active_leaf = nullif(?2, 0),"
                                        " updated_at = max(updated_at, ?3) WHERE id = ?1",
                                        "iii", conv, active, now),
                          NULL, err);
    if (rc) *n = 0;
    return rg_db_sq_finish(c, rc, false, err);
}

/* ---- threads -------------------------------------------------------------------------- */

int rg_db_sqlite_thread_list(void *conn, int64_t owner, int64_t conv_id, struct rg_db_thread **out,
                             size_t *n, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_exec(c, "BEGIN", err);
    if (rc) return rc;
    rc = conv_owned(c, owner, conv_id, NULL, NULL, err);
    if (!rc)
        rc = all_rows(c,
                      rg_db_sq_prep(c, err,
                                    "SELECT " THREAD_COLS " FROM threads t WHERE t.conv_id = ?1"
                                    " ORDER BY t.id",
                                    "i", conv_id),
                      read_thread, sizeof **out, 0, NULL, (void **)out, n, err);
    rg_db_sq_exec(c, "COMMIT", NULL);
    return rc;
}

int rg_db_sqlite_thread_update(void *conn, int64_t owner, int64_t thread_id, const char *title,
                               int collapsed, int64_t summary_id, struct rg_db_thread *out,
                               char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = thread_by_id(c, owner, thread_id, out, err);
    if (!rc && summary_id > 0) {
        int64_t sconv = 0;
        rc = msg_place(c, owner, summary_id, &sconv, NULL, NULL, err);
        if (!rc && sconv != out->conv_id) rc = rg_err_set(err, RG_ENOTFOUND, "no such message");
    }
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "UPDATE threads SET title = coalesce(?2, title),"
                                        " collapsed = CASE WHEN ?3 < 0 THEN collapsed ELSE ?3 END,"
                                        " summary_id = CASE WHEN ?4 < 0 THEN summary_id"
                                        " ELSE nullif(?4, 0) END WHERE id = ?1",
                                        "isii", thread_id, title, (int64_t)collapsed, summary_id),
                          NULL, err);
    if (!rc) rc = thread_by_id(c, owner, thread_id, out, err);
    return rg_db_sq_finish(c, rc, false, err);
}

int rg_db_sqlite_msg_move(void *conn, int64_t owner, int64_t msg_id, int64_t thread_id,
                          const char *new_title, int64_t now, struct rg_db_thread *out, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    int64_t conv = 0, to = thread_id;
    rc = msg_place(c, owner, msg_id, &conv, NULL, NULL, err);
    if (!rc && thread_id) {
        rc = thread_by_id(c, owner, thread_id, out, err);
        if (!rc && out->conv_id != conv) rc = rg_err_set(err, RG_ENOTFOUND, "no such thread");
    } else if (!rc) {
        int64_t others = 0;
        rc = rg_db_sq_one_int(
            c, rg_db_sq_prep(c, err, "SELECT count(*) FROM threads WHERE conv_id = ?1", "i", conv),
            &others, err);
        char title[RG_DB_CONV_TITLE_MAX + 8];
        if (*new_title)
            rg_db_copy(title, sizeof title, new_title);
        else
            snprintf(title, sizeof title, "Thread %lld", (long long)others);
        if (!rc)
            rc = rg_db_sq_run(c,
                              rg_db_sq_prep(c, err,
                                            "INSERT INTO threads(conv_id, title, root_id,"
                                            " created_at) VALUES (?1, ?2, ?3, ?4)",
                                            "isii", conv, title, msg_id, now),
                              NULL, err);
        to = sqlite3_last_insert_rowid(c);
    }
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "UPDATE messages SET thread_id = ?3 WHERE id IN (" SUBTREE
                                        "SELECT id FROM sub)",
                                        "iii", msg_id, conv, to),
                          NULL, err);
    if (!rc) rc = tidy_threads(c, conv, err);
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "UPDATE conversations SET updated_at = ?2 WHERE id = ?1",
                                        "ii", conv, now),
                          NULL, err);
    if (!rc) rc = thread_by_id(c, owner, to, out, err);
    return rg_db_sq_finish(c, rc, false, err);
}
