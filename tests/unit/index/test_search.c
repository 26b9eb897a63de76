/*
 * Library search over a real SQLite database and vector index: the fusion
 * alone, the retrieval measure of issue 16 ("Done means"), filters and
 * ownership through every mode, and the degraded hybrid.
 *
 * The retrieval test: a generated corpus of places, each with three facts
 * (founding, export, festival) in three passages, plus filler; one question
 * a place asks one of its facts in plain words ("What is the main export of
 * Vorlakmar?"), so its answer lives in one known passage and two other
 * passages name the same place. The embedder is the deterministic test one
 * below (no model): hashed bag of words, documented in
 * docs/internals/search.md. Hybrid must put the answer in the top 5 for at
 * least 90% of the questions; full-text alone is measured and printed (every
 * word of a query must appear, so a question as typed rarely matches: the
 * reason hybrid exists).
 */
#include "test.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/db.h"
#include "index/search.h"
#include "index/vec.h"

#define DIM 256

/*
 * The test embedder: lower-cased ASCII words of 3+ letters, a final "s"
 * dropped, words in a short stop list skipped; each word adds 1 to
 * dimension FNV-1a(word) mod 256 and 0.5 to the next (so collisions blur
 * rather than alias). Deterministic, no model.
 */
static const char *const STOP[] = {"the",  "and",  "what", "which",  "who",  "how",  "was",
                                   "that", "with", "for",  "its",    "are",  "does", "did",
                                   "this", "from", "each", "called", "into", NULL};
static int test_embed(void *ud, const char *text, float *out, int dim, char *err)
{
    (void)ud;
    (void)err;
    memset(out, 0, (size_t)dim * sizeof *out);
    char w[64];
    for (const char *p = text; *p;) {
        while (*p && !isalpha((unsigned char)*p))
            p++;
        size_t n = 0;
        while (isalpha((unsigned char)*p)) {
            if (n < sizeof w - 1) w[n++] = (char)tolower((unsigned char)*p);
            p++;
        }
        if (n > 3 && w[n - 1] == 's') n--;
        w[n] = '\0';
        if (n < 3) continue;
        bool stop = false;
        for (int i = 0; STOP[i] && !stop; i++)
            stop = !strcmp(w, STOP[i]);
        if (stop) continue;
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < n; i++)
            h = (h ^ (unsigned char)w[i]) * 16777619u;
        out[h % (uint32_t)dim] += 1.0f;
        out[(h + 1) % (uint32_t)dim] += 0.5f;
    }
    out[dim - 1] += 0.01f; /* never the zero vector */
    return RG_OK;
}

struct world {
    char dbpath[128], url[160];
    struct rg_db *db;
    struct rg_vec *vec;
    int64_t user, other, coll, other_coll;
};

static void world_open(struct world *w)
{
    char err[RG_ERR_SIZE];
    snprintf(w->dbpath, sizeof w->dbpath, "/tmp/rg_test_search_%d.db", (int)getpid());
    snprintf(w->url, sizeof w->url, "sqlite:%s", w->dbpath);
    unlink(w->dbpath);
    struct rg_db_params p;
    rg_db_default_params(&p);
    p.url = w->url;
    assert_non_null(w->db = rg_db_open(&p, err));
    assert_int_equal(rg_db_migrate(w->db, NULL, err), RG_OK);
    struct rg_db_user u;
    struct rg_db_new_user a = {.email = "a@x", .pw_hash = "$argon2id$x", .now = 1};
    assert_int_equal(rg_db_user_create(w->db, &a, &u, err), RG_OK);
    w->user = u.id;
    struct rg_db_new_user b = {.email = "b@x", .pw_hash = "$argon2id$x", .role = "user", .now = 1};
    assert_int_equal(rg_db_user_create(w->db, &b, &u, err), RG_OK);
    w->other = u.id;
    struct rg_db_collection k;
    struct rg_db_collection_new kn = {.owner_id = w->user, .name = "Atlas", .now = 1};
    assert_int_equal(rg_db_collection_create(w->db, &kn, &k, err), RG_OK);
    w->coll = k.id;
    kn.owner_id = w->other;
    kn.name = "Other";
    assert_int_equal(rg_db_collection_create(w->db, &kn, &k, err), RG_OK);
    w->other_coll = k.id;
}

static void world_close(struct world *w)
{
    rg_vec_free(w->vec);
    rg_db_close(w->db);
    char p[200];
    unlink(w->dbpath);
    snprintf(p, sizeof p, "%s-wal", w->dbpath);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", w->dbpath);
    unlink(p);
}

/* A document of owner in coll with these passages, embedded by the test
 * embedder; ids (may be NULL) gets the chunk ids. */
