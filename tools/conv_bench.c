/*
 * conv_bench: how fast the kept-conversation list and search answer on
 * SQLite with a heavy user's history.
 *
 * Fills a throw-away database with 10,000 conversations and 100,000
 * messages for one user (10 a conversation, a chain of question and answer,
 * about 40 words each from a Zipf-distributed vocabulary) and 1,000
 * conversations of another user, written by plain SQL in one transaction
 * (the FTS5 triggers of migration 4 index them as rg_db_msg_add would), then
 * times through the db.h interface, a few hundred calls each:
 *   - the first page of the list (limit 50),
 *   - page 20 of it (offset 950),
 *   - a search by the most common word,
 *   - a search by a word that occurs in five messages.
 * Prints one JSON object: {"conversations":..,"messages":..,"fill_s":..,
 * "list_first_p50_ms":..,"list_first_p99_ms":..,"list_page20_p50_ms":..,
 * "list_page20_p99_ms":..,"search_common_p50_ms":..,"search_common_p99_ms":..,
 * "search_common_hits":..,"search_rare_p50_ms":..,"search_rare_p99_ms":..,
 * "search_rare_hits":..}. Goal: every p99 under 50 ms.
 *
 *   conv_bench [--convs N] [--calls N] [--keep PATH]
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "db/db.h"

#define MSGS_PER_CONV 10
#define VOCAB 4000
#define RARE "quokkaberry"

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

/* A pronounceable word for rank i (distinct for distinct i). */
static void make_word(int i, char *out)
{
    static const char *const syl[] = {"ka", "lo", "mi", "ne", "ru", "ta", "vo", "si",
                                      "pe", "da", "gu", "ha", "zo", "be", "fi", "ly"};
    int n = 0;
    int v = i + 16;
    while (v > 0) {
        memcpy(out + n, syl[v % 16], 2);
        n += 2;
        v /= 16;
    }
    memcpy(out + n, "n", 2);
}

static char g_words[VOCAB][16];
static double g_cdf[VOCAB];

static const char *zipf_word(void)
{
    double u = (double)(rnd() % 1000000) / 1e6;
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (g_cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return g_words[lo];
}

static void text(char *out, size_t size, int words)
{
    size_t o = 0;
    for (int i = 0; i < words && o + 20 < size; i++)
        o += (size_t)snprintf(out + o, size - o, "%s%s", i ? " " : "", zipf_word());
}

static int step(sqlite3 *c, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) fprintf(stderr, "conv_bench: %s\n", sqlite3_errmsg(c));
    return rc == SQLITE_DONE ? 0 : 1;
}

