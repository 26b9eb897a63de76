/*
 * The knowledge library on SQLite (migration 5 and the library operations
 * of db_internal.h). The rules lib_pg.c keeps in PL/pgSQL are here in C,
 * each write inside BEGIN IMMEDIATE.
 *
 * Ownership: a read reaches a row through its document's owner or its
 * collection's shared flag ("visible"); a write needs the owner (another's
 * row in a shared collection is RG_EPERM, any other RG_ENOTFOUND).
 *
 * Search: an FTS5 external-content table over chunk text, kept by
 * triggers (cascades fire them too). A search first ranks ids with bm25()
 * under the filters, then reads the few winners' rows (so the sorter never
 * carries chunk text); the snippet is cut in C (rg_db_lib_snippet).
 * Embeddings: BLOBs of little-endian f32.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/db_internal.h"
#include "db/sqlite_internal.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "embeddings are stored little-endian");

const char rg_db_sqlite_lib_migration[] =
    "CREATE TABLE lib_collections ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " shared INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " UNIQUE (owner_id, name));"
    "CREATE INDEX lib_collections_shared ON lib_collections(shared) WHERE shared = 1;"
    "CREATE TABLE lib_folders ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " collection_id INTEGER NOT NULL REFERENCES lib_collections(id) ON DELETE CASCADE,"
    " path TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " UNIQUE (owner_id, path));"
    "CREATE INDEX lib_folders_collection ON lib_folders(collection_id);"
    "CREATE TABLE lib_documents ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " collection_id INTEGER NOT NULL REFERENCES lib_collections(id) ON DELETE CASCADE,"
    " folder_id INTEGER REFERENCES lib_folders(id) ON DELETE CASCADE,"
    " source TEXT NOT NULL,"
    " format TEXT NOT NULL,"
    " title TEXT NOT NULL DEFAULT '',"
    " authors TEXT NOT NULL DEFAULT '',"
    " language TEXT NOT NULL DEFAULT '',"
    " identifier TEXT NOT NULL DEFAULT '',"
    " encoding TEXT NOT NULL DEFAULT '',"
    " tags TEXT NOT NULL DEFAULT '',"
    " content_hash TEXT NOT NULL DEFAULT '',"
    " size INTEGER NOT NULL DEFAULT 0,"
    " mtime INTEGER NOT NULL DEFAULT 0,"
    " state INTEGER NOT NULL DEFAULT 0,"
    " error TEXT NOT NULL DEFAULT '',"
    " progress REAL NOT NULL DEFAULT 0,"
    " n_chunks INTEGER NOT NULL DEFAULT 0,"
    " embed_model TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX lib_documents_path ON lib_documents(folder_id, source)"
    " WHERE folder_id IS NOT NULL;"
    "CREATE INDEX lib_documents_collection ON lib_documents(collection_id, updated_at DESC, id "
    "DESC);"
    "CREATE INDEX lib_documents_owner ON lib_documents(owner_id, updated_at DESC, id DESC);"
    "CREATE TABLE lib_chunks ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " doc_id INTEGER NOT NULL REFERENCES lib_documents(id) ON DELETE CASCADE,"
    " ordinal INTEGER NOT NULL,"
    " text TEXT NOT NULL,"
    " heading TEXT NOT NULL DEFAULT '',"
    " section TEXT NOT NULL DEFAULT '',"
    " page_from INTEGER NOT NULL DEFAULT 0,"
    " page_to INTEGER NOT NULL DEFAULT 0,"
    " part TEXT NOT NULL DEFAULT '',"
    " byte_from INTEGER NOT NULL DEFAULT 0,"
    " byte_to INTEGER NOT NULL DEFAULT 0,"
    " tokens INTEGER NOT NULL DEFAULT 0,"
    " embed_model TEXT NOT NULL DEFAULT '',"
    " embedding BLOB);"
    "CREATE INDEX lib_chunks_doc ON lib_chunks(doc_id, ordinal);"
    "CREATE INDEX lib_chunks_model ON lib_chunks(embed_model, id) WHERE embedding IS NOT NULL;"
    "CREATE VIRTUAL TABLE lib_chunks_fts USING fts5(text, content='lib_chunks',"
    " content_rowid='id', tokenize='unicode61 remove_diacritics 2');"
    "CREATE TRIGGER lib_chunks_fts_ai AFTER INSERT ON lib_chunks BEGIN"
    " INSERT INTO lib_chunks_fts(rowid, text) VALUES (new.id, new.text); END;"
    "CREATE TRIGGER lib_chunks_fts_ad AFTER DELETE ON lib_chunks BEGIN"
    " INSERT INTO lib_chunks_fts(lib_chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    " END;"
    "CREATE TRIGGER lib_chunks_fts_au AFTER UPDATE OF text ON lib_chunks BEGIN"
    " INSERT INTO lib_chunks_fts(lib_chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    " INSERT INTO lib_chunks_fts(rowid, text) VALUES (new.id, new.text); END;";

/* ---- reading rows ------------------------------------------------------------ */

#define COLL_COLS                                                                                  \
    "k.id, k.owner_id, k.name, k.description, k.shared,"                                           \
    " (SELECT count(*) FROM lib_documents n WHERE n.collection_id = k.id), k.created_at,"          \
    " k.updated_at"