static int64_t add_doc(struct world *w, int64_t owner, int64_t coll, const char *title,
                       char **texts, size_t n, int64_t *ids, const char *tags)
{
    char err[RG_ERR_SIZE];
    struct rg_db_document d;
    struct rg_db_doc_new dn = {.owner_id = owner,
                               .collection_id = coll,
                               .source = title,
                               .format = "txt",
                               .title = title,
                               .tags = tags,
                               .now = 2};
    assert_int_equal(rg_db_doc_create(w->db, &dn, &d, err), RG_OK);
    struct rg_db_chunk *c = calloc(n, sizeof *c);
    int64_t *cid = calloc(n, sizeof *cid);
    float *v = calloc(n * DIM, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        c[i].text = texts[i];
        snprintf(c[i].heading, sizeof c[i].heading, "%s > %zu", title, i + 1);
        c[i].byte_from = (int64_t)i * 1000;
        c[i].byte_to = (int64_t)i * 1000 + (int64_t)strlen(texts[i]);
        test_embed(NULL, texts[i], v + i * DIM, DIM, err);
    }
    assert_int_equal(rg_db_chunks_replace(w->db, owner, d.id, c, n, cid, err), RG_OK);
    for (size_t i = 0; i < n; i += 1000) {
        size_t m = n - i < 1000 ? n - i : 1000;
        assert_int_equal(rg_db_chunks_set_embeddings(w->db, owner, cid + i, m, v + i * DIM, DIM,
                                                     "test-embed", err),
                         RG_OK);
    }
    if (ids) memcpy(ids, cid, n * sizeof *ids);
    free(c);
    free(cid);
    free(v);
    return d.id;
}

static void open_index(struct world *w)
{
    char err[RG_ERR_SIZE];
    struct rg_vec_params p;
    rg_vec_default_params(&p);
    p.dim = DIM;
    p.model = "test-embed";
    rg_vec_free(w->vec);
    w->vec = rg_vec_open(&p, NULL, w->db, NULL, err);
    if (!w->vec) fail_msg("vec: %s", err);
}

static void test_rrf(void **state)
{
    (void)state;
    int64_t a[] = {10, 20, 30}, b[] = {30, 40, 10};
    struct rg_search_fused f[6];
    size_t n = rg_search_rrf(a, 3, b, 3, f);
    assert_int_equal(n, 4);
    /* 10: 1/61 + 1/63; 30: 1/63 + 1/61 (the same: the better full-text rank first) */
    assert_int_equal(f[0].id, 10);
    assert_int_equal(f[1].id, 30);
    assert_true(fabs(f[0].score - (1.0 / 61 + 1.0 / 63)) < 1e-12);
    assert_int_equal(f[0].rank_a, 1);
    assert_int_equal(f[0].rank_b, 3);
    assert_int_equal(f[2].id, 20); /* 1/62 beats 40's 1/62? equal: full-text rank first */
    assert_int_equal(f[3].id, 40);
    assert_int_equal(f[3].rank_a, 0);
    assert_int_equal(f[3].rank_b, 2);
    assert_int_equal(rg_search_rrf(NULL, 0, b, 3, f), 3);
    assert_int_equal(f[0].id, 30);
}

/* ---- the generated corpus ----------------------------------------------------------- */

#define PLACES 60
static const char *const SYL[] = {"vor", "lak", "mar", "quen", "tis", "bro", "dal", "fen",
                                  "gri", "hul", "jor", "kes",  "lum", "nad", "osk", "pel"};
static const char *const GOODS[] = {"copper", "amber", "wool",  "salt",   "timber",
                                    "honey",  "silk",  "glass", "cheese", "tin"};
static const char *const PEOPLE[] = {"Aldren",  "Brisa", "Corwin", "Delia",
                                     "Evander", "Fiona", "Gareth", "Helka"};

static void place_name(int i, char *out, size_t size)
{
    snprintf(out, size, "%s%s%s", SYL[i % 16], SYL[(i / 16 + 3 * i) % 16], SYL[(i * 7 + 5) % 16]);
    out[0] = (char)toupper((unsigned char)out[0]);
}

