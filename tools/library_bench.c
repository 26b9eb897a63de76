/*
 * library_bench: search latency of the knowledge library on SQLite, and the
 * vector index's memory and build time.
 *
 * Fills a throw-away database with N chunks (default 100,000) of one user in
 * documents of 1,000 chunks, about 60 words each from a Zipf-distributed
 * vocabulary of 20,000 words, each with a 384-dimension embedding (bge-small's
 * shape; clustered random vectors: 1,000 centres plus noise), written by plain
 * SQL in one transaction (the FTS5 triggers of migration 5 index them as
 * rg_db_chunks_replace would). Then, through the public interfaces:
 *   - the vector index built from the database (rg_vec_open: the rebuild a
 *     missing file costs), f16;
 *   - full-text search (rg_db_chunk_search, limit 20) for two words, a
 *     frequent one then a mid-frequency one (the last word is a prefix, as
 *     typed); and the other way round, the frequent word as the prefix;
 *   - vector search, exact scan and HNSW (k 20, the user filter on);
 *   - hybrid (rg_search, limit 10: both lists at depth 50, fused), with the
 *     graph and with the exact scan.
 * Prints one JSON object of p50/p99 figures (ms), build times (s) and bytes.
 *
 *   library_bench [--chunks N] [--queries N] [--dim D] [--no-hnsw] [--ef-construction N]
 *                 [--keep PATH]
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "db/db.h"
#include "index/search.h"
#include "index/vec.h"

#define VOCAB 20000
#define CENTRES 1000
#define PER_DOC 1000

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static uint64_t g_rnd = 88172645463325252ull;
static uint64_t rnd(void)
{
    g_rnd ^= g_rnd << 13;
    g_rnd ^= g_rnd >> 7;
    g_rnd ^= g_rnd << 17;
    return g_rnd;
}
static float frand(void)
{
    return (float)((double)(rnd() >> 11) / 9007199254740992.0);
}
static float gauss(void)
{
    float u = frand() + 1e-7f, v = frand();
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

static void make_word(int i, char *out)
{
    static const char *const syl[] = {"ka", "lo", "mi", "ne", "ru", "ta", "vo", "si",
                                      "pe", "da", "gu", "ha", "zo", "be", "fi", "ly"};
    int n = 0, v = i + 16;
    while (v > 0) {
        memcpy(out + n, syl[v % 16], 2);
        n += 2;
        v /= 16;
    }
    out[n] = '\0';
}

static double g_zipf[VOCAB];
static int zipf_word(void)
{
    double u = frand() * g_zipf[VOCAB - 1];
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (g_zipf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void pct(double *v, int n, double *p50, double *p99)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    *p50 = v[n / 2];
    *p99 = v[(int)((n - 1) * 0.99)];
}

static int g_dim = 384;
static float *g_centres;
static const float *g_qvec; /* the query vector the embedder hands out */

static void clustered(float *out)
{
    const float *c = g_centres + (rnd() % CENTRES) * (size_t)g_dim;
    for (int i = 0; i < g_dim; i++)
        out[i] = c[i] + 0.35f * gauss();
}

static int bench_embed(void *ud, const char *text, float *out, int dim, char *err)
{
    (void)ud;
    (void)text;
    (void)err;
    memcpy(out, g_qvec, (size_t)dim * sizeof *out);
    return RG_OK;
}

static int die(const char *what, const char *err)
{
    fprintf(stderr, "library_bench: %s: %s\n", what, err);
    return 1;
}

