/*
 * The vector index: kernels against their scalar references, the exact scan
 * against a plain scalar scan, filters, HNSW recall against exact, the file
 * (round trip; corrupt, truncated or foreign files refused) and rg_vec_open
 * rebuilding from a real SQLite database.
 */
#include "test.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "db/db.h"
#include "index/vec.h"

static uint64_t g_rng = 88172645463325252ULL;
static float frand(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((double)(g_rng >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
}

static void randvec(float *v, int dim)
{
    for (int i = 0; i < dim; i++)
        v[i] = frand();
}

static struct rg_vec *mkindex(int dim, enum rg_vec_storage st, size_t threshold)
{
    struct rg_vec_params p;
    rg_vec_default_params(&p);
    p.dim = dim;
    p.model = "test-model";
    p.storage = st;
    if (threshold) p.hnsw_threshold = threshold;
    char err[RG_ERR_SIZE];
    struct rg_vec *v = rg_vec_new(&p, err);
    if (!v) fail_msg("init: %s", err);
    return v;
}

static void test_kernels(void **state)
{
    (void)state;
    /* f16: exact for representable values, round to nearest even, specials */
    const float exact[] = {0.0f, 1.0f, -2.0f, 0.5f, 65504.0f, 6.103515625e-05f, 5.9604645e-08f};
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
        assert_true(rg_vec_f16_to_f32(rg_vec_f32_to_f16(exact[i])) == exact[i]);
    assert_int_equal(rg_vec_f32_to_f16(1.0f + 1.0f / 4096), 0x3c00); /* tie to even */
    assert_int_equal(rg_vec_f32_to_f16(1e6f), 0x7c00);               /* overflow: inf */
    assert_true(isnan(rg_vec_f16_to_f32(rg_vec_f32_to_f16(NAN))));
    for (int i = 0; i < 10000; i++) {
        float x = frand() * 100;
        float y = rg_vec_f16_to_f32(rg_vec_f32_to_f16(x));
        assert_true(fabsf(x - y) <= fabsf(x) / 1024 + 1e-7f);
    }
    printf("kernels: %s\n", rg_vec_isa());
    /* the chosen kernels equal the scalar references within rounding */
    for (int n = 1; n <= 777; n += 37) {
        float q[800];
        uint16_t h[800];
        int8_t b[800];
        for (int i = 0; i < n; i++) {
            q[i] = frand();
            h[i] = rg_vec_f32_to_f16(frand());
            b[i] = (int8_t)(frand() * 127);
        }
        float s1 = rg_vec_dot_f16_scalar(q, h, n), s2 = rg_vec_dot_f16(q, h, n);
        assert_true(fabsf(s1 - s2) <= 1e-4f * (1 + fabsf(s1)));
        float t1 = rg_vec_dot_i8_scalar(q, b, n), t2 = rg_vec_dot_i8(q, b, n);
        assert_true(fabsf(t1 - t2) <= 1e-3f * (1 + fabsf(t1)));
    }
}

struct ref {
    float s;
    int64_t id;
};

static int cmp_ref(const void *a, const void *b)
{
    const struct ref *x = a, *y = b;
    return x->s > y->s ? -1 : x->s < y->s ? 1 : 0;
}

/* The plain scan: normalise, round to f16, scalar dot; best first. */
static void plain_scan(float (*data)[64], size_t n, const float *q, int dim, struct ref *out)
{
    float qn[64], norm = 0;
    for (int i = 0; i < dim; i++)
        norm += q[i] * q[i];
    for (int i = 0; i < dim; i++)
        qn[i] = q[i] / sqrtf(norm);
    for (size_t j = 0; j < n; j++) {
        float xn = 0;
        uint16_t h[64];
        for (int i = 0; i < dim; i++)
            xn += data[j][i] * data[j][i];
        for (int i = 0; i < dim; i++)
            h[i] = rg_vec_f32_to_f16(data[j][i] / sqrtf(xn));
        out[j].s = rg_vec_dot_f16_scalar(qn, h, dim);
        out[j].id = (int64_t)j + 1;
    }
    qsort(out, n, sizeof *out, cmp_ref);
}

static void test_exact_equals_scalar(void **state)
{
    (void)state;
    enum { N = 3000, DIM = 64, K = 10 };
    float(*data)[64] = malloc(sizeof(float[N][64]));
    struct ref *ref = malloc(N * sizeof *ref);
    struct rg_vec *v = mkindex(DIM, RG_VEC_F16, 0);
    char err[RG_ERR_SIZE];
    for (int i = 0; i < N; i++) {
        randvec(data[i], DIM);
        struct rg_vec_meta m = {i + 1, i / 10 + 1, i % 3 + 1, i % 2 + 1, false};
        assert_int_equal(rg_vec_add(v, &m, data[i], err), RG_OK);
    }
    for (int t = 0; t < 20; t++) {
        float q[DIM];
        randvec(q, DIM);
        struct rg_vec_hit h[K];
        int n;
        assert_int_equal(rg_vec_search(v, q, K, NULL, RG_VEC_EXACT, 0, h, &n, err), RG_OK);
        assert_int_equal(n, K);
        plain_scan(data, N, q, DIM, ref);
        for (int i = 0; i < K; i++) {
            assert_true(fabsf(h[i].score - ref[i].s) < 1e-5f);
            if (h[i].meta.id != ref[i].id) /* only a near-tie may swap */
                assert_true(fabsf(ref[i].s - ref[i + 1].s) < 1e-5f ||
                            fabsf(ref[i].s - ref[i - 1].s) < 1e-5f);
        }
    }
    /* filters: user (own or shared), collections, document, predicate */
    float q[DIM];
    randvec(q, DIM);
    struct rg_vec_hit h[50];
    int n;
    int64_t colls[1] = {2};
    struct rg_vec_filter f = {.user = 1, .collections = colls, .n_collections = 1};
    assert_int_equal(rg_vec_search(v, q, 50, &f, RG_VEC_EXACT, 0, h, &n, err), RG_OK);
    assert_int_equal(n, 50);
    for (int i = 0; i < n; i++) {
        assert_int_equal(h[i].meta.owner_id, 1);
        assert_int_equal(h[i].meta.collection_id, 2);
    }
    struct rg_vec_filter fd = {.doc_id = 7};
    assert_int_equal(rg_vec_search(v, q, 50, &fd, RG_VEC_EXACT, 0, h, &n, err), RG_OK);
    assert_int_equal(n, 10); /* ids 61..70 */
    for (int i = 0; i < n; i++)
        assert_int_equal(h[i].meta.doc_id, 7);
    /* remove and replace */
    assert_true(rg_vec_remove(v, h[0].meta.id));
    assert_false(rg_vec_remove(v, h[0].meta.id));
    int64_t gone = h[0].meta.id;
    assert_int_equal(rg_vec_search(v, q, 50, &fd, RG_VEC_EXACT, 0, h, &n, err), RG_OK);
    assert_int_equal(n, 9);
    for (int i = 0; i < n; i++)
        assert_true(h[i].meta.id != gone);
    struct rg_vec_meta m = {gone, 7, 1, 1, false};
    assert_int_equal(rg_vec_add(v, &m, q, err), RG_OK); /* now the query itself */
    assert_int_equal(rg_vec_search(v, q, 1, NULL, RG_VEC_EXACT, 0, h, &n, err), RG_OK);
    assert_int_equal(h[0].meta.id, gone);
    assert_true(h[0].score > 0.999f);
    assert_int_equal(rg_vec_remove_doc(v, 7), 10);
    float zero[DIM] = {0};
    assert_int_equal(rg_vec_add(v, &m, zero, err), RG_EINVAL);
    struct rg_vec_stats st;
    rg_vec_stats(v, &st);
    assert_int_equal(st.count, N - 10);
    assert_true(st.bytes >= (size_t)(N - 10) * DIM * 2);
    rg_vec_free(v);
    free(data);
    free(ref);
}

static double recall_at_10(struct rg_vec *v, int dim, int queries, int ef)
{
    char err[RG_ERR_SIZE];
    int found = 0;
    for (int t = 0; t < queries; t++) {
        float q[128];
        randvec(q, dim);
        struct rg_vec_hit e[10], a[10];
        int ne, na;
        assert_int_equal(rg_vec_search(v, q, 10, NULL, RG_VEC_EXACT, 0, e, &ne, err), RG_OK);
        assert_int_equal(rg_vec_search(v, q, 10, NULL, RG_VEC_AUTO, ef, a, &na, err), RG_OK);
        for (int i = 0; i < ne; i++)
            for (int j = 0; j < na; j++)
                if (e[i].meta.id == a[j].meta.id) {
                    found++;
                    break;
                }
    }
    return (double)found / (10.0 * queries);
}

static struct rg_vec *random_index(int n, int dim, enum rg_vec_storage st, size_t threshold)
{
    struct rg_vec *v = mkindex(dim, st, threshold);
    char err[RG_ERR_SIZE];
    for (int i = 0; i < n; i++) {
        float x[128];
        randvec(x, dim);
        struct rg_vec_meta m = {i + 1, i / 20 + 1, 1, 1, false};
        assert_int_equal(rg_vec_add(v, &m, x, err), RG_OK);
    }
    return v;
}

static void test_hnsw_recall(void **state)
{
    (void)state;
    char err[RG_ERR_SIZE];
    struct rg_vec *v = random_index(6000, 32, RG_VEC_F16, 5000);
    assert_true(rg_vec_needs_graph(v));
    assert_int_equal(rg_vec_build_graph(v, err), RG_OK);
    assert_true(rg_vec_has_graph(v));
    assert_false(rg_vec_needs_graph(v));
    double r = recall_at_10(v, 32, 200, 64);
    printf("HNSW recall@10 (6000 x 32, ef 64): %.3f\n", r);
    assert_true(r >= 0.95);
    /* adds after the build join the graph */
    for (int i = 0; i < 1000; i++) {
        float x[32];
        randvec(x, 32);
        struct rg_vec_meta m = {10000 + i, 9999, 1, 1, false};
        assert_int_equal(rg_vec_add(v, &m, x, err), RG_OK);
    }
    r = recall_at_10(v, 32, 200, 64);
    printf("HNSW recall@10 after 1000 adds: %.3f\n", r);
    assert_true(r >= 0.95);
    /* a filter the walk cannot satisfy falls back to the scan: still exact */
    float q[32];
    randvec(q, 32);
    struct rg_vec_filter f = {.doc_id = 9999};
    struct rg_vec_hit a[10], e[10];
    int na, ne;
    assert_int_equal(rg_vec_search(v, q, 10, &f, RG_VEC_AUTO, 0, a, &na, err), RG_OK);
    assert_int_equal(rg_vec_search(v, q, 10, &f, RG_VEC_EXACT, 0, e, &ne, err), RG_OK);
    assert_int_equal(na, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(a[i].meta.doc_id, 9999);
    rg_vec_free(v);
    /* clustered vectors (100 tight clusters): the graph must keep links between clusters */
    v = mkindex(32, RG_VEC_F16, 0);
    float centres[100][32];
    for (int c = 0; c < 100; c++)
        randvec(centres[c], 32);
    for (int i = 0; i < 6000; i++) {
        float x[32];
        for (int d = 0; d < 32; d++)
            x[d] = centres[i % 100][d] + 0.1f * frand();
        struct rg_vec_meta m = {i + 1, 1, 1, 1, false};
        assert_int_equal(rg_vec_add(v, &m, x, err), RG_OK);
    }
    assert_int_equal(rg_vec_build_graph(v, err), RG_OK);
    int found = 0;
    for (int t = 0; t < 100; t++) {
        float x[32];
        for (int d = 0; d < 32; d++)
            x[d] = centres[(t * 37) % 100][d] + 0.1f * frand();
        int ne2, na2;
        assert_int_equal(rg_vec_search(v, x, 10, NULL, RG_VEC_EXACT, 0, e, &ne2, err), RG_OK);
        assert_int_equal(rg_vec_search(v, x, 10, NULL, RG_VEC_AUTO, 0, a, &na2, err), RG_OK);
        for (int i = 0; i < ne2; i++)
            for (int j = 0; j < na2; j++)
                if (e[i].meta.id == a[j].meta.id) {
                    found++;
                    break;
                }
    }
    printf("HNSW recall@10 clustered: %.3f\n", found / 1000.0);
    assert_true(found >= 950);
    rg_vec_free(v);
    /* int8 storage: the graph over int8 vectors keeps the same recall */
    v = random_index(6000, 32, RG_VEC_I8, 0);
    assert_int_equal(rg_vec_build_graph(v, err), RG_OK);
    r = recall_at_10(v, 32, 100, 64);
    printf("HNSW recall@10 int8: %.3f\n", r);
    assert_true(r >= 0.95);
    rg_vec_free(v);
}

static void flip_byte(const char *path, long at)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

static void test_file(void **state)
{
    (void)state;
    char err[RG_ERR_SIZE], path[128];
    snprintf(path, sizeof path, "/tmp/rg_test_vec_%d.idx", (int)getpid());
    struct rg_vec *v = random_index(3000, 48, RG_VEC_F16, 0);
    assert_int_equal(rg_vec_build_graph(v, err), RG_OK);
    assert_true(rg_vec_remove(v, 17));
    assert_int_equal(rg_vec_save(v, path, 3000, 3000, err), RG_OK);
    struct rg_vec_params p;
    rg_vec_default_params(&p);
    p.dim = 48;
    p.model = "test-model";
    int64_t c, m;
    int rc;
    struct rg_vec *w = rg_vec_load(&p, path, &c, &m, &rc, err);
    if (!w) fail_msg("load: %s", err);
    assert_int_equal(c, 3000);
    assert_int_equal(m, 3000);
    assert_true(rg_vec_has_graph(w));
    for (int t = 0; t < 30; t++) { /* the same answers, graph and scan */
        float q[48];
        randvec(q, 48);
        for (int mode = 0; mode < 2; mode++) {
            struct rg_vec_hit a[10], b[10];
            int na, nb;
            assert_int_equal(rg_vec_search(v, q, 10, NULL, mode, 0, a, &na, err), RG_OK);
            assert_int_equal(rg_vec_search(w, q, 10, NULL, mode, 0, b, &nb, err), RG_OK);
            assert_int_equal(na, nb);
            for (int i = 0; i < na; i++) {
                assert_int_equal(a[i].meta.id, b[i].meta.id);
                assert_true(a[i].score == b[i].score);
                assert_true(a[i].meta.id != 17);
            }
        }
    }
    rg_vec_free(w);
    /* another model, dimension: refused */
    p.model = "other";
    assert_null(rg_vec_load(&p, path, &c, &m, &rc, err));
    assert_int_equal(rc, RG_EFORMAT);
    p.model = "test-model";
    p.dim = 47;
    assert_null(rg_vec_load(&p, path, &c, &m, &rc, err));
    assert_int_equal(rc, RG_EFORMAT);
    p.dim = 48;
    /* a flipped byte anywhere in the body: the checksum refuses it */
    long at[] = {300, 3000 * 34 + 1000, 3000 * 34 + 3000 * 96 + 4000};
    for (size_t i = 0; i < 3; i++) {
        flip_byte(path, at[i]);
        assert_null(rg_vec_load(&p, path, &c, &m, &rc, err));
        assert_int_equal(rc, RG_EFORMAT);
        flip_byte(path, at[i]); /* back */
    }
    assert_non_null(w = rg_vec_load(&p, path, &c, &m, &rc, err));
    rg_vec_free(w);
    /* truncated, empty, garbage */
    assert_int_equal(truncate(path, 5000), 0);
    assert_null(rg_vec_load(&p, path, &c, &m, &rc, err));
    assert_int_equal(rc, RG_EFORMAT);
    assert_int_equal(truncate(path, 0), 0);
    assert_null(rg_vec_load(&p, path, &c, &m, &rc, err));
    assert_int_equal(rc, RG_EFORMAT);
    unlink(path);
    assert_null(rg_vec_load(&p, path, &c, &m, &rc, err));
    assert_int_equal(rc, RG_ENOTFOUND);
    rg_vec_free(v);
}

/* rg_vec_open: missing and corrupt files are rebuilt from the database,
 * a good one is loaded, a stale one (the database changed) rebuilt. */
static void test_open_rebuild(void **state)
{
    (void)state;
    char err[RG_ERR_SIZE], dbp[128], path[128], url[160];
    snprintf(dbp, sizeof dbp, "/tmp/rg_test_vec_%d.db", (int)getpid());
    snprintf(path, sizeof path, "/tmp/rg_test_vec_open_%d.idx", (int)getpid());
    snprintf(url, sizeof url, "sqlite:%s", dbp);
    unlink(dbp);
    unlink(path);
    struct rg_db_params dp;
    rg_db_default_params(&dp);
    dp.url = url;
    struct rg_db *db = rg_db_open(&dp, err);
    assert_non_null(db);
    assert_int_equal(rg_db_migrate(db, NULL, err), RG_OK);
    struct rg_db_user u;
    struct rg_db_new_user nu = {.email = "a@x", .pw_hash = "$argon2id$x", .now = 1};
    assert_int_equal(rg_db_user_create(db, &nu, &u, err), RG_OK);
    struct rg_db_collection k;
    struct rg_db_collection_new kn = {.owner_id = u.id, .name = "c", .now = 1};
    assert_int_equal(rg_db_collection_create(db, &kn, &k, err), RG_OK);
    struct rg_db_document d;
    struct rg_db_doc_new dn = {
        .owner_id = u.id, .collection_id = k.id, .source = "d", .format = "txt", .now = 1};
    assert_int_equal(rg_db_doc_create(db, &dn, &d, err), RG_OK);
    enum { N = 300, DIM = 16 };
    struct rg_db_chunk ch[N];
    memset(ch, 0, sizeof ch);
    char texts[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(texts[i], sizeof texts[i], "chunk %d", i);
        ch[i].text = texts[i];
    }
    int64_t ids[N];
    assert_int_equal(rg_db_chunks_replace(db, u.id, d.id, ch, N, ids, err), RG_OK);
    float vecs[N * DIM];
    randvec(vecs, N * DIM);
    assert_int_equal(rg_db_chunks_set_embeddings(db, u.id, ids, N, vecs, DIM, "test-model", err),
                     RG_OK);
    struct rg_vec_params p;
    rg_vec_default_params(&p);
    p.dim = DIM;
    p.model = "test-model";
    bool rebuilt;
    struct rg_vec *v = rg_vec_open(&p, path, db, &rebuilt, err);
    assert_non_null(v);
    assert_true(rebuilt); /* no file */
    struct rg_vec_stats st;
    rg_vec_stats(v, &st);
    assert_int_equal(st.count, N);
    struct rg_vec_hit h[1];
    int n;
    assert_int_equal(rg_vec_search(v, vecs + 5 * DIM, 1, NULL, RG_VEC_EXACT, 0, h, &n, err), RG_OK);
    assert_int_equal(h[0].meta.id, ids[5]);
    assert_int_equal(h[0].meta.collection_id, k.id);
    rg_vec_free(v);
    assert_non_null(v = rg_vec_open(&p, path, db, &rebuilt, err));
    assert_false(rebuilt); /* the saved file matches */
    rg_vec_free(v);
    flip_byte(path, 400);
    assert_non_null(v = rg_vec_open(&p, path, db, &rebuilt, err));
    assert_true(rebuilt); /* corrupt: rebuilt */
    rg_vec_stats(v, &st);
    assert_int_equal(st.count, N);
    rg_vec_free(v);
    /* the database moved on: one more vector */
    float one[DIM];
    randvec(one, DIM);
    assert_int_equal(rg_db_chunks_replace(db, u.id, d.id, ch, N, ids, err), RG_OK); /* drops them */
    assert_int_equal(rg_db_chunks_set_embeddings(db, u.id, ids, 1, one, DIM, "test-model", err),
                     RG_OK);
    assert_non_null(v = rg_vec_open(&p, path, db, &rebuilt, err));
    assert_true(rebuilt);
    rg_vec_stats(v, &st);
    assert_int_equal(st.count, 1);
    rg_vec_free(v);
    rg_db_close(db);
    unlink(path);
    unlink(dbp);
}

/* One writer adding, readers searching: no crash, answers well-formed. */
struct rd {
    struct rg_vec *v;
    int bad;
};

static void *reader(void *arg)
{
    struct rd *r = arg;
    char err[RG_ERR_SIZE];
    uint64_t s = (uint64_t)(uintptr_t)arg;
    for (int t = 0; t < 300; t++) {
        float q[24];
        for (int i = 0; i < 24; i++) {
            s = s * 6364136223846793005ULL + 1;
            q[i] = (float)((s >> 33) & 0xffff) / 65536.0f - 0.5f;
        }
        struct rg_vec_hit h[5];
        int n;
        if (rg_vec_search(r->v, q, 5, NULL, RG_VEC_AUTO, 0, h, &n, err)) r->bad++;
        for (int i = 1; i < n; i++)
            if (h[i].score > h[i - 1].score + 1e-6f) r->bad++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    char err[RG_ERR_SIZE];
    struct rg_vec *v = random_index(1000, 24, RG_VEC_F16, 0);
    assert_int_equal(rg_vec_build_graph(v, err), RG_OK);
    struct rd r[3] = {{v, 0}, {v, 0}, {v, 0}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, reader, &r[i]);
    for (int i = 0; i < 1000; i++) {
        float x[24];
        randvec(x, 24);
        struct rg_vec_meta m = {5000 + i, 1, 1, 1, false};
        assert_int_equal(rg_vec_add(v, &m, x, err), RG_OK);
        if (i % 100 == 0) rg_vec_remove(v, 5000 + i / 2);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].bad, 0);
    }
    rg_vec_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels),      cmocka_unit_test(test_exact_equals_scalar),
        cmocka_unit_test(test_hnsw_recall),  cmocka_unit_test(test_file),
        cmocka_unit_test(test_open_rebuild), cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests_name("vec", tests, NULL, NULL);
}