static void test_retrieval(void **state)
{
    (void)state;
    struct world w = {0};
    world_open(&w);
    char err[RG_ERR_SIZE];
    /* three fact passages a place, in one "atlas" document, with filler between */
    size_t n = 0, cap = PLACES * 3 + 400;
    char **texts = calloc(cap, sizeof *texts);
    int answer_pos[PLACES];
    char questions[PLACES][160];
    for (int i = 0; i < PLACES; i++) {
        char name[32];
        place_name(i, name, sizeof name);
        char *t[3];
        for (int k = 0; k < 3; k++)
            t[k] = malloc(400);
        snprintf(t[0], 400,
                 "%s was founded in the year %d by the explorer %s, who crossed the northern "
                 "mountains with a small company and settled beside the river.",
                 name, 1100 + i * 7, PEOPLE[i % 8]);
        snprintf(t[1], 400,
                 "The main export of %s is %s, loaded onto ships in the harbour each spring and "
                 "traded along the coast for grain and cloth.",
                 name, GOODS[i % 10]);
        snprintf(t[2], 400,
                 "In %s the winter festival is called the Night of %s Lanterns; people light "
                 "candles in every window and sing old songs.",
                 name, PEOPLE[(i + 3) % 8]);
        int asked = i % 3;
        if (asked == 0) snprintf(questions[i], 160, "Who founded %s, and when?", name);
        if (asked == 1) snprintf(questions[i], 160, "What is the main export of %s?", name);
        if (asked == 2) snprintf(questions[i], 160, "What is %s's winter festival?", name);
        for (int k = 0; k < 3; k++) {
            if (k == asked) answer_pos[i] = (int)n;
            texts[n++] = t[k];
            if ((n % 3) == 0 && n < cap) { /* filler sharing the generic words */
                char *f = malloc(400);
                snprintf(f, 400,
                         "Travellers often remark on the harbour, the river and the mountains; "
                         "the coast road is long and the winter is cold. Note %zu.",
                         n);
                texts[n++] = f;
            }
        }
    }
    int64_t *ids = calloc(n, sizeof *ids);
    add_doc(&w, w.user, w.coll, "Atlas of invented places", texts, n, ids, "atlas");
    /* the other user's copy of the same atlas: must never be returned */
    add_doc(&w, w.other, w.other_coll, "Stolen atlas", texts, n, NULL, NULL);
    open_index(&w);
    struct rg_search_ctx ctx = {w.db, w.vec, test_embed, NULL, DIM};
    struct rg_search_ctx ft = {w.db, NULL, NULL, NULL, 0};
    int hyb = 0, vec = 0, fts = 0, fts_kw = 0;
    for (int i = 0; i < PLACES; i++) {
        int64_t want = ids[answer_pos[i]];
        struct rg_search_result r;
        struct rg_search_query q = {
            .user = w.user, .q = questions[i], .mode = RG_SEARCH_HYBRID, .limit = 5};
        assert_int_equal(rg_search(&ctx, &q, &r, err), RG_OK);
        assert_false(r.degraded);
        for (size_t k = 0; k < r.n; k++) {
            assert_int_equal(r.hits[k].c.collection_id, w.coll); /* never the other's */
            if (r.hits[k].c.chunk_id == want) hyb++;
        }
        rg_search_result_free(&r);
        q.mode = RG_SEARCH_VECTOR;
        assert_int_equal(rg_search(&ctx, &q, &r, err), RG_OK);
        for (size_t k = 0; k < r.n; k++)
            if (r.hits[k].c.chunk_id == want) vec++;
        rg_search_result_free(&r);
        q.mode = RG_SEARCH_FULLTEXT;
        assert_int_equal(rg_search(&ft, &q, &r, err), RG_OK);
        for (size_t k = 0; k < r.n; k++)
            if (r.hits[k].c.chunk_id == want) fts++;
        rg_search_result_free(&r);
        /* full-text with the words a person would pick: the place and the topic */
        char kw[96], name[32];
        place_name(i, name, sizeof name);
        snprintf(kw, sizeof kw, "%s %s", name,
                 i % 3 == 0   ? "founded"
                 : i % 3 == 1 ? "export"
                              : "festival");
        q.q = kw;
        assert_int_equal(rg_search(&ft, &q, &r, err), RG_OK);
        for (size_t k = 0; k < r.n; k++)
            if (r.hits[k].c.chunk_id == want) fts_kw++;
        rg_search_result_free(&r);
    }
    printf("retrieval top-5 over %d questions (%zu passages): hybrid %d (%.0f%%), vector %d,"
           " full-text as asked %d, full-text keywords %d\n",
           PLACES, n, hyb, 100.0 * hyb / PLACES, vec, fts, fts_kw);
    assert_true(hyb * 10 >= PLACES * 9);
    assert_true(fts_kw * 10 >= PLACES * 9); /* the full-text path works on its own words */
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(ids);
    world_close(&w);
}

