/*
 * The library's storage (migration 5, "library" in db.h) on both backends:
 * collections (shared ones read-only for others), watched folders,
 * documents, chunks (replaced all at once), embeddings, full-text search;
 * owner isolation on every call; cascades.
 */
#include "test.h"

#include <string.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/db.h"
#include "storage_fixture.h"

static int64_t mkcoll(struct rg_db *db, int64_t owner, const char *name, bool shared)
{
    char err[RG_ERR_SIZE];
    struct rg_db_collection k;
    struct rg_db_collection_new n = {.owner_id = owner, .name = name, .shared = shared, .now = 10};
    int rc = rg_db_collection_create(db, &n, &k, err);
    if (rc) fail_msg("collection %s: %s", name, err);
    return k.id;
}

static int64_t mkdoc(struct rg_db *db, int64_t owner, int64_t coll, int64_t folder,
                     const char *source, const char *tags, const char *lang)
{
    char err[RG_ERR_SIZE];
    struct rg_db_document d;
    struct rg_db_doc_new n = {.owner_id = owner,
                              .collection_id = coll,
                              .folder_id = folder,
                              .source = source,
                              .format = "txt",
                              .title = source,
                              .tags = tags,
                              .language = lang,
                              .size = 10,
                              .now = 20};
    int rc = rg_db_doc_create(db, &n, &d, err);
    if (rc) fail_msg("document %s: %s", source, err);
    assert_int_equal(d.state, RG_DB_DOC_QUEUED);
    return d.id;
}

/* Replaces doc's chunks with texts[0..n); ids (may be NULL) gets theirs. */
static int put_chunks(struct rg_db *db, int64_t user, int64_t doc, const char *const *texts,
                      size_t n, int64_t *ids)
{
    char err[RG_ERR_SIZE];
    struct rg_db_chunk *c = calloc(n ? n : 1, sizeof *c);
    for (size_t i = 0; i < n; i++) {
        c[i].text = (char *)texts[i];
        snprintf(c[i].heading, sizeof c[i].heading, "Chapter %zu > Part", i + 1);
        c[i].page_from = (int)i + 1;
        c[i].page_to = (int)i + 2;
        c[i].byte_from = (int64_t)i * 100;
        c[i].byte_to = (int64_t)i * 100 + 99;
        snprintf(c[i].part, sizeof c[i].part, "ch%zu.xhtml", i);
    }
    int rc = rg_db_chunks_replace(db, user, doc, c, n, ids, err);
    free(c);
    return rc;
}

static size_t search_ids(struct rg_db *db, int64_t user, const char *q, int64_t *ids, size_t max)
{
    char err[RG_ERR_SIZE];
    struct rg_db_chunk_query cq = {.q = q, .limit = (int)max};
    struct rg_db_chunk_hit *h;
    size_t n;
    int rc = rg_db_chunk_search(db, user, &cq, &h, &n, err);
    if (rc) fail_msg("search '%s': %s", q, err);
    for (size_t i = 0; i < n; i++)
        ids[i] = h[i].chunk_id;
    rg_free(h);
    return n;
}