#define FOLDER_COLS "f.id, f.owner_id, f.collection_id, f.path, f.created_at"
#define DOC_COLS                                                                                   \
    "d.id, d.owner_id, d.collection_id, coalesce(d.folder_id, 0), d.source, d.format, d.title,"    \
    " d.authors, d.language, d.identifier, d.encoding, d.tags, d.content_hash, d.size, d.mtime,"   \
    " d.state, d.error, d.progress, d.n_chunks, d.embed_model, d.created_at, d.updated_at"
#define DOC_NCOLS 22
#define CHUNK_COLS                                                                                 \
    "h.id, h.doc_id, h.ordinal, h.text, h.heading, h.section, h.page_from, h.page_to, h.part,"     \
    " h.byte_from, h.byte_to, h.tokens, h.embed_model, coalesce(length(h.embedding), 0) / 4"
#define CHUNK_NCOLS 14
#define HIT_COLS                                                                                   \
    "h.id, h.doc_id, d.collection_id, h.text, h.heading, h.section, h.page_from, h.page_to,"       \
    " h.part, h.byte_from, h.byte_to, h.ordinal, d.title, d.source"
/* A document the user can read: their own or in a shared collection (?U is the user). */
#define DOC_JOIN "lib_documents d JOIN lib_collections k ON k.id = d.collection_id"
/* after "lib_chunks h JOIN ": its document and collection */
#define CHUNK_JOIN                                                                                 \
    "lib_documents d ON d.id = h.doc_id JOIN lib_collections k ON k.id = d.collection_id"
#define VISIBLE(u) "(d.owner_id = " u " OR k.shared = 1)"

static int read_coll(sqlite3_stmt *st, void *item, const void *ctx, char *err)
{
    (void)ctx;
    (void)err;
    struct rg_db_collection *k = item;
    k->id = sqlite3_column_int64(st, 0);
    k->owner_id = sqlite3_column_int64(st, 1);
    rg_db_copy(k->name, sizeof k->name, rg_db_sq_text(st, 2));
    rg_db_copy(k->description, sizeof k->description, rg_db_sq_text(st, 3));
    k->shared = sqlite3_column_int(st, 4) != 0;
    k->n_documents = sqlite3_column_int64(st, 5);
    k->created_at = sqlite3_column_int64(st, 6);
    k->updated_at = sqlite3_column_int64(st, 7);
    return RG_OK;
}

static int read_folder(sqlite3_stmt *st, void *item, const void *ctx, char *err)
{
    (void)ctx;
    (void)err;
    struct rg_db_lib_folder *f = item;
    f->id = sqlite3_column_int64(st, 0);
    f->owner_id = sqlite3_column_int64(st, 1);
    f->collection_id = sqlite3_column_int64(st, 2);
    rg_db_copy(f->path, sizeof f->path, rg_db_sq_text(st, 3));
    f->created_at = sqlite3_column_int64(st, 4);
    return RG_OK;
}

static void doc_from(sqlite3_stmt *st, int o, struct rg_db_document *d)
{
    d->id = sqlite3_column_int64(st, o + 0);
    d->owner_id = sqlite3_column_int64(st, o + 1);
    d->collection_id = sqlite3_column_int64(st, o + 2);
    d->folder_id = sqlite3_column_int64(st, o + 3);
    rg_db_copy(d->source, sizeof d->source, rg_db_sq_text(st, o + 4));
    rg_db_copy(d->format, sizeof d->format, rg_db_sq_text(st, o + 5));
    rg_db_copy(d->title, sizeof d->title, rg_db_sq_text(st, o + 6));
    rg_db_copy(d->authors, sizeof d->authors, rg_db_sq_text(st, o + 7));
    rg_db_copy(d->language, sizeof d->language, rg_db_sq_text(st, o + 8));
    rg_db_copy(d->identifier, sizeof d->identifier, rg_db_sq_text(st, o + 9));
    rg_db_copy(d->encoding, sizeof d->encoding, rg_db_sq_text(st, o + 10));
    rg_db_copy(d->tags, sizeof d->tags, rg_db_sq_text(st, o + 11));
    rg_db_copy(d->content_hash, sizeof d->content_hash, rg_db_sq_text(st, o + 12));
    d->size = sqlite3_column_int64(st, o + 13);
    d->mtime = sqlite3_column_int64(st, o + 14);
    d->state = (enum rg_db_doc_state)sqlite3_column_int(st, o + 15);
    rg_db_copy(d->error, sizeof d->error, rg_db_sq_text(st, o + 16));
    d->progress = sqlite3_column_double(st, o + 17);
    d->n_chunks = sqlite3_column_int64(st, o + 18);
    rg_db_copy(d->embed_model, sizeof d->embed_model, rg_db_sq_text(st, o + 19));
    d->created_at = sqlite3_column_int64(st, o + 20);
    d->updated_at = sqlite3_column_int64(st, o + 21);
}

static int read_doc(sqlite3_stmt *st, void *item, const void *ctx, char *err)
{
    (void)ctx;
    (void)err;
    doc_from(st, 0, item);
    return RG_OK;
}