/* Conversations for owner written straight into the file. */
static int fill(sqlite3 *c, int64_t owner, int convs, int64_t *msg_count, int *rare_left)
{
    sqlite3_stmt *cv = NULL, *th = NULL, *up = NULL, *ms = NULL;
    int bad = sqlite3_prepare_v2(c,
                                 "INSERT INTO conversations(owner_id, title, title_auto, tags,"
                                 " pinned, created_at, updated_at) VALUES (?1, ?2, 0, ?3, ?4, ?5,"
                                 " ?5)",
                                 -1, &cv, NULL) ||
              sqlite3_prepare_v2(c, "INSERT INTO threads(conv_id, created_at) VALUES (?1, ?2)", -1,
                                 &th, NULL) ||
              sqlite3_prepare_v2(c,
                                 "UPDATE conversations SET main_thread = ?2, active_leaf = ?3"
                                 " WHERE id = ?1",
                                 -1, &up, NULL) ||
              sqlite3_prepare_v2(c,
                                 "INSERT INTO messages(conv_id, thread_id, parent_id, type, role,"
                                 " content, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4,"
                                 " ?5, ?6, ?6)",
                                 -1, &ms, NULL);
    char title[128], body[1024];
    for (int i = 0; i < convs && !bad; i++) {
        int64_t t = 1700000000000LL + (int64_t)i * 60000 + (int64_t)(rnd() % 30000);
        text(title, sizeof title, 4);
        sqlite3_bind_int64(cv, 1, owner);
        sqlite3_bind_text(cv, 2, title, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(cv, 3, i % 7 == 0 ? "work" : "", -1, SQLITE_STATIC);
        sqlite3_bind_int(cv, 4, i % 500 == 0);
        sqlite3_bind_int64(cv, 5, t);
        bad |= step(c, cv);
        int64_t conv = sqlite3_last_insert_rowid(c);
        sqlite3_bind_int64(th, 1, conv);
        sqlite3_bind_int64(th, 2, t);
        bad |= step(c, th);
        int64_t thread = sqlite3_last_insert_rowid(c), parent = 0;
        for (int k = 0; k < MSGS_PER_CONV && !bad; k++) {
            text(body, sizeof body, 25 + (int)(rnd() % 30));
            if (*rare_left > 0 && rnd() % 2000 == 0) {
                strcat(body, " " RARE);
                (*rare_left)--;
            }
            sqlite3_bind_int64(ms, 1, conv);
            sqlite3_bind_int64(ms, 2, thread);
            if (parent)
                sqlite3_bind_int64(ms, 3, parent);
            else
                sqlite3_bind_null(ms, 3);
            sqlite3_bind_text(ms, 4, k % 2 ? "assistant" : "user", -1, SQLITE_STATIC);
            sqlite3_bind_text(ms, 5, body, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(ms, 6, t + k);
            bad |= step(c, ms);
            parent = sqlite3_last_insert_rowid(c);
            (*msg_count)++;
        }
        sqlite3_bind_int64(up, 1, conv);
        sqlite3_bind_int64(up, 2, thread);
        sqlite3_bind_int64(up, 3, parent);
        bad |= step(c, up);
    }
    sqlite3_finalize(cv);
    sqlite3_finalize(th);
    sqlite3_finalize(up);
    sqlite3_finalize(ms);
    return bad;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Times `calls` lists with filter f: p50 and p99 in ms, *hits the rows of the last. */
static int timed(struct rg_db *db, int64_t owner, const struct rg_db_conv_filter *f, int calls,
                 double *p50, double *p99, size_t *hits)
{
    double *t = calloc((size_t)calls, sizeof *t);
    char err[RG_ERR_SIZE];
    for (int i = 0; i < calls; i++) {
        struct rg_db_conv *v = NULL;
        size_t n = 0;
        bool more = false;
        double t0 = now_ms();
        int rc = rg_db_conv_list(db, owner, f, &v, &n, &more, err);
        t[i] = now_ms() - t0;
        rg_db_conv_list_free(v, n);
        if (rc) {
            fprintf(stderr, "conv_bench: list: %s\n", err);
            free(t);
            return 1;
        }
        *hits = n;
    }
    qsort(t, (size_t)calls, sizeof *t, cmp_d);
    *p50 = t[calls / 2];
    *p99 = t[(size_t)((calls - 1) * 0.99)];
    free(t);
    return 0;
}

int main(int argc, char **argv)
{
    int convs = 10000, calls = 300;
    const char *keep = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--convs"))
            convs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--calls"))
            calls = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--keep"))
            keep = argv[i + 1];
    }
    if (convs < 1000 || calls < 10) {
        fprintf(stderr, "usage: conv_bench [--convs N>=1000] [--calls N>=10] [--keep PATH]\n");
        return 2;
    }
    double z = 0;
    for (int i = 0; i < VOCAB; i++) {
        make_word(i, g_words[i]);
        z += 1.0 / (i + 1);
        g_cdf[i] = z;
    }
    for (int i = 0; i < VOCAB; i++)
        g_cdf[i] /= z;

    char path[256], url[300], err[RG_ERR_SIZE];
    if (keep)
        snprintf(path, sizeof path, "%s", keep);
    else
        snprintf(path, sizeof path, "/tmp/rg_conv_bench_%d.db", (int)getpid());
    unlink(path);
    snprintf(url, sizeof url, "sqlite:%s", path);
    struct rg_db_params p;
    rg_db_default_params(&p);
    p.url = url;
    p.pool = 1;
    struct rg_db *db = rg_db_open(&p, err);
    struct rg_db_user a, b;
    struct rg_db_new_user na = {.email = "heavy@example.com", .pw_hash = "", .now = 1};
    struct rg_db_new_user nb = {.email = "other@example.com", .pw_hash = "", .now = 1};
    if (!db || rg_db_migrate(db, NULL, err) || rg_db_user_create(db, &na, &a, err) ||
        rg_db_user_create(db, &nb, &b, err)) {
        fprintf(stderr, "conv_bench: %s\n", err);
        return 1;
    }

    double t0 = now_ms();
    sqlite3 *c = NULL;
    int64_t msgs = 0, other_msgs = 0;
    int rare = 5, rare_other = 0;
    int bad = sqlite3_open(path, &c) != SQLITE_OK ||
              sqlite3_exec(c, "PRAGMA foreign_keys=ON; BEGIN", NULL, NULL, NULL) != SQLITE_OK;
    bad = bad || fill(c, a.id, convs, &msgs, &rare) ||
          fill(c, b.id, convs / 10, &other_msgs, &rare_other);
    /* the rare word also once in the other user's data (never to be found) */
    bad = bad || sqlite3_exec(c,
                              "UPDATE messages SET content = content || ' " RARE "' WHERE id ="
                              " (SELECT max(id) FROM messages)",
                              NULL, NULL, NULL) != SQLITE_OK;
    bad = bad || sqlite3_exec(c, "COMMIT; PRAGMA optimize; ANALYZE", NULL, NULL, NULL) != SQLITE_OK;
    if (bad) {
        fprintf(stderr, "conv_bench: fill: %s\n", c ? sqlite3_errmsg(c) : "open failed");
        return 1;
    }
    sqlite3_close(c);
    double fill_s = (now_ms() - t0) / 1e3;

    struct rg_db_conv_filter first = {.archived = 0, .limit = 50};
    struct rg_db_conv_filter page20 = {.archived = 0, .limit = 50, .offset = 19 * 50};
    struct rg_db_conv_filter common = {.q = g_words[0], .archived = 0, .limit = 50};
    struct rg_db_conv_filter rare_q = {.q = RARE, .archived = 0, .limit = 50};
    double r[8];
    size_t hits[4];
    if (timed(db, a.id, &first, calls, &r[0], &r[1], &hits[0]) ||
        timed(db, a.id, &page20, calls, &r[2], &r[3], &hits[1]) ||
        timed(db, a.id, &common, calls, &r[4], &r[5], &hits[2]) ||
        timed(db, a.id, &rare_q, calls, &r[6], &r[7], &hits[3]))
        return 1;
    printf("{\"conversations\": %d, \"messages\": %lld, \"other_user_messages\": %lld,"
           " \"fill_s\": %.1f, \"common_word\": \"%s\", \"calls\": %d,"
           " \"list_first_p50_ms\": %.2f, \"list_first_p99_ms\": %.2f,"
           " \"list_page20_p50_ms\": %.2f, \"list_page20_p99_ms\": %.2f,"
           " \"search_common_p50_ms\": %.2f, \"search_common_p99_ms\": %.2f,"
           " \"search_common_hits\": %zu, \"search_rare_p50_ms\": %.2f,"
           " \"search_rare_p99_ms\": %.2f, \"search_rare_hits\": %zu}\n",
           convs, (long long)msgs, (long long)other_msgs, fill_s, g_words[0], calls, r[0], r[1],
           r[2], r[3], r[4], r[5], hits[2], r[6], r[7], hits[3]);
    rg_db_close(db);
    if (!keep) {
        char x[300];
        unlink(path);
        snprintf(x, sizeof x, "%s-wal", path);
        unlink(x);
        snprintf(x, sizeof x, "%s-shm", path);
        unlink(x);
    }
    return 0;
}