static void test_collections(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t admin = mkuser(f->db, "admin@x", NULL, NULL); /* the first account: admin */
    int64_t bob = mkuser(f->db, "bob@x", "user", NULL);
    int64_t mine = mkcoll(f->db, admin, "Books", false);
    int64_t pub = mkcoll(f->db, admin, "Public", true);
    int64_t bobs = mkcoll(f->db, bob, "Notes", false);

    struct rg_db_collection k;
    struct rg_db_collection_new dup = {.owner_id = admin, .name = "Books", .now = 11};
    assert_int_equal(rg_db_collection_create(f->db, &dup, &k, err), RG_EEXISTS);
    /* sharing needs an admin */
    struct rg_db_collection_new sh = {.owner_id = bob, .name = "Mine", .shared = true, .now = 11};
    assert_int_equal(rg_db_collection_create(f->db, &sh, &k, err), RG_EPERM);
    struct rg_db_collection_change mk = {.shared = 1, .now = 12};
    assert_int_equal(rg_db_collection_update(f->db, bob, bobs, &mk, &k, err), RG_EPERM);
    struct rg_db_collection_new bad = {.owner_id = admin, .name = "", .now = 11};
    assert_int_equal(rg_db_collection_create(f->db, &bad, &k, err), RG_EINVAL);

    /* bob sees his own and the shared one, never admin's private one */
    struct rg_db_collection *v;
    size_t n;
    assert_int_equal(rg_db_collection_list(f->db, bob, &v, &n, err), RG_OK);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].id, bobs); /* by name: Notes, Public */
    assert_int_equal(v[1].id, pub);
    assert_true(v[1].shared);
    rg_free(v);
    assert_int_equal(rg_db_collection_get(f->db, bob, mine, &k, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_collection_get(f->db, bob, pub, &k, err), RG_OK);
    assert_string_equal(k.name, "Public");
    /* read-only for him */
    struct rg_db_collection_change ren = {.name = "Mine now", .shared = -1, .now = 13};
    assert_int_equal(rg_db_collection_update(f->db, bob, pub, &ren, &k, err), RG_EPERM);
    assert_int_equal(rg_db_collection_update(f->db, bob, mine, &ren, &k, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_collection_delete(f->db, bob, pub, err), RG_EPERM);
    assert_int_equal(rg_db_collection_delete(f->db, bob, mine, err), RG_ENOTFOUND);
    struct rg_db_lib_folder fo;
    assert_int_equal(rg_db_lib_folder_add(f->db, bob, pub, "/books", 14, &fo, err), RG_EPERM);
    struct rg_db_doc_new dn = {
        .owner_id = bob, .collection_id = pub, .source = "x.txt", .format = "txt", .now = 14};
    struct rg_db_document d;
    assert_int_equal(rg_db_doc_create(f->db, &dn, &d, err), RG_EPERM);
    dn.collection_id = mine;
    assert_int_equal(rg_db_doc_create(f->db, &dn, &d, err), RG_ENOTFOUND);

    /* the owner changes and unshares */
    struct rg_db_collection_change ch = {
        .name = "Public library", .description = "for all", .shared = 0, .now = 15};
    assert_int_equal(rg_db_collection_update(f->db, admin, pub, &ch, &k, err), RG_OK);
    assert_string_equal(k.name, "Public library");
    assert_string_equal(k.description, "for all");
    assert_false(k.shared);
    assert_int_equal(k.updated_at, 15);
    assert_int_equal(rg_db_collection_get(f->db, bob, pub, &k, err), RG_ENOTFOUND);
}

static void test_documents_chunks(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x", NULL, NULL);
    int64_t coll = mkcoll(f->db, a, "Books", false);
    struct rg_db_lib_folder fo;
    assert_int_equal(rg_db_lib_folder_add(f->db, a, coll, "/data/books/", 5, &fo, err), RG_OK);
    assert_string_equal(fo.path, "/data/books");
    struct rg_db_lib_folder fx2;
    assert_int_equal(rg_db_lib_folder_add(f->db, a, coll, "/data/books", 5, &fx2, err), RG_EEXISTS);
    assert_int_equal(rg_db_lib_folder_add(f->db, a, coll, "relative", 5, &fx2, err), RG_EINVAL);

    int64_t d1 = mkdoc(f->db, a, coll, fo.id, "/data/books/one.epub", "Novel, SF", "en-GB");
    int64_t d2 = mkdoc(f->db, a, coll, 0, "upload.md", NULL, NULL);
    struct rg_db_doc_new again = {.owner_id = a,
                                  .collection_id = coll,
                                  .folder_id = fo.id,
                                  .source = "/data/books/one.epub",
                                  .format = "epub",
                                  .now = 21};
    struct rg_db_document d;
    assert_int_equal(rg_db_doc_create(f->db, &again, &d, err), RG_EEXISTS);
    again.folder_id = 0; /* uploads may repeat names */
    again.source = "upload.md";
    assert_int_equal(rg_db_doc_create(f->db, &again, &d, err), RG_OK);
    assert_int_equal(rg_db_doc_delete(f->db, a, d.id, err), RG_OK);

    assert_int_equal(rg_db_doc_by_path(f->db, a, fo.id, "/data/books/one.epub", &d, err), RG_OK);
    assert_int_equal(d.id, d1);
    assert_string_equal(d.tags, "novel,sf"); /* normalised as conversation tags */
    assert_string_equal(d.language, "en-GB");
    assert_int_equal(d.folder_id, fo.id);

    assert_int_equal(rg_db_doc_set_state(f->db, a, d1, RG_DB_DOC_INDEXING, 1.5, "ignored", 30, err),
                     RG_OK);
    assert_int_equal(rg_db_doc_get(f->db, a, d1, &d, err), RG_OK);
    assert_int_equal(d.state, RG_DB_DOC_INDEXING);
    assert_true(d.progress == 1.0);
    assert_string_equal(d.error, "");
    assert_int_equal(rg_db_doc_set_state(f->db, a, d2, RG_DB_DOC_ERROR, 0, "bad\nzip", 31, err),
                     RG_OK);
    assert_int_equal(rg_db_doc_get(f->db, a, d2, &d, err), RG_OK);
    assert_string_equal(d.error, "bad zip");
    assert_string_equal(rg_db_doc_state_name(d.state), "error");

    struct rg_db_doc_change ch = {
        .title = "One",
        .authors = "Ann; Bob",
        .tags = "keep",
        .content_hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        .size = 42,
        .mtime = -1,
        .now = 40};
    assert_int_equal(rg_db_doc_update(f->db, a, d1, &ch, &d, err), RG_OK);
    assert_string_equal(d.title, "One");
    assert_string_equal(d.authors, "Ann; Bob");
    assert_string_equal(d.tags, "keep");
    assert_int_equal(d.size, 42);
    ch.content_hash = "XYZ";
    assert_int_equal(rg_db_doc_update(f->db, a, d1, &ch, &d, err), RG_EINVAL);

    /* list filters: collection, folder, uploads, state, tag, paging */
    struct rg_db_document *v;
    size_t n;
    bool more;
    struct rg_db_doc_filter fl = {.state = -1, .limit = 1};
    assert_int_equal(rg_db_doc_list(f->db, a, &fl, &v, &n, &more, err), RG_OK);
    assert_int_equal(n, 1);
    assert_true(more);
    assert_int_equal(v[0].id, d1); /* updated last */
    rg_free(v);
    fl.limit = 10;
    fl.folder_id = -1;
    assert_int_equal(rg_db_doc_list(f->db, a, &fl, &v, &n, &more, err), RG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, d2);
    rg_free(v);
    fl.folder_id = 0;
    fl.state = RG_DB_DOC_ERROR;
    assert_int_equal(rg_db_doc_list(f->db, a, &fl, &v, &n, &more, err), RG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, d2);
    rg_free(v);
    fl.state = -1;
    fl.tag = "KEEP";
    assert_int_equal(rg_db_doc_list(f->db, a, &fl, &v, &n, &more, err), RG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, d1);
    rg_free(v);

    /* chunks: replaced all at once, in order, with their locations */
    const char *t1[] = {"The first passage about whales.", "A second one, about ships.",
                        "Third: the sea."};
    int64_t ids[3];
    assert_int_equal(put_chunks(f->db, a, d1, t1, 3, ids), RG_OK);
    assert_int_equal(rg_db_doc_get(f->db, a, d1, &d, err), RG_OK);
    assert_int_equal(d.n_chunks, 3);
    struct rg_db_chunk c;
    assert_int_equal(rg_db_chunk_get(f->db, a, ids[1], &c, &d, err), RG_OK);
    assert_string_equal(c.text, t1[1]);
    assert_int_equal(c.ordinal, 1);
    assert_string_equal(c.heading, "Chapter 2 > Part");
    assert_int_equal(c.page_from, 2);
    assert_int_equal(c.byte_to, 199);
    assert_string_equal(c.part, "ch1.xhtml");
    assert_int_equal(d.id, d1);
    rg_db_chunk_clear(&c);
    struct rg_db_chunk *cl;
    assert_int_equal(rg_db_chunk_list(f->db, a, d1, 1, 10, &cl, &n, err), RG_OK);
    assert_int_equal(n, 2);
    assert_string_equal(cl[0].text, t1[1]);
    assert_string_equal(cl[1].text, t1[2]);
    rg_db_chunk_list_free(cl, n);

    /* a refused replacement leaves the old chunks: all or nothing */
    const char *bad[] = {"fine", "also fine", "not \x01 fine"};
    assert_int_equal(put_chunks(f->db, a, d1, bad, 3, NULL), RG_EINVAL);
    const char *bad8[] = {"fine", "\xff\xfe"};
    assert_int_equal(put_chunks(f->db, a, d1, bad8, 2, NULL), RG_EINVAL);
    assert_int_equal(rg_db_chunk_get(f->db, a, ids[2], &c, NULL, err), RG_OK);
    assert_string_equal(c.text, t1[2]);
    rg_db_chunk_clear(&c);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM lib_chunks"), 3);

    /* a new version replaces them: old ids gone, full text follows */
    const char *t2[] = {"Only one passage now, about albatrosses."};
    int64_t nid;
    assert_int_equal(put_chunks(f->db, a, d1, t2, 1, &nid), RG_OK);
    assert_int_equal(rg_db_chunk_get(f->db, a, ids[0], &c, NULL, err), RG_ENOTFOUND);
    int64_t hits[8];
    assert_int_equal(search_ids(f->db, a, "whales", hits, 8), 0);
    assert_int_equal(search_ids(f->db, a, "albatross", hits, 8), 1);
    assert_int_equal(hits[0], nid);
}

static void test_owner_isolation(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x", NULL, NULL);
    int64_t b = mkuser(f->db, "b@x", "user", NULL);
    int64_t ca = mkcoll(f->db, a, "A", false);
    int64_t cb = mkcoll(f->db, b, "B", false);
    struct rg_db_lib_folder fa;
    assert_int_equal(rg_db_lib_folder_add(f->db, a, ca, "/a", 1, &fa, err), RG_OK);
    int64_t da = mkdoc(f->db, a, ca, fa.id, "/a/x.txt", "t", NULL);
    const char *ta[] = {"secret words of alice"};
    int64_t chunk;
    assert_int_equal(put_chunks(f->db, a, da, ta, 1, &chunk), RG_OK);

    /* every call of b on a's ids is "not found", as for missing ids */
    struct rg_db_collection k;
    struct rg_db_document d;
    struct rg_db_chunk c;
    struct rg_db_lib_folder fo;
    struct rg_db_collection_change kc = {.name = "mine", .shared = -1, .now = 2};
    struct rg_db_doc_change dc = {.title = "mine", .size = -1, .mtime = -1, .now = 2};
    assert_int_equal(rg_db_collection_get(f->db, b, ca, &k, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_collection_update(f->db, b, ca, &kc, &k, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_collection_delete(f->db, b, ca, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_lib_folder_add(f->db, b, ca, "/b", 2, &fo, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_lib_folder_remove(f->db, b, fa.id, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_doc_get(f->db, b, da, &d, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_doc_by_path(f->db, b, fa.id, "/a/x.txt", &d, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_doc_update(f->db, b, da, &dc, &d, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_doc_set_state(f->db, b, da, RG_DB_DOC_READY, 1, NULL, 2, err),
                     RG_ENOTFOUND);
    assert_int_equal(rg_db_doc_delete(f->db, b, da, err), RG_ENOTFOUND);
    assert_int_equal(put_chunks(f->db, b, da, ta, 1, NULL), RG_ENOTFOUND);
    float vec[4] = {1, 0, 0, 0};
    assert_int_equal(rg_db_chunks_set_embeddings(f->db, b, &chunk, 1, vec, 4, "m", err),
                     RG_ENOTFOUND);
    assert_int_equal(rg_db_chunk_get(f->db, b, chunk, &c, NULL, err), RG_ENOTFOUND);
    struct rg_db_chunk *cl;
    size_t n;
    assert_int_equal(rg_db_chunk_list(f->db, b, da, 0, 10, &cl, &n, err), RG_ENOTFOUND);
    /* a document of b's in a's folder or collection */
    struct rg_db_doc_new dn = {.owner_id = b,
                               .collection_id = cb,
                               .folder_id = fa.id,
                               .source = "/a/y",
                               .format = "txt",
                               .now = 3};
    assert_int_equal(rg_db_doc_create(f->db, &dn, &d, err), RG_ENOTFOUND);
    /* lists and searches never show a's rows */
    struct rg_db_lib_folder *fl;
    assert_int_equal(rg_db_lib_folder_list(f->db, b, &fl, &n, err), RG_OK);
    assert_int_equal(n, 0);
    rg_free(fl);
    assert_int_equal(rg_db_lib_folder_list(f->db, 0, &fl, &n, err), RG_OK); /* the watcher's */
    assert_int_equal(n, 1);
    rg_free(fl);
    struct rg_db_document *dv;
    bool more;
    struct rg_db_doc_filter df = {.state = -1, .limit = 10};
    assert_int_equal(rg_db_doc_list(f->db, b, &df, &dv, &n, &more, err), RG_OK);
    assert_int_equal(n, 0);
    rg_free(dv);
    df.collection_id = ca;
    assert_int_equal(rg_db_doc_list(f->db, b, &df, &dv, &n, &more, err), RG_OK);
    assert_int_equal(n, 0);
    rg_free(dv);
    int64_t hits[4];
    assert_int_equal(search_ids(f->db, b, "secret", hits, 4), 0);
    assert_int_equal(search_ids(f->db, a, "secret", hits, 4), 1);
    struct rg_db_chunk_query q = {
        .q = "secret", .collections = &ca, .n_collections = 1, .limit = 5};
    struct rg_db_chunk_hit *h;
    assert_int_equal(rg_db_chunk_search(f->db, b, &q, &h, &n, err), RG_OK);
    assert_int_equal(n, 0);
    rg_free(h);
    assert_int_equal(rg_db_chunk_locate(f->db, b, &chunk, 1, &q, &h, &n, err), RG_OK);
    assert_int_equal(n, 0);
    rg_free(h);
    assert_int_equal(rg_db_chunk_locate(f->db, a, &chunk, 1, &q, &h, &n, err), RG_OK);
    assert_int_equal(n, 1);
    rg_free(h);
    /* nothing of a's changed */
    assert_int_equal(rg_db_doc_get(f->db, a, da, &d, err), RG_OK);
    assert_string_equal(d.title, "/a/x.txt");
    assert_int_equal(d.state, RG_DB_DOC_QUEUED);
}

static void test_shared_readable(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t adm = mkuser(f->db, "adm@x", NULL, NULL);
    int64_t u = mkuser(f->db, "u@x", "user", NULL);
    int64_t pub = mkcoll(f->db, adm, "Shelf", true);
    int64_t d = mkdoc(f->db, adm, pub, 0, "manual.md", NULL, NULL);
    const char *t[] = {"How to purify water in the field."};
    int64_t ch;
    assert_int_equal(put_chunks(f->db, adm, d, t, 1, &ch), RG_OK);
    struct rg_db_document doc;
    struct rg_db_chunk c;
    assert_int_equal(rg_db_doc_get(f->db, u, d, &doc, err), RG_OK);
    assert_int_equal(rg_db_chunk_get(f->db, u, ch, &c, &doc, err), RG_OK);
    rg_db_chunk_clear(&c);
    int64_t hits[4];
    assert_int_equal(search_ids(f->db, u, "purify", hits, 4), 1);
    /* but read-only */
    struct rg_db_doc_change dc = {.title = "x", .size = -1, .mtime = -1, .now = 2};
    assert_int_equal(rg_db_doc_update(f->db, u, d, &dc, &doc, err), RG_EPERM);
    assert_int_equal(rg_db_doc_set_state(f->db, u, d, RG_DB_DOC_READY, 1, NULL, 2, err), RG_EPERM);
    assert_int_equal(rg_db_doc_delete(f->db, u, d, err), RG_EPERM);
    assert_int_equal(put_chunks(f->db, u, d, t, 1, NULL), RG_EPERM);
    float vec[2] = {1, 1};
    assert_int_equal(rg_db_chunks_set_embeddings(f->db, u, &ch, 1, vec, 2, "m", err), RG_ENOTFOUND);
}

static void test_cascades(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x", NULL, NULL);
    int64_t coll = mkcoll(f->db, a, "C", false);
    struct rg_db_lib_folder fo;
    assert_int_equal(rg_db_lib_folder_add(f->db, a, coll, "/w", 1, &fo, err), RG_OK);
    int64_t d1 = mkdoc(f->db, a, coll, fo.id, "/w/1", NULL, NULL);
    int64_t d2 = mkdoc(f->db, a, coll, 0, "up", NULL, NULL);
    int64_t d3 = mkdoc(f->db, a, coll, 0, "up3", NULL, NULL);
    const char *t[] = {"cascade alpha", "cascade beta"};
    assert_int_equal(put_chunks(f->db, a, d1, t, 2, NULL), RG_OK);
    assert_int_equal(put_chunks(f->db, a, d2, t, 2, NULL), RG_OK);
    assert_int_equal(put_chunks(f->db, a, d3, t, 2, NULL), RG_OK);
    int64_t hits[8];
    assert_int_equal(search_ids(f->db, a, "cascade", hits, 8), 6);
    /* a document's chunks go with it */
    assert_int_equal(rg_db_doc_delete(f->db, a, d3, err), RG_OK);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM lib_chunks"), 4);
    assert_int_equal(search_ids(f->db, a, "cascade", hits, 8), 4);
    /* a folder's documents go with it */
    assert_int_equal(rg_db_lib_folder_remove(f->db, a, fo.id, err), RG_OK);
    struct rg_db_document d;
    assert_int_equal(rg_db_doc_get(f->db, a, d1, &d, err), RG_ENOTFOUND);
    assert_int_equal(rg_db_doc_get(f->db, a, d2, &d, err), RG_OK);
    assert_int_equal(search_ids(f->db, a, "cascade", hits, 8), 2);
    /* a collection's everything goes with it */
    assert_int_equal(rg_db_collection_delete(f->db, a, coll, err), RG_OK);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM lib_documents"), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM lib_chunks"), 0);
    assert_int_equal(search_ids(f->db, a, "cascade", hits, 8), 0);
}

/* Is s valid UTF-8 of at most RG_DB_LIB_SNIPPET_MAX bytes with balanced marks? */
static void check_snippet(const char *s)
{
    size_t n = strlen(s);
    assert_true(n <= RG_DB_LIB_SNIPPET_MAX);
    assert_true(rg_utf8_valid(s, n));
    int open = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == RG_DB_LIB_MARK_ON[0]) assert_int_equal(open++, 0);
        if (s[i] == RG_DB_LIB_MARK_OFF[0]) assert_int_equal(--open, 0);
    }
    assert_int_equal(open, 0);
}

static void test_search(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x", NULL, NULL);
    int64_t c1 = mkcoll(f->db, a, "One", false);
    int64_t c2 = mkcoll(f->db, a, "Two", false);
    int64_t d1 = mkdoc(f->db, a, c1, 0, "en.txt", "guide", "en-US");
    int64_t d2 = mkdoc(f->db, a, c2, 0, "fr.txt", NULL, "fr");
    /* a long passage with multi-byte characters around the words */
    char longt[4000];
    size_t o = 0;
    while (o < 1500)
        o += (size_t)snprintf(longt + o, sizeof longt - o, "é😀 filler ");
    snprintf(longt + o, sizeof longt - o, "the Lighthouse keeper ");
    o = strlen(longt);
    while (o < 3500)
        o += (size_t)snprintf(longt + o, sizeof longt - o, "ü€ more ");
    const char *t1[] = {"Boiling water kills most germs.", longt,
                        "Rainwater collection with a tarp."};
    const char *t2[] = {"L'eau bouillante tue les germs (germes). water"};
    int64_t i1[3], i2[1];
    assert_int_equal(put_chunks(f->db, a, d1, t1, 3, i1), RG_OK);
    assert_int_equal(put_chunks(f->db, a, d2, t2, 1, i2), RG_OK);

    int64_t h[8];
    assert_int_equal(search_ids(f->db, a, "germs", h, 8), 2);
    assert_int_equal(search_ids(f->db, a, "boiling water", h, 8), 1); /* every word */
    assert_int_equal(h[0], i1[0]);
    assert_int_equal(search_ids(f->db, a, "rainw", h, 8), 1); /* the last word a prefix */
    assert_int_equal(h[0], i1[2]);
    assert_int_equal(search_ids(f->db, a, "LIGHTHOUSE", h, 8), 1);
    assert_int_equal(search_ids(f->db, a, "", h, 8), 0);
    /* hostile text is words, never syntax */
    const char *hostile[] = {"\" OR * NEAR(",
                             "water OR",
                             "text:water",
                             "a' ; DROP TABLE lib_chunks; --",
                             "water AND NOT germs",
                             "(((",
                             "*",
                             "water:*",
                             "'\\x00",
                             "^water"};
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
        struct rg_db_chunk_query q = {.q = hostile[i], .limit = 10};
        struct rg_db_chunk_hit *hv;
        size_t n;
        int rc = rg_db_chunk_search(f->db, a, &q, &hv, &n, err);
        if (rc) fail_msg("'%s': %s", hostile[i], err);
        for (size_t k = 0; k < n; k++)
            check_snippet(hv[k].snippet);
        rg_free(hv);
    }
    assert_int_equal(search_ids(f->db, a, "water AND NOT germs", h, 8),
                     0); /* "and","not" are words */
    assert_int_equal(raw_int(f, "SELECT count(*) FROM lib_chunks"), 4);

    /* snippets: marked, cut on characters, at most 300 bytes, with locations and title */
    struct rg_db_chunk_query q = {.q = "lighthouse keeper", .limit = 5};
    struct rg_db_chunk_hit *hv;
    size_t n;
    assert_int_equal(rg_db_chunk_search(f->db, a, &q, &hv, &n, err), RG_OK);
    assert_int_equal(n, 1);
    check_snippet(hv[0].snippet);
    assert_non_null(strstr(hv[0].snippet, "\x02Lighthouse\x03 \x02keeper\x03"));
    assert_string_equal(hv[0].title, "en.txt");
    assert_string_equal(hv[0].heading, "Chapter 2 > Part");
    assert_int_equal(hv[0].page_from, 2);
    assert_int_equal(hv[0].doc_id, d1);
    assert_int_equal(hv[0].collection_id, c1);
    assert_true(hv[0].rank > 0);
    rg_free(hv);

    /* filters */
    struct rg_db_chunk_query fq = {
        .q = "germs", .limit = 5, .collections = &c2, .n_collections = 1};
    assert_int_equal(rg_db_chunk_search(f->db, a, &fq, &hv, &n, err), RG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(hv[0].chunk_id, i2[0]);
    rg_free(hv);
    struct rg_db_chunk_query tq = {.q = "germs", .limit = 5, .tag = "Guide"};
    assert_int_equal(rg_db_chunk_search(f->db, a, &tq, &hv, &n, err), RG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(hv[0].chunk_id, i1[0]);
    rg_free(hv);
    struct rg_db_chunk_query lq = {.q = "germs", .limit = 5, .language = "en"};
    assert_int_equal(rg_db_chunk_search(f->db, a, &lq, &hv, &n, err), RG_OK);
    assert_int_equal(n, 1); /* en matches en-US */
    assert_int_equal(hv[0].chunk_id, i1[0]);
    rg_free(hv);
    struct rg_db_chunk_query dq = {.q = "water", .limit = 5, .doc_id = d2};
    assert_int_equal(rg_db_chunk_search(f->db, a, &dq, &hv, &n, err), RG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(hv[0].chunk_id, i2[0]);
    rg_free(hv);
    struct rg_db_chunk_query lim = {.q = "germs", .limit = 1};
    assert_int_equal(rg_db_chunk_search(f->db, a, &lim, &hv, &n, err), RG_OK);
    assert_int_equal(n, 1);
    rg_free(hv);
    /* locate keeps the order given and marks the words */
    int64_t ids[3] = {i1[2], i2[0], i1[0]};
    struct rg_db_chunk_query mq = {.q = "water", .limit = 5};
    assert_int_equal(rg_db_chunk_locate(f->db, a, ids, 3, &mq, &hv, &n, err), RG_OK);
    assert_int_equal(n, 3);
    assert_int_equal(hv[0].chunk_id, i1[2]);
    assert_int_equal(hv[1].chunk_id, i2[0]);
    assert_non_null(strstr(hv[2].snippet, "\x02water\x03"));
    check_snippet(hv[0].snippet);
    rg_free(hv);
    /* too long a query */
    char big[700];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct rg_db_chunk_query bq = {.q = big, .limit = 5};
    assert_int_equal(rg_db_chunk_search(f->db, a, &bq, &hv, &n, err), RG_EINVAL);
}

static void test_vectors(void **state)
{
    struct fx *f = *state;
    char err[RG_ERR_SIZE];
    int64_t a = mkuser(f->db, "a@x", NULL, NULL);
    int64_t coll = mkcoll(f->db, a, "V", false);
    int64_t d = mkdoc(f->db, a, coll, 0, "v.txt", NULL, NULL);
    const char *t[] = {"one", "two", "three"};
    int64_t ids[3];
    assert_int_equal(put_chunks(f->db, a, d, t, 3, ids), RG_OK);
    float v[3 * 4];
    for (int i = 0; i < 12; i++)
        v[i] = (float)i * 0.25f - 1.0f;
    assert_int_equal(rg_db_chunks_set_embeddings(f->db, a, ids, 3, v, 4, "bge", err), RG_OK);
    int64_t cnt, max;
    assert_int_equal(rg_db_vec_stats(f->db, "bge", &cnt, &max, err), RG_OK);
    assert_int_equal(cnt, 3);
    assert_int_equal(max, ids[2]);
    assert_int_equal(rg_db_vec_stats(f->db, "other", &cnt, &max, err), RG_OK);
    assert_int_equal(cnt, 0);
    struct rg_db_vec_page p;
    assert_int_equal(rg_db_vec_page(f->db, "bge", 0, 2, &p, err), RG_OK);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.dim, 4);
    assert_int_equal(p.rows[0].chunk_id, ids[0]);
    assert_int_equal(p.rows[1].owner_id, a);
    assert_int_equal(p.rows[1].collection_id, coll);
    assert_memory_equal(p.rows[1].vec, v + 4, 4 * sizeof(float)); /* f32, bit for bit */
    int64_t after = p.rows[1].chunk_id;
    rg_db_vec_page_free(&p);
    assert_int_equal(rg_db_vec_page(f->db, "bge", after, 2, &p, err), RG_OK);
    assert_int_equal(p.n, 1);
    assert_memory_equal(p.rows[0].vec, v + 8, 4 * sizeof(float));
    rg_db_vec_page_free(&p);
    struct rg_db_chunk c;
    assert_int_equal(rg_db_chunk_get(f->db, a, ids[0], &c, NULL, err), RG_OK);
    assert_string_equal(c.embed_model, "bge");
    assert_int_equal(c.dim, 4);
    rg_db_chunk_clear(&c);
    /* a batch with one unknown id writes nothing */
    int64_t mixed[2] = {ids[0], ids[2] + 100};
    float w[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    assert_int_equal(rg_db_chunks_set_embeddings(f->db, a, mixed, 2, w, 4, "bge", err),
                     RG_ENOTFOUND);
    assert_int_equal(rg_db_vec_page(f->db, "bge", 0, 10, &p, err), RG_OK);
    assert_memory_equal(p.rows[0].vec, v, 4 * sizeof(float));
    rg_db_vec_page_free(&p);
    float nan[4] = {0, 0, 0, 0};
    nan[1] = 0.0f / 0.0f;
    assert_int_equal(rg_db_chunks_set_embeddings(f->db, a, ids, 1, nan, 4, "bge", err), RG_EINVAL);
    /* re-chunking drops the embeddings */
    assert_int_equal(put_chunks(f->db, a, d, t, 2, NULL), RG_OK);
    assert_int_equal(rg_db_vec_stats(f->db, "bge", &cnt, &max, err), RG_OK);
    assert_int_equal(cnt, 0);
}

#define SUITE(x)                                                                                   \
    cmocka_unit_test_setup_teardown(test_collections, setup, teardown),                            \
        cmocka_unit_test_setup_teardown(test_documents_chunks, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(test_owner_isolation, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(test_shared_readable, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(test_cascades, setup, teardown),                           \
        cmocka_unit_test_setup_teardown(test_search, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_vectors, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {SUITE(x)};
    g_backend = SQLITE;
    int failed = cmocka_run_group_tests_name("library_storage/sqlite", tests, NULL, NULL);

    int pg = fx_pg_find("library_storage");
    if (pg <= 0) return failed + (pg < 0 ? 1 : 0);
    g_backend = PG;
    const struct CMUnitTest pg_tests[] = {SUITE(x)};
    failed += cmocka_run_group_tests_name("library_storage/postgres", pg_tests, NULL, NULL);
    return failed;
}