static int read_chunk(sqlite3_stmt *st, void *item, const void *ctx, char *err)
{
    (void)ctx;
    struct rg_db_chunk *h = item;
    h->id = sqlite3_column_int64(st, 0);
    h->doc_id = sqlite3_column_int64(st, 1);
    h->ordinal = sqlite3_column_int(st, 2);
    h->text = rg_strdup(rg_db_sq_text(st, 3));
    rg_db_copy(h->heading, sizeof h->heading, rg_db_sq_text(st, 4));
    rg_db_copy(h->section, sizeof h->section, rg_db_sq_text(st, 5));
    h->page_from = sqlite3_column_int(st, 6);
    h->page_to = sqlite3_column_int(st, 7);
    rg_db_copy(h->part, sizeof h->part, rg_db_sq_text(st, 8));
    h->byte_from = sqlite3_column_int64(st, 9);
    h->byte_to = sqlite3_column_int64(st, 10);
    h->tokens = sqlite3_column_int(st, 11);
    rg_db_copy(h->embed_model, sizeof h->embed_model, rg_db_sq_text(st, 12));
    h->dim = sqlite3_column_int(st, 13);
    return h->text ? RG_OK : rg_err_set(err, RG_ENOMEM, "out of memory");
}

/* ctx: the query's words (NULL: none) for the snippet. */
static int read_hit(sqlite3_stmt *st, void *item, const void *ctx, char *err)
{
    (void)err;
    struct rg_db_chunk_hit *h = item;
    h->chunk_id = sqlite3_column_int64(st, 0);
    h->doc_id = sqlite3_column_int64(st, 1);
    h->collection_id = sqlite3_column_int64(st, 2);
    rg_db_lib_snippet(rg_db_sq_text(st, 3), ctx, h->snippet, sizeof h->snippet);
    rg_db_copy(h->heading, sizeof h->heading, rg_db_sq_text(st, 4));
    rg_db_copy(h->section, sizeof h->section, rg_db_sq_text(st, 5));
    h->page_from = sqlite3_column_int(st, 6);
    h->page_to = sqlite3_column_int(st, 7);
    rg_db_copy(h->part, sizeof h->part, rg_db_sq_text(st, 8));
    h->byte_from = sqlite3_column_int64(st, 9);
    h->byte_to = sqlite3_column_int64(st, 10);
    h->ordinal = sqlite3_column_int(st, 11);
    rg_db_copy(h->title, sizeof h->title, rg_db_sq_text(st, 12));
    rg_db_copy(h->source, sizeof h->source, rg_db_sq_text(st, 13));
    return RG_OK;
}

typedef int (*read_fn)(sqlite3_stmt *st, void *item, const void *ctx, char *err);

/* The one row of st into item (RG_ENOTFOUND "no such <none>" when none);
 * finalizes st. */
static int row1(sqlite3 *c, sqlite3_stmt *st, read_fn read, void *item, const char *none, char *err)
{
    if (!st) return RG_EIO;
    int step = sqlite3_step(st), rc;
    if (step == SQLITE_ROW)
        rc = read(st, item, NULL, err);
    else
        rc = step == SQLITE_DONE ? rg_err_set(err, RG_ENOTFOUND, "no such %s", none)
                                 : rg_db_sq_fail(c, err);
    sqlite3_finalize(st);
    return rc;
}