int main(int argc, char **argv)
{
    long chunks = 100000;
    int queries = 200, efc = 100;
    bool hnsw = true;
    const char *keep = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--chunks") && i + 1 < argc)
            chunks = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc)
            queries = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--dim") && i + 1 < argc)
            g_dim = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--ef-construction") && i + 1 < argc)
            efc = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--no-hnsw"))
            hnsw = false;
        else if (!strcmp(argv[i], "--keep") && i + 1 < argc)
            keep = argv[++i];
        else {
            fprintf(stderr, "usage: library_bench [--chunks N] [--queries N] [--dim D] [--no-hnsw]"
                            " [--ef-construction N] [--keep PATH]\n");
            return 2;
        }
    }
    if (chunks < PER_DOC || queries < 10 || g_dim < 8 || g_dim > 4096)
        return die("arguments", "out of range");
    char path[256], url[300], err[RG_ERR_SIZE];
    snprintf(path, sizeof path, "%s", keep ? keep : "/tmp/rg_library_bench.db");
    unlink(path);
    snprintf(url, sizeof url, "sqlite:%s", path);
    struct rg_db_params dp;
    rg_db_default_params(&dp);
    dp.url = url;
    dp.pool = 2;
    struct rg_db *db = rg_db_open(&dp, err);
    if (!db || rg_db_migrate(db, NULL, err)) return die("open", err);
    struct rg_db_user u;
    struct rg_db_new_user nu = {.email = "bench@x", .pw_hash = "$argon2id$x", .now = 1};
    if (rg_db_user_create(db, &nu, &u, err)) return die("user", err);
    struct rg_db_collection k;
    struct rg_db_collection_new kn = {.owner_id = u.id, .name = "Bench", .now = 1};
    if (rg_db_collection_create(db, &kn, &k, err)) return die("collection", err);

    for (int i = 0; i < VOCAB; i++)
        g_zipf[i] = (i ? g_zipf[i - 1] : 0) + 1.0 / (i + 1);
    char(*words)[16] = malloc(sizeof(char[VOCAB][16]));
    for (int i = 0; i < VOCAB; i++)
        make_word(i, words[i]);
    g_centres = malloc((size_t)CENTRES * (size_t)g_dim * sizeof(float));
    for (size_t i = 0; i < (size_t)CENTRES * (size_t)g_dim; i++)
        g_centres[i] = gauss();

    /* fill by plain SQL, one transaction */
    double t0 = now_ms();
    sqlite3 *c;
    if (sqlite3_open(path, &c) != SQLITE_OK) return die("sqlite", sqlite3_errmsg(c));
    sqlite3_exec(c, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *dst, *cst;
    sqlite3_prepare_v2(c,
                       "INSERT INTO lib_documents (owner_id, collection_id, source, format, title,"
                       " state, created_at, updated_at) VALUES (?1, ?2, ?3, 'txt', ?3, 2, 1, 1)",
                       -1, &dst, NULL);
    sqlite3_prepare_v2(
        c,
        "INSERT INTO lib_chunks (doc_id, ordinal, text, heading, byte_from, byte_to,"
        " embed_model, embedding) VALUES (?1, ?2, ?3, 'Chapter', ?4, ?5, 'bench', ?6)",
        -1, &cst, NULL);
    float *vec = malloc((size_t)g_dim * sizeof(float));
    char text[2048];
    int64_t doc = 0;
    for (long i = 0; i < chunks; i++) {
        if (i % PER_DOC == 0) {
            char name[64];
            snprintf(name, sizeof name, "book-%ld.txt", i / PER_DOC);
            sqlite3_bind_int64(dst, 1, u.id);
            sqlite3_bind_int64(dst, 2, k.id);
            sqlite3_bind_text(dst, 3, name, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(dst) != SQLITE_DONE) return die("document", sqlite3_errmsg(c));
            sqlite3_reset(dst);
            doc = sqlite3_last_insert_rowid(c);
        }
        size_t o = 0;
        int nw = 50 + (int)(rnd() % 20);
        for (int w = 0; w < nw && o < sizeof text - 20; w++)
            o += (size_t)snprintf(text + o, sizeof text - o, "%s%s", w ? " " : "",
                                  words[zipf_word()]);
        clustered(vec);
        sqlite3_bind_int64(cst, 1, doc);
        sqlite3_bind_int64(cst, 2, i % PER_DOC);
        sqlite3_bind_text(cst, 3, text, (int)o, SQLITE_STATIC);
        sqlite3_bind_int64(cst, 4, (i % PER_DOC) * 400);
        sqlite3_bind_int64(cst, 5, (i % PER_DOC) * 400 + (int64_t)o);
        sqlite3_bind_blob(cst, 6, vec, g_dim * (int)sizeof(float), SQLITE_STATIC);
        if (sqlite3_step(cst) != SQLITE_DONE) return die("chunk", sqlite3_errmsg(c));
        sqlite3_reset(cst);
    }
    sqlite3_finalize(dst);
    sqlite3_finalize(cst);
    sqlite3_exec(c, "UPDATE lib_documents SET n_chunks = 1000, embed_model = 'bench'; COMMIT", NULL,
                 NULL, NULL);
    sqlite3_close(c);
    double fill_s = (now_ms() - t0) / 1e3;

    /* the vector index, rebuilt from the database (no file) */
    struct rg_vec_params vp;
    rg_vec_default_params(&vp);
    vp.dim = g_dim;
    vp.model = "bench";
    vp.hnsw_threshold = (size_t)chunks + 1; /* built below, timed on its own */
    vp.hnsw_ef_construction = efc;
    t0 = now_ms();
    struct rg_vec *v = rg_vec_open(&vp, NULL, db, NULL, err);
    if (!v) return die("vector index", err);
    double load_s = (now_ms() - t0) / 1e3;
    struct rg_vec_stats st0;
    rg_vec_stats(v, &st0);

    struct rg_search_ctx ctx = {db, v, bench_embed, NULL, g_dim};
    double *lat = malloc((size_t)queries * sizeof *lat);
    float *qv = malloc((size_t)queries * (size_t)g_dim * sizeof *qv);
    char(*qs)[64] = malloc((size_t)queries * 64);
    char(*qs2)[64] = malloc((size_t)queries * 64);
    for (int i = 0; i < queries; i++) {
        clustered(qv + (size_t)i * (size_t)g_dim);
        /* a word of rank 200..2200 and one of the 50 most frequent */
        int mid = 200 + (int)(rnd() % 2000), common = (int)(rnd() % 50);
        snprintf(qs[i], 64, "%s %s", words[common], words[mid]);
        /* the frequent word last: as a prefix it matches many words' lists */
        snprintf(qs2[i], 64, "%s %s", words[mid], words[common]);
    }
    double p[16][2];
    long hits_fts = 0;
    /* full-text */
    for (int i = 0; i < queries; i++) {
        struct rg_db_chunk_query q = {.q = qs[i], .limit = 20};
        struct rg_db_chunk_hit *h;
        size_t n;
        double a = now_ms();
        if (rg_db_chunk_search(db, u.id, &q, &h, &n, err)) return die("search", err);
        lat[i] = now_ms() - a;
        hits_fts += (long)n;
        rg_free(h);
    }
    pct(lat, queries, &p[0][0], &p[0][1]);
    for (int i = 0; i < queries; i++) {
        struct rg_db_chunk_query q = {.q = qs2[i], .limit = 20};
        struct rg_db_chunk_hit *h;
        size_t n;
        double a = now_ms();
        if (rg_db_chunk_search(db, u.id, &q, &h, &n, err)) return die("search", err);
        lat[i] = now_ms() - a;
        rg_free(h);
    }
    pct(lat, queries, &p[5][0], &p[5][1]);
    struct rg_vec_hit vh[20];
    int nh;
    struct rg_vec_filter vf = {.user = u.id};
    for (int i = 0; i < queries; i++) {
        double a = now_ms();
        if (rg_vec_search(v, qv + (size_t)i * (size_t)g_dim, 20, &vf, RG_VEC_EXACT, 0, vh, &nh,
                          err))
            return die("vector", err);
        lat[i] = now_ms() - a;
    }
    pct(lat, queries, &p[1][0], &p[1][1]);
    for (int i = 0; i < queries; i++) {
        g_qvec = qv + (size_t)i * (size_t)g_dim;
        struct rg_search_query q = {
            .user = u.id, .q = qs[i], .mode = RG_SEARCH_HYBRID, .limit = 10, .exact = true};
        struct rg_search_result r;
        double a = now_ms();
        if (rg_search(&ctx, &q, &r, err)) return die("hybrid", err);
        lat[i] = now_ms() - a;
        rg_search_result_free(&r);
    }
    pct(lat, queries, &p[2][0], &p[2][1]);
    double build_s = 0, recall = 0;
    struct rg_vec_stats st1 = st0;
    p[3][0] = p[3][1] = p[4][0] = p[4][1] = 0;
    if (hnsw) {
        t0 = now_ms();
        if (rg_vec_build_graph(v, err)) return die("graph", err);
        build_s = (now_ms() - t0) / 1e3;
        rg_vec_stats(v, &st1);
        int found = 0;
        for (int i = 0; i < queries; i++) {
            struct rg_vec_hit e[20];
            int ne;
            const float *q = qv + (size_t)i * (size_t)g_dim;
            rg_vec_search(v, q, 10, &vf, RG_VEC_EXACT, 0, e, &ne, err);
            double a = now_ms();
            if (rg_vec_search(v, q, 20, &vf, RG_VEC_AUTO, 0, vh, &nh, err)) return die("hnsw", err);
            lat[i] = now_ms() - a;
            for (int x = 0; x < ne; x++)
                for (int y = 0; y < 10 && y < nh; y++)
                    if (e[x].meta.id == vh[y].meta.id) {
                        found++;
                        break;
                    }
        }
        recall = found / (10.0 * queries);
        pct(lat, queries, &p[3][0], &p[3][1]);
        for (int i = 0; i < queries; i++) {
            g_qvec = qv + (size_t)i * (size_t)g_dim;
            struct rg_search_query q = {
                .user = u.id, .q = qs[i], .mode = RG_SEARCH_HYBRID, .limit = 10};
            struct rg_search_result r;
            double a = now_ms();
            if (rg_search(&ctx, &q, &r, err)) return die("hybrid", err);
            lat[i] = now_ms() - a;
            rg_search_result_free(&r);
        }
        pct(lat, queries, &p[4][0], &p[4][1]);
    }
    printf(
        "{\"chunks\": %ld, \"dim\": %d, \"queries\": %d, \"isa\": \"%s\", \"fill_s\": %.1f,"
        " \"index_load_s\": %.2f, \"index_bytes\": %zu, \"fts_p50_ms\": %.2f, \"fts_p99_ms\": %.2f,"
        " \"fts_hits_avg\": %.1f, \"fts_prefix_common_p50_ms\": %.2f, "
        "\"fts_prefix_common_p99_ms\": %.2f, \"vec_exact_p50_ms\": %.2f, \"vec_exact_p99_ms\": "
        "%.2f,"
        " \"hybrid_exact_p50_ms\": %.2f, \"hybrid_exact_p99_ms\": %.2f, \"hnsw_build_s\": %.1f,"
        " \"hnsw_ef_construction\": %d, \"hnsw_bytes\": %zu, \"graph_bytes\": %zu,"
        " \"hnsw_recall10\": %.3f, \"vec_hnsw_p50_ms\": %.2f, \"vec_hnsw_p99_ms\": %.2f,"
        " \"hybrid_hnsw_p50_ms\": %.2f, \"hybrid_hnsw_p99_ms\": %.2f}\n",
        chunks, g_dim, queries, rg_vec_isa(), fill_s, load_s, st0.bytes, p[0][0], p[0][1],
        (double)hits_fts / queries, p[5][0], p[5][1], p[1][0], p[1][1], p[2][0], p[2][1], build_s,
        efc, st1.bytes, st1.graph_bytes, recall, p[3][0], p[3][1], p[4][0], p[4][1]);
    rg_vec_free(v);
    rg_db_close(db);
    if (!keep) {
        unlink(path);
        char w[300];
        snprintf(w, sizeof w, "%s-wal", path);
        unlink(w);
        snprintf(w, sizeof w, "%s-shm", path);
        unlink(w);
    }
    free(words);
    free(g_centres);
    free(vec);
    free(lat);
    free(qv);
    free(qs);
    free(qs2);
    return 0;
}