static void test_modes_filters(void **state)
{
    (void)state;
    struct world w = {0};
    world_open(&w);
    char err[RG_ERR_SIZE];
    char *a[] = {"Boiling water for one minute makes it safe to drink.",
                 "A solar still collects water from damp soil.",
                 "Snow must be melted before drinking; eating it chills the body."};
    char *b[] = {"Boiling water secret of the other user."};
    int64_t ia[3], ib[1];
    int64_t da = add_doc(&w, w.user, w.coll, "Water", a, 3, ia, "survival");
    add_doc(&w, w.other, w.other_coll, "Mine", b, 1, ib, NULL);
    open_index(&w);
    struct rg_search_ctx ctx = {w.db, w.vec, test_embed, NULL, DIM};
    struct rg_search_result r;
    struct rg_search_query q = {
        .user = w.user, .q = "boiling water", .mode = RG_SEARCH_HYBRID, .limit = 10};
    assert_int_equal(rg_search(&ctx, &q, &r, err), RG_OK);
    assert_int_equal(r.mode, RG_SEARCH_HYBRID);
    assert_true(r.n >= 1);
    assert_int_equal(r.hits[0].c.chunk_id, ia[0]); /* first in both lists */
    assert_int_equal(r.hits[0].rank_fts, 1);
    assert_int_equal(r.hits[0].rank_vec, 1);
    assert_true(fabs(r.hits[0].score - 2.0 / 61) < 1e-9);
    assert_string_equal(r.hits[0].c.title, "Water");
    assert_non_null(strstr(r.hits[0].c.snippet, "\x02"
                                                "Boiling"
                                                "\x03"));
    assert_int_equal(r.hits[0].c.byte_from, 0);
    for (size_t k = 0; k < r.n; k++) {
        assert_true(r.hits[k].c.chunk_id != ib[0]);
        assert_true(rg_utf8_valid(r.hits[k].c.snippet, strlen(r.hits[k].c.snippet)));
        if (k) assert_true(r.hits[k].score <= r.hits[k - 1].score);
    }
    rg_search_result_free(&r);
    /* the other user finds only theirs */
    q.user = w.other;
    assert_int_equal(rg_search(&ctx, &q, &r, err), RG_OK);
    for (size_t k = 0; k < r.n; k++)
        assert_int_equal(r.hits[k].c.chunk_id, ib[0]);
    rg_search_result_free(&r);
    /* filters in every mode: tag, document, collections */
    q.user = w.user;
    for (int mode = 0; mode < 3; mode++) {
        q.mode = mode;
        q.tag = "nope";
        assert_int_equal(rg_search(&ctx, &q, &r, err), RG_OK);
        assert_int_equal(r.n, 0);
        rg_search_result_free(&r);
        q.tag = "survival";
        assert_int_equal(rg_search(&ctx, &q, &r, err), RG_OK);
        assert_true(r.n >= 1);
        rg_search_result_free(&r);
        q.tag = NULL;
        q.collections = &w.other_coll; /* not visible to the user: nothing */
        q.n_collections = 1;
        assert_int_equal(rg_search(&ctx, &q, &r, err), RG_OK);
        assert_int_equal(r.n, 0);
        rg_search_result_free(&r);
        q.collections = NULL;
        q.n_collections = 0;
        q.doc_id = da;
        assert_int_equal(rg_search(&ctx, &q, &r, err), RG_OK);
        for (size_t k = 0; k < r.n; k++)
            assert_int_equal(r.hits[k].c.doc_id, da);
        rg_search_result_free(&r);
        q.doc_id = 0;
    }
    /* hostile text in every mode */
    const char *hostile[] = {"\"*) OR (", "NEAR(water snow, 2)", "'; DROP TABLE lib_chunks; --"};
    for (size_t i = 0; i < 3; i++)
        for (int mode = 0; mode < 3; mode++) {
            q.q = hostile[i];
            q.mode = mode;
            assert_int_equal(rg_search(&ctx, &q, &r, err), RG_OK);
            rg_search_result_free(&r);
        }
    /* without an embedder: hybrid degrades to full-text and says so; vector refuses */
    struct rg_search_ctx ft = {w.db, NULL, NULL, NULL, 0};
    q.q = "solar still";
    q.mode = RG_SEARCH_HYBRID;
    assert_int_equal(rg_search(&ft, &q, &r, err), RG_OK);
    assert_true(r.degraded);
    assert_int_equal(r.mode, RG_SEARCH_FULLTEXT);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.hits[0].c.chunk_id, ia[1]);
    assert_int_equal(r.hits[0].rank_vec, 0);
    rg_search_result_free(&r);
    q.mode = RG_SEARCH_VECTOR;
    assert_int_equal(rg_search(&ft, &q, &r, err), RG_EUNSUPPORTED);
    q.limit = 0;
    assert_int_equal(rg_search(&ctx, &q, &r, err), RG_EINVAL);
    assert_int_equal(rg_search_mode_parse("hybrid"), RG_SEARCH_HYBRID);
    assert_int_equal(rg_search_mode_parse("x"), -1);
    world_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rrf),
        cmocka_unit_test(test_retrieval),
        cmocka_unit_test(test_modes_filters),
    };
    return cmocka_run_group_tests_name("search", tests, NULL, NULL);
}