/* Every row of st as a growing array of elem-byte items; finalizes st. */
static int rows(sqlite3 *c, sqlite3_stmt *st, read_fn read, const void *ctx, size_t elem,
                void **out, size_t *n, char *err)
{
    *out = NULL;
    *n = 0;
    if (!st) return RG_EIO;
    size_t cap = 0;
    int step, rc = RG_OK;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            void *v = rg_realloc(*out, ncap * elem);
            if (!v) {
                rc = rg_err_set(err, RG_ENOMEM, "out of memory");
                break;
            }
            *out = v;
            cap = ncap;
        }
        void *item = (char *)*out + *n * elem;
        memset(item, 0, elem);
        if ((rc = read(st, item, ctx, err))) break;
        (*n)++;
    }
    if (!rc && step != SQLITE_DONE) rc = rg_db_sq_fail(c, err);
    sqlite3_finalize(st);
    if (rc) {
        if (read == read_chunk)
            rg_db_chunk_list_free(*out, *n);
        else
            rg_free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/*
 * May user write the row that sql (selecting owner_id, shared for ?1)
 * finds? RG_OK for its owner, RG_EPERM for another's row in a shared
 * collection, RG_ENOTFOUND otherwise.
 */
static int writable(sqlite3 *c, const char *sql, int64_t id, int64_t user, const char *what,
                    char *err)
{
    sqlite3_stmt *st = rg_db_sq_prep(c, err, sql, "i", id);
    if (!st) return RG_EIO;
    int step = sqlite3_step(st), rc;
    if (step == SQLITE_ROW) {
        int64_t owner = sqlite3_column_int64(st, 0);
        bool shared = sqlite3_column_int(st, 1) != 0;
        rc = owner == user ? RG_OK
             : shared      ? rg_err_set(err, RG_EPERM, "this %s is shared with you read-only", what)
                           : rg_err_set(err, RG_ENOTFOUND, "no such %s", what);
    } else {
        rc = step == SQLITE_DONE ? rg_err_set(err, RG_ENOTFOUND, "no such %s", what)
                                 : rg_db_sq_fail(c, err);
    }
    sqlite3_finalize(st);
    return rc;
}

#define COLL_ACCESS "SELECT owner_id, shared FROM lib_collections WHERE id = ?1"
#define DOC_ACCESS "SELECT d.owner_id, k.shared FROM " DOC_JOIN " WHERE d.id = ?1"

static int is_admin(sqlite3 *c, int64_t user, char *err)
{
    int64_t v = 0;
    int rc = rg_db_sq_one_int(
        c,
        rg_db_sq_prep(c, err, "SELECT count(*) FROM users WHERE id = ?1 AND role = 'admin'", "i",
                      user),
        &v, err);
    if (rc) return rc;
    return v ? RG_OK : rg_err_set(err, RG_EPERM, "only an admin may share a collection");
}

/* ---- collections ------------------------------------------------------------- */

static int coll_read(sqlite3 *c, int64_t user, int64_t id, struct rg_db_collection *out, char *err)
{
    return row1(c,
                rg_db_sq_prep(c, err,
                              "SELECT " COLL_COLS " FROM lib_collections k WHERE k.id = ?1 AND"
                              " (k.owner_id = ?2 OR k.shared = 1)",
                              "ii", id, user),
                read_coll, out, "collection", err);
}

int rg_db_sqlite_lib_coll_create(void *conn, const struct rg_db_collection_new *n,
                                 struct rg_db_collection *out, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    if (n->shared) rc = is_admin(c, n->owner_id, err);
    int64_t id = 0;
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "INSERT INTO lib_collections (owner_id, name, description,"
                                        " shared, created_at, updated_at) VALUES (?1, ?2, ?3, ?4,"
                                        " ?5, ?5)",
                                        "issbi", n->owner_id, n->name, n->description,
                                        (int)n->shared, n->now),
                          NULL, err);
    if (rc == RG_EEXISTS) rg_err_set(err, RG_EEXISTS, "a collection of that name exists");
    if (!rc) id = sqlite3_last_insert_rowid(c);
    rc = rg_db_sq_finish(c, rc, false, err);
    return rc ? rc : coll_read(c, n->owner_id, id, out, err);
}

int rg_db_sqlite_lib_coll_get(void *conn, int64_t user, int64_t id, struct rg_db_collection *out,
                              char *err)
{
    return coll_read(conn, user, id, out, err);
}

int rg_db_sqlite_lib_coll_list(void *conn, int64_t user, struct rg_db_collection **out, size_t *n,
                               char *err)
{
    sqlite3 *c = conn;
    return rows(c,
                rg_db_sq_prep(c, err,
                              "SELECT " COLL_COLS " FROM lib_collections k WHERE k.owner_id = ?1"
                              " OR k.shared = 1 ORDER BY k.name, k.id",
                              "i", user),
                read_coll, NULL, sizeof **out, (void **)out, n, err);
}

int rg_db_sqlite_lib_coll_update(void *conn, int64_t user, int64_t id,
                                 const struct rg_db_collection_change *ch,
                                 struct rg_db_collection *out, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = writable(c, COLL_ACCESS, id, user, "collection", err);
    if (!rc && ch->shared == 1) rc = is_admin(c, user, err);
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "UPDATE lib_collections SET name = coalesce(?2, name),"
                                        " description = coalesce(?3, description), shared ="
                                        " CASE WHEN ?4 < 0 THEN shared ELSE ?4 END, updated_at ="
                                        " ?5 WHERE id = ?1",
                                        "issii", id, ch->name, ch->description, (int64_t)ch->shared,
                                        ch->now),
                          NULL, err);
    if (rc == RG_EEXISTS) rg_err_set(err, RG_EEXISTS, "a collection of that name exists");
    rc = rg_db_sq_finish(c, rc, false, err);
    return rc ? rc : coll_read(c, user, id, out, err);
}

int rg_db_sqlite_lib_coll_delete(void *conn, int64_t user, int64_t id, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = writable(c, COLL_ACCESS, id, user, "collection", err);
    if (!rc)
        rc = rg_db_sq_run(
            c, rg_db_sq_prep(c, err, "DELETE FROM lib_collections WHERE id = ?1", "i", id), NULL,
            err);
    return rg_db_sq_finish(c, rc, false, err);
}

/* ---- folders ----------------------------------------------------------------- */

int rg_db_sqlite_lib_folder_add(void *conn, int64_t user, int64_t coll, const char *path,
                                int64_t now, struct rg_db_lib_folder *out, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = writable(c, COLL_ACCESS, coll, user, "collection", err);
    int64_t id = 0;
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "INSERT INTO lib_folders (owner_id, collection_id, path,"
                                        " created_at) VALUES (?1, ?2, ?3, ?4)",
                                        "iisi", user, coll, path, now),
                          NULL, err);
    if (rc == RG_EEXISTS) rg_err_set(err, RG_EEXISTS, "this folder is watched already");
    if (!rc) id = sqlite3_last_insert_rowid(c);
    rc = rg_db_sq_finish(c, rc, false, err);
    if (rc) return rc;
    return row1(
        c,
        rg_db_sq_prep(c, err, "SELECT " FOLDER_COLS " FROM lib_folders f WHERE f.id = ?1", "i", id),
        read_folder, out, "folder", err);
}

int rg_db_sqlite_lib_folder_list(void *conn, int64_t user, struct rg_db_lib_folder **out, size_t *n,
                                 char *err)
{
    sqlite3 *c = conn;
    return rows(c,
                rg_db_sq_prep(c, err,
                              "SELECT " FOLDER_COLS " FROM lib_folders f WHERE ?1 = 0 OR"
                              " f.owner_id = ?1 ORDER BY f.id",
                              "i", user),
                read_folder, NULL, sizeof **out, (void **)out, n, err);
}

int rg_db_sqlite_lib_folder_remove(void *conn, int64_t user, int64_t id, char *err)
{
    sqlite3 *c = conn;
    int64_t ch = 0;
    int rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "DELETE FROM lib_folders WHERE id = ?1 AND owner_id = ?2",
                                        "ii", id, user),
                          &ch, err);
    if (!rc && ch == 0) rc = rg_err_set(err, RG_ENOTFOUND, "no such folder");
    return rc;
}

/* ---- documents --------------------------------------------------------------- */

static int doc_read(sqlite3 *c, int64_t user, int64_t id, struct rg_db_document *out, char *err)
{
    return row1(c,
                rg_db_sq_prep(c, err,
                              "SELECT " DOC_COLS " FROM " DOC_JOIN
                              " WHERE d.id = ?1 AND " VISIBLE("?2"),
                              "ii", id, user),
                read_doc, out, "document", err);
}

int rg_db_sqlite_lib_doc_create(void *conn, const struct rg_db_doc_new *n,
                                struct rg_db_document *out, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = writable(c, COLL_ACCESS, n->collection_id, n->owner_id, "collection", err);
    if (!rc && n->folder_id > 0) {
        int64_t ok = 0;
        rc = rg_db_sq_one_int(c,
                              rg_db_sq_prep(c, err,
                                            "SELECT count(*) FROM lib_folders WHERE id = ?1 AND"
                                            " owner_id = ?2 AND collection_id = ?3",
                                            "iii", n->folder_id, n->owner_id, n->collection_id),
                              &ok, err);
        if (!rc && !ok) rc = rg_err_set(err, RG_ENOTFOUND, "no such folder");
    }
    int64_t id = 0;
    if (!rc)
        rc = rg_db_sq_run(
            c,
            rg_db_sq_prep(c, err,
                          "INSERT INTO lib_documents (owner_id, collection_id, folder_id, source,"
                          " format, title, authors, language, identifier, encoding, tags,"
                          " content_hash, size, mtime, created_at, updated_at) VALUES (?1, ?2, ?3,"
                          " ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)",
                          "iiosssssssssiii", n->owner_id, n->collection_id, n->folder_id, n->source,
                          n->format, n->title, n->authors, n->language, n->identifier, n->encoding,
                          n->tags, n->content_hash, n->size, n->mtime, n->now),
            NULL, err);
    if (rc == RG_EEXISTS) rg_err_set(err, RG_EEXISTS, "the folder has this document already");
    if (!rc) id = sqlite3_last_insert_rowid(c);
    rc = rg_db_sq_finish(c, rc, false, err);
    return rc ? rc : doc_read(c, n->owner_id, id, out, err);
}

int rg_db_sqlite_lib_doc_get(void *conn, int64_t user, int64_t id, struct rg_db_document *out,
                             char *err)
{
    return doc_read(conn, user, id, out, err);
}

int rg_db_sqlite_lib_doc_by_path(void *conn, int64_t user, int64_t folder, const char *source,
                                 struct rg_db_document *out, char *err)
{
    sqlite3 *c = conn;
    return row1(c,
                rg_db_sq_prep(c, err,
                              "SELECT " DOC_COLS " FROM " DOC_JOIN " WHERE d.folder_id = ?1 AND"
                              " d.source = ?2 AND d.owner_id = ?3",
                              "isi", folder, source, user),
                read_doc, out, "document", err);
}

int rg_db_sqlite_lib_doc_list(void *conn, int64_t user, const struct rg_db_doc_filter *f,
                              struct rg_db_document **out, size_t *n, bool *more, char *err)
{
    sqlite3 *c = conn;
    int rc =
        rows(c,
             rg_db_sq_prep(c, err,
                           "SELECT " DOC_COLS " FROM " DOC_JOIN " WHERE " VISIBLE(
                               "?1") " AND (?2 = 0 OR d.collection_id = ?2) AND (?3 = 0 OR (?3 = -1"
                                     " AND d.folder_id IS NULL) OR d.folder_id = ?3) AND (?4 < 0 OR"
                                     " d.state = ?4) AND (?5 IS NULL OR instr(',' || d.tags || ',',"
                                     " ',' || ?5 || ',') > 0) ORDER BY d.updated_at DESC, d.id DESC"
                                     " LIMIT ?6 OFFSET ?7",
                           "iiiisii", user, f->collection_id, f->folder_id, (int64_t)f->state,
                           f->tag, (int64_t)f->limit + 1, (int64_t)f->offset),
             read_doc, NULL, sizeof **out, (void **)out, n, err);
    if (!rc && *n > (size_t)f->limit) {
        *n = (size_t)f->limit;
        *more = true;
    }
    return rc;
}

int rg_db_sqlite_lib_doc_set_state(void *conn, int64_t user, int64_t id, int state, double progress,
                                   const char *error, int64_t now, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = writable(c, DOC_ACCESS, id, user, "document", err);
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "UPDATE lib_documents SET state = ?2, progress = ?3,"
                                        " error = ?4, updated_at = ?5 WHERE id = ?1",
                                        "iidsi", id, (int64_t)state, progress, error, now),
                          NULL, err);
    return rg_db_sq_finish(c, rc, false, err);
}

int rg_db_sqlite_lib_doc_update(void *conn, int64_t user, int64_t id,
                                const struct rg_db_doc_change *ch, struct rg_db_document *out,
                                char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = writable(c, DOC_ACCESS, id, user, "document", err);
    if (!rc)
        rc = rg_db_sq_run(
            c,
            rg_db_sq_prep(c, err,
                          "UPDATE lib_documents SET title = coalesce(?2, title), authors ="
                          " coalesce(?3, authors), language = coalesce(?4, language), identifier ="
                          " coalesce(?5, identifier), encoding = coalesce(?6, encoding), format ="
                          " coalesce(?7, format), tags = coalesce(?8, tags), content_hash ="
                          " coalesce(?9, content_hash), embed_model = coalesce(?10, embed_model),"
                          " size = CASE WHEN ?11 < 0 THEN size ELSE ?11 END, mtime = CASE WHEN"
                          " ?12 < 0 THEN mtime ELSE ?12 END, updated_at = ?13 WHERE id = ?1",
                          "isssssssssiii", id, ch->title, ch->authors, ch->language, ch->identifier,
                          ch->encoding, ch->format, ch->tags, ch->content_hash, ch->embed_model,
                          ch->size, ch->mtime, ch->now),
            NULL, err);
    rc = rg_db_sq_finish(c, rc, false, err);
    return rc ? rc : doc_read(c, user, id, out, err);
}

int rg_db_sqlite_lib_doc_delete(void *conn, int64_t user, int64_t id, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = writable(c, DOC_ACCESS, id, user, "document", err);
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err, "DELETE FROM lib_documents WHERE id = ?1", "i", id),
                          NULL, err);
    return rg_db_sq_finish(c, rc, false, err);
}

/* ---- chunks ------------------------------------------------------------------ */

int rg_db_sqlite_lib_chunks_replace(void *conn, int64_t user, int64_t doc,
                                    const struct rg_db_chunk *ch, size_t n, int64_t *ids,
                                    int64_t now, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = writable(c, DOC_ACCESS, doc, user, "document", err);
    if (!rc)
        rc = rg_db_sq_run(
            c, rg_db_sq_prep(c, err, "DELETE FROM lib_chunks WHERE doc_id = ?1", "i", doc), NULL,
            err);
    sqlite3_stmt *st = NULL;
    if (!rc) {
        st = rg_db_sq_prep(c, err,
                           "INSERT INTO lib_chunks (doc_id, ordinal, text, heading, section,"
                           " page_from, page_to, part, byte_from, byte_to, tokens) VALUES (?1, ?2,"
                           " ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                           NULL);
        if (!st) rc = RG_EIO;
    }
    for (size_t i = 0; !rc && i < n; i++) {
        const struct rg_db_chunk *k = &ch[i];
        sqlite3_bind_int64(st, 1, doc);
        sqlite3_bind_int64(st, 2, (int64_t)i);
        sqlite3_bind_text(st, 3, k->text, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, k->heading, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, k->section, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 6, k->page_from);
        sqlite3_bind_int(st, 7, k->page_to);
        sqlite3_bind_text(st, 8, k->part, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 9, k->byte_from);
        sqlite3_bind_int64(st, 10, k->byte_to);
        sqlite3_bind_int(st, 11, k->tokens);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = rg_db_sq_fail(c, err);
        else if (ids)
            ids[i] = sqlite3_last_insert_rowid(c);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (!rc)
        rc = rg_db_sq_run(c,
                          rg_db_sq_prep(c, err,
                                        "UPDATE lib_documents SET n_chunks = ?2, embed_model = '',"
                                        " updated_at = ?3 WHERE id = ?1",
                                        "iii", doc, (int64_t)n, now),
                          NULL, err);
    return rg_db_sq_finish(c, rc, false, err);
}

int rg_db_sqlite_lib_chunks_embed(void *conn, int64_t user, const int64_t *ids, size_t n,
                                  const float *vecs, int dim, const char *model, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    sqlite3_stmt *st = rg_db_sq_prep(c, err,
                                     "UPDATE lib_chunks SET embedding = ?1, embed_model = ?2"
                                     " WHERE id = ?3 AND doc_id IN (SELECT id FROM lib_documents"
                                     " WHERE owner_id = ?4)",
                                     NULL);
    if (!st) rc = RG_EIO;
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_blob(st, 1, vecs + i * (size_t)dim, dim * (int)sizeof(float), SQLITE_STATIC);
        sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, ids[i]);
        sqlite3_bind_int64(st, 4, user);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = rg_db_sq_fail(c, err);
        else if (sqlite3_changes(c) == 0)
            rc = rg_err_set(err, RG_ENOTFOUND, "no such chunk");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rg_db_sq_finish(c, rc, false, err);
}

int rg_db_sqlite_lib_chunk_get(void *conn, int64_t user, int64_t id, struct rg_db_chunk *out,
                               struct rg_db_document *doc, char *err)
{
    sqlite3 *c = conn;
    sqlite3_stmt *st =
        rg_db_sq_prep(c, err,
                      "SELECT " CHUNK_COLS ", " DOC_COLS " FROM lib_chunks h JOIN " CHUNK_JOIN
                      " WHERE h.id = ?1 AND " VISIBLE("?2"),
                      "ii", id, user);
    if (!st) return RG_EIO;
    int step = sqlite3_step(st), rc;
    if (step == SQLITE_ROW) {
        rc = read_chunk(st, out, NULL, err);
        if (!rc && doc) doc_from(st, CHUNK_NCOLS, doc);
    } else {
        rc = step == SQLITE_DONE ? rg_err_set(err, RG_ENOTFOUND, "no such chunk")
                                 : rg_db_sq_fail(c, err);
    }
    sqlite3_finalize(st);
    return rc;
}

int rg_db_sqlite_lib_chunk_list(void *conn, int64_t user, int64_t doc, int from, int limit,
                                struct rg_db_chunk **out, size_t *n, char *err)
{
    sqlite3 *c = conn;
    struct rg_db_document d;
    int rc = doc_read(c, user, doc, &d, err);
    if (rc) return rc;
    return rows(c,
                rg_db_sq_prep(c, err,
                              "SELECT " CHUNK_COLS " FROM lib_chunks h WHERE h.doc_id = ?1 AND"
                              " h.ordinal >= ?2 ORDER BY h.ordinal LIMIT ?3",
                              "iii", doc, (int64_t)from, (int64_t)limit),
                read_chunk, NULL, sizeof **out, (void **)out, n, err);
}

/* ---- vectors ----------------------------------------------------------------- */

int rg_db_sqlite_lib_vec_page(void *conn, const char *model, int64_t after, int limit,
                              struct rg_db_vec_page *out, char *err)
{
    sqlite3 *c = conn;
    sqlite3_stmt *st = rg_db_sq_prep(
        c, err,
        "SELECT h.id, h.doc_id, d.collection_id, d.owner_id, k.shared,"
        " h.embedding FROM lib_chunks h JOIN " CHUNK_JOIN " WHERE h.embed_model = ?1 AND"
        " h.embedding IS NOT NULL AND h.id > ?2 ORDER BY h.id LIMIT ?3",
        "sii", model, after, (int64_t)limit);
    if (!st) return RG_EIO;
    int step, rc = RG_OK;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int bytes = sqlite3_column_bytes(st, 5);
        const void *blob = sqlite3_column_blob(st, 5);
        if (out->dim == 0) {
            out->dim = bytes / (int)sizeof(float);
            if (out->dim < 1) continue;
            out->rows = rg_calloc((size_t)limit, sizeof *out->rows);
            out->buf = rg_malloc_array((size_t)limit * (size_t)out->dim, sizeof(float));
            if (!out->rows || !out->buf) {
                rc = rg_err_set(err, RG_ENOMEM, "out of memory");
                break;
            }
        }
        if (bytes != out->dim * (int)sizeof(float) || !blob) continue; /* another dimension */
        struct rg_db_vec_row *r = &out->rows[out->n];
        r->chunk_id = sqlite3_column_int64(st, 0);
        r->doc_id = sqlite3_column_int64(st, 1);
        r->collection_id = sqlite3_column_int64(st, 2);
        r->owner_id = sqlite3_column_int64(st, 3);
        r->shared = sqlite3_column_int(st, 4) != 0;
        r->vec = out->buf + out->n * (size_t)out->dim;
        memcpy(r->vec, blob, (size_t)bytes);
        out->n++;
    }
    if (!rc && step != SQLITE_DONE) rc = rg_db_sq_fail(c, err);
    sqlite3_finalize(st);
    if (rc) rg_db_vec_page_free(out);
    return rc;
}

int rg_db_sqlite_lib_vec_stats(void *conn, const char *model, int64_t *count, int64_t *max_id,
                               char *err)
{
    sqlite3 *c = conn;
    sqlite3_stmt *st = rg_db_sq_prep(c, err,
                                     "SELECT count(*), coalesce(max(id), 0) FROM lib_chunks WHERE"
                                     " embed_model = ?1 AND embedding IS NOT NULL",
                                     "s", model);
    if (!st) return RG_EIO;
    int rc = RG_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *count = sqlite3_column_int64(st, 0);
        *max_id = sqlite3_column_int64(st, 1);
    } else {
        rc = rg_db_sq_fail(c, err);
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- search ------------------------------------------------------------------ */

/* The filters of a chunk query: ?2 user, ?3 colls, ?4 doc, ?5 tag, ?6 language. */
#define CHUNK_FILTER                                                                               \
    VISIBLE("?2")                                                                                  \
    " AND (?3 IS NULL OR instr(',' || ?3 || ',', ',' || d.collection_id || ',') > 0)"              \
    " AND (?4 = 0 OR d.id = ?4) AND (?5 IS NULL OR instr(',' || d.tags || ',', ',' || ?5 ||"       \
    " ',') > 0) AND (?6 IS NULL OR d.language = ?6 OR substr(d.language, 1, length(?6) + 1) ="     \
    " ?6 || '-')"

/* The FTS5 query of words: each quoted (they hold no quote), the last a
 * prefix; all required, or with any any one of them. */
static int fts_query(const struct rg_db_words *w, bool any, char *out, size_t size, char *err)
{
    size_t o = 0;
    for (int i = 0; i < w->n; i++) {
        int k = snprintf(out + o, size - o, "%s\"%s\"%s", i ? (any ? " OR " : " ") : "", w->w[i],
                         i == w->n - 1 ? "*" : "");
        if (k < 0 || (size_t)k >= size - o)
            return rg_err_set(err, RG_EINVAL, "the search is too long");
        o += (size_t)k;
    }
    return RG_OK;
}

int rg_db_sqlite_lib_chunk_locate(void *conn, int64_t user, const int64_t *ids, size_t n,
                                  const struct rg_db_chunk_query *q, const char *colls,
                                  const struct rg_db_words *words, struct rg_db_chunk_hit **out,
                                  size_t *n_out, char *err)
{
    sqlite3 *c = conn;
    *out = rg_calloc(n ? n : 1, sizeof **out);
    if (!*out) return rg_err_set(err, RG_ENOMEM, "out of memory");
    sqlite3_stmt *st = rg_db_sq_prep(c, err,
                                     "SELECT " HIT_COLS " FROM lib_chunks h JOIN " CHUNK_JOIN
                                     " WHERE h.id = ?1 AND " CHUNK_FILTER,
                                     NULL);
    int rc = st ? RG_OK : RG_EIO;
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_int64(st, 1, ids[i]);
        sqlite3_bind_int64(st, 2, user);
        if (colls)
            sqlite3_bind_text(st, 3, colls, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 3);
        sqlite3_bind_int64(st, 4, q->doc_id);
        if (q->tag)
            sqlite3_bind_text(st, 5, q->tag, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 5);
        if (q->language)
            sqlite3_bind_text(st, 6, q->language, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 6);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW)
            read_hit(st, &(*out)[(*n_out)++], words, err);
        else if (step != SQLITE_DONE)
            rc = rg_db_sq_fail(c, err);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc) {
        rg_free(*out);
        *out = NULL;
        *n_out = 0;
    }
    return rc;
}

int rg_db_sqlite_lib_chunk_search(void *conn, int64_t user, const struct rg_db_chunk_query *q,
                                  const char *colls, const struct rg_db_words *words,
                                  struct rg_db_chunk_hit **out, size_t *n, char *err)
{
    sqlite3 *c = conn;
    char fq[RG_DB_SEARCH_Q_MAX * 2 + 8 * RG_DB_SEARCH_WORDS_MAX + 8];
    int rc = fts_query(words, q->any_word, fq, sizeof fq, err);
    if (rc) return rc;
    sqlite3_stmt *st = rg_db_sq_prep(
        c, err,
        "SELECT h.id, -bm25(lib_chunks_fts) AS r FROM lib_chunks_fts"
        " JOIN lib_chunks h ON h.id = lib_chunks_fts.rowid JOIN " CHUNK_JOIN
        " WHERE lib_chunks_fts MATCH ?1"
        " AND " CHUNK_FILTER " ORDER BY r DESC, h.id LIMIT ?7",
        "sisissi", fq, user, colls, q->doc_id, q->tag, q->language, (int64_t)q->limit);
    if (!st) return RG_EIO;
    int64_t *ids = rg_malloc_array((size_t)q->limit, sizeof *ids);
    double *ranks = rg_malloc_array((size_t)q->limit, sizeof *ranks);
    size_t m = 0;
    int step = SQLITE_DONE;
    if (!ids || !ranks) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    while (!rc && m < (size_t)q->limit && (step = sqlite3_step(st)) == SQLITE_ROW) {
        ids[m] = sqlite3_column_int64(st, 0);
        ranks[m++] = sqlite3_column_double(st, 1);
    }
    if (!rc && step != SQLITE_DONE && step != SQLITE_ROW) rc = rg_db_sq_fail(c, err);
    sqlite3_finalize(st);
    if (!rc) rc = rg_db_sqlite_lib_chunk_locate(c, user, ids, m, q, colls, words, out, n, err);
    /* locate keeps the order and (in one connection, no write between) every row */
    for (size_t i = 0, j = 0; !rc && i < *n; i++) {
        while (j < m && ids[j] != (*out)[i].chunk_id)
            j++;
        if (j < m) (*out)[i].rank = ranks[j];
    }
    rg_free(ids);
    rg_free(ranks);
    return rc;
}
