/*
 * What db.c (the pool and argument checks) shares with the backends
 * (db_sqlite.c, db_pg.c). A backend is a table of functions over one
 * connection; db.c has already validated the arguments (lengths, roles, ids)
 * and holds the connection exclusively for the duration of a call.
 */
#ifndef RG_DB_INTERNAL_H
#define RG_DB_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "db/db.h"

/* The number of migrations this binary knows; both backends have exactly
 * these versions, with the same meaning. */
#define RG_DB_LATEST 8

/* The words of a search query as db.c cut them (rg_db_search_words): each
 * a run of ASCII letters and digits or bytes >= 0x80 (never a quote, an
 * operator or a space), so a backend can quote them in its own query
 * language without the user's text ever being parsed as that language.
 * Every word must match; the last one may be a prefix. */
#define RG_DB_SEARCH_WORDS_MAX 32
#define RG_DB_SEARCH_Q_MAX 512 /* bytes of a query */
struct rg_db_words {
    int n;
    char buf[RG_DB_SEARCH_Q_MAX + 1]; /* the words, each NUL-ended, one after another */
    const char *w[RG_DB_SEARCH_WORDS_MAX];
};

struct rg_db_ops {
    const char *name;
    /* url is the whole --db value. */
    int (*connect)(const char *url, int busy_ms, void **conn, char *err);
    void (*disconnect)(void *conn);
    int (*migrate)(void *conn, int *applied, char *err);
    int (*version)(void *conn, int *current, char *err);

    int (*user_create)(void *c, const struct rg_db_new_user *u, struct rg_db_user *out, char *err);
    int (*user_get)(void *c, int64_t id, struct rg_db_user *out, char *err);
    int (*user_by_email)(void *c, const char *email, struct rg_db_user *out, char *err);
    int (*user_list)(void *c, struct rg_db_user **out, size_t *n, char *err);
    int (*user_count)(void *c, int64_t *n, char *err);
    int (*user_update)(void *c, int64_t id, const struct rg_db_user_change *ch, int64_t now,
                       struct rg_db_user *out, char *err);

    int (*login)(void *c, const char *email, const char *addr, int window_s, int64_t now,
                 struct rg_db_login *out, char *err);
    int (*login_succeeded)(void *c, int64_t attempt_id, char *err);

    int (*session_create)(void *c, int64_t user_id, const char *token_hash, int64_t expires_at,
                          const char *ua, int64_t now, struct rg_db_session *out, char *err);
    int (*session_validate)(void *c, const char *token_hash, int64_t now, struct rg_db_session *s,
                            struct rg_db_user *u, char *err);
    int (*session_rotate)(void *c, const char *old_hash, const char *new_hash, int64_t new_expires,
                          const char *ua, int64_t now, struct rg_db_session *s,
                          struct rg_db_user *u, bool *reuse, char *err);
    int (*session_revoke)(void *c, const char *token_hash, int64_t now, char *err);
    int (*session_revoke_user)(void *c, int64_t user_id, int64_t now, char *err);
    int (*token_state)(void *c, int64_t user_id, const char *family, struct rg_db_token_state *out,
                       char *err);

    int (*identity_link)(void *c, const struct rg_db_identity_in *in, struct rg_db_user *out,
                         bool *created, char *err);

    int (*apikey_create)(void *c, int64_t user_id, const char *name, const char *prefix,
                         const char *key_hash, const char *scopes, int64_t now,
                         struct rg_db_apikey *out, char *err);
    int (*apikey_list)(void *c, int64_t user_id, struct rg_db_apikey **out, size_t *n, char *err);
    int (*apikey_revoke)(void *c, int64_t id, int64_t owner, int64_t now, char *err);
    int (*apikey_lookup)(void *c, const char *prefix, int64_t now, struct rg_db_apikey *k,
                         char hash_out[72], struct rg_db_user *owner, char *err);

    /* background jobs (jobs_sqlite.c, jobs_pg.c); db.c validated the arguments */
    int (*job_enqueue)(void *c, const struct rg_db_job_new *n, int64_t *id, char *err);
    int (*job_get)(void *c, int64_t id, struct rg_db_job *out, char *err);
    int (*job_list)(void *c, int64_t owner, int limit, struct rg_db_job **out, size_t *n,
                    char *err);
    int (*job_claim)(void *c, const char *worker, const char *kinds, int64_t now, int lease_ms,
                     struct rg_db_job *out, char *err);
    int (*job_heartbeat)(void *c, int64_t id, const char *worker, int attempt, int64_t now,
                         int lease_ms, bool *cancel, char *err);
    int (*job_progress)(void *c, int64_t id, const char *worker, int attempt, double progress,
                        const char *message, int64_t now, int lease_ms, bool *cancel, char *err);
    int (*job_finish)(void *c, int64_t id, const char *worker, int attempt,
                      enum rg_db_job_state state, const char *result, int64_t now, char *err);
    int (*job_fail)(void *c, int64_t id, const char *worker, int attempt, const char *error,
                    int64_t now, int64_t backoff_ms, int64_t backoff_max_ms,
                    enum rg_db_job_state *state, char *err);
    int (*job_cancel)(void *c, int64_t id, int64_t owner, int64_t now, enum rg_db_job_state *state,
                      char *err);
    int (*job_requeue_stale)(void *c, const char *worker, int64_t now, bool refund, int64_t *n,
                             char *err);
    int (*job_counts)(void *c, int64_t counts[RG_DB_JOB_N_STATES], char *err);

    /* signed-in devices (conv_sqlite.c, conv_pg.c) */
    int (*session_list)(void *c, int64_t user_id, int64_t now, struct rg_db_device **out, size_t *n,
                        char *err);
    int (*session_revoke_family)(void *c, int64_t user_id, const char *family, const char *except,
                                 int64_t now, int64_t *n, char *err);

    /* conversations (conv_sqlite.c, conv_pg.c). db.c validated and normalised
     * the arguments: strings of a _new are never NULL (settings "{}"), tags
     * are normalised; in a _change NULL still means "keep". words: the
     * query's words, see rg_db_search_words (NULL: no search). */
    int (*conv_create)(void *c, const struct rg_db_conv_new *n, struct rg_db_conv *out, char *err);
    int (*conv_get)(void *c, int64_t owner, int64_t id, struct rg_db_conv *out, char *err);
    int (*conv_list)(void *c, int64_t owner, const struct rg_db_conv_filter *f,
                     const struct rg_db_words *words, struct rg_db_conv **out, size_t *n,
                     bool *more, char *err);
    int (*conv_update)(void *c, int64_t owner, int64_t id, const struct rg_db_conv_change *ch,
                       struct rg_db_conv *out, char *err);
    int (*conv_delete)(void *c, int64_t owner, int64_t id, char *err);
    int (*msg_add)(void *c, int64_t owner, const struct rg_db_msg_new *n, struct rg_db_msg *out,
                   char *err);
    int (*msg_finish)(void *c, int64_t owner, int64_t id, const struct rg_db_msg_end *e,
                      struct rg_db_msg *out, char *err);
    int (*msg_get)(void *c, int64_t owner, int64_t id, struct rg_db_msg *out, char *err);
    int (*msg_list)(void *c, int64_t owner, int64_t conv_id, struct rg_db_msg **out, size_t *n,
                    char *err);
    int (*msg_branch)(void *c, int64_t owner, int64_t conv_id, int64_t leaf, struct rg_db_msg **out,
                      size_t *n, char *err);
    int (*conv_set_active)(void *c, int64_t owner, int64_t conv_id, int64_t msg_id, bool descend,
                           int64_t *leaf, char *err);
    int (*msg_delete)(void *c, int64_t owner, int64_t id, int64_t now, int64_t *n, char *err);
    int (*thread_list)(void *c, int64_t owner, int64_t conv_id, struct rg_db_thread **out,
                       size_t *n, char *err);
    int (*thread_update)(void *c, int64_t owner, int64_t thread_id, const char *title,
                         int collapsed, int64_t summary_id, struct rg_db_thread *out, char *err);
    int (*msg_move)(void *c, int64_t owner, int64_t msg_id, int64_t thread_id,
                    const char *new_title, int64_t now, struct rg_db_thread *out, char *err);

    /* the library (lib_sqlite.c, lib_pg.c). db.c validated and normalised the
     * arguments: strings of a _new are never NULL, tags normalised; in a
     * _change NULL still means "keep"; colls is the query's collection ids
     * as "1,2,3" (NULL: any visible); words NULL: no words (locate only). */
    int (*lib_coll_create)(void *c, const struct rg_db_collection_new *n,
                           struct rg_db_collection *out, char *err);
    int (*lib_coll_get)(void *c, int64_t user, int64_t id, struct rg_db_collection *out, char *err);
    int (*lib_coll_list)(void *c, int64_t user, struct rg_db_collection **out, size_t *n,
                         char *err);
    int (*lib_coll_update)(void *c, int64_t user, int64_t id,
                           const struct rg_db_collection_change *ch, struct rg_db_collection *out,
                           char *err);
    int (*lib_coll_delete)(void *c, int64_t user, int64_t id, char *err);
    int (*lib_folder_add)(void *c, int64_t user, int64_t coll, const char *path, int64_t now,
                          struct rg_db_lib_folder *out, char *err);
    int (*lib_folder_list)(void *c, int64_t user, struct rg_db_lib_folder **out, size_t *n,
                           char *err);
    int (*lib_folder_remove)(void *c, int64_t user, int64_t id, char *err);
    int (*lib_doc_create)(void *c, const struct rg_db_doc_new *n, struct rg_db_document *out,
                          char *err);
    int (*lib_doc_get)(void *c, int64_t user, int64_t id, struct rg_db_document *out, char *err);
    int (*lib_doc_by_path)(void *c, int64_t user, int64_t folder, const char *source,
                           struct rg_db_document *out, char *err);
    int (*lib_doc_list)(void *c, int64_t user, const struct rg_db_doc_filter *f,
                        struct rg_db_document **out, size_t *n, bool *more, char *err);
    int (*lib_doc_set_state)(void *c, int64_t user, int64_t id, int state, double progress,
                             const char *error, int64_t now, char *err);
    int (*lib_doc_update)(void *c, int64_t user, int64_t id, const struct rg_db_doc_change *ch,
                          struct rg_db_document *out, char *err);
    int (*lib_doc_delete)(void *c, int64_t user, int64_t id, char *err);
    int (*lib_chunks_replace)(void *c, int64_t user, int64_t doc, const struct rg_db_chunk *ch,
                              size_t n, int64_t *ids, int64_t now, char *err);
    int (*lib_chunks_embed)(void *c, int64_t user, const int64_t *ids, size_t n, const float *vecs,
                            int dim, const char *model, char *err);
    int (*lib_chunk_get)(void *c, int64_t user, int64_t id, struct rg_db_chunk *out,
                         struct rg_db_document *doc, char *err);
    int (*lib_chunk_list)(void *c, int64_t user, int64_t doc, int from, int limit,
                          struct rg_db_chunk **out, size_t *n, char *err);
    int (*lib_vec_page)(void *c, const char *model, int64_t after, int limit,
                        struct rg_db_vec_page *out, char *err);
    int (*lib_vec_stats)(void *c, const char *model, int64_t *count, int64_t *max_id, char *err);
    int (*lib_chunk_search)(void *c, int64_t user, const struct rg_db_chunk_query *q,
                            const char *colls, const struct rg_db_words *words,
                            struct rg_db_chunk_hit **out, size_t *n, char *err);
    int (*lib_chunk_locate)(void *c, int64_t user, const int64_t *ids, size_t n,
                            const struct rg_db_chunk_query *q, const char *colls,
                            const struct rg_db_words *words, struct rg_db_chunk_hit **out,
                            size_t *n_out, char *err);
};

extern const struct rg_db_ops rg_db_sqlite_ops;
extern const struct rg_db_ops rg_db_pg_ops;

/* The jobs migration of each backend (its SQL lives beside its code). */
extern const char rg_db_sqlite_jobs_migration[];
extern const char *const rg_db_pg_jobs_migration[];

/* The job operations of each backend, for the backends' tables. */
int rg_db_sqlite_job_enqueue(void *c, const struct rg_db_job_new *n, int64_t *id, char *err);
int rg_db_sqlite_job_get(void *c, int64_t id, struct rg_db_job *out, char *err);
int rg_db_sqlite_job_list(void *c, int64_t owner, int limit, struct rg_db_job **out, size_t *n,
                          char *err);
int rg_db_sqlite_job_claim(void *c, const char *worker, const char *kinds, int64_t now,
                           int lease_ms, struct rg_db_job *out, char *err);
int rg_db_sqlite_job_heartbeat(void *c, int64_t id, const char *worker, int attempt, int64_t now,
                               int lease_ms, bool *cancel, char *err);
int rg_db_sqlite_job_progress(void *c, int64_t id, const char *worker, int attempt, double progress,
                              const char *message, int64_t now, int lease_ms, bool *cancel,
                              char *err);
int rg_db_sqlite_job_finish(void *c, int64_t id, const char *worker, int attempt,
                            enum rg_db_job_state state, const char *result, int64_t now, char *err);
int rg_db_sqlite_job_fail(void *c, int64_t id, const char *worker, int attempt, const char *error,
                          int64_t now, int64_t backoff_ms, int64_t backoff_max_ms,
                          enum rg_db_job_state *state, char *err);
int rg_db_sqlite_job_cancel(void *c, int64_t id, int64_t owner, int64_t now,
                            enum rg_db_job_state *state, char *err);
int rg_db_sqlite_job_requeue_stale(void *c, const char *worker, int64_t now, bool refund,
                                   int64_t *n, char *err);
int rg_db_sqlite_job_counts(void *c, int64_t counts[RG_DB_JOB_N_STATES], char *err);

int rg_db_pg_job_enqueue(void *c, const struct rg_db_job_new *n, int64_t *id, char *err);
int rg_db_pg_job_get(void *c, int64_t id, struct rg_db_job *out, char *err);
int rg_db_pg_job_list(void *c, int64_t owner, int limit, struct rg_db_job **out, size_t *n,
                      char *err);
int rg_db_pg_job_claim(void *c, const char *worker, const char *kinds, int64_t now, int lease_ms,
                       struct rg_db_job *out, char *err);
int rg_db_pg_job_heartbeat(void *c, int64_t id, const char *worker, int attempt, int64_t now,
                           int lease_ms, bool *cancel, char *err);
int rg_db_pg_job_progress(void *c, int64_t id, const char *worker, int attempt, double progress,
                          const char *message, int64_t now, int lease_ms, bool *cancel, char *err);
int rg_db_pg_job_finish(void *c, int64_t id, const char *worker, int attempt,
                        enum rg_db_job_state state, const char *result, int64_t now, char *err);
int rg_db_pg_job_fail(void *c, int64_t id, const char *worker, int attempt, const char *error,
                      int64_t now, int64_t backoff_ms, int64_t backoff_max_ms,
                      enum rg_db_job_state *state, char *err);
int rg_db_pg_job_cancel(void *c, int64_t id, int64_t owner, int64_t now,
                        enum rg_db_job_state *state, char *err);
int rg_db_pg_job_requeue_stale(void *c, const char *worker, int64_t now, bool refund, int64_t *n,
                               char *err);
int rg_db_pg_job_counts(void *c, int64_t counts[RG_DB_JOB_N_STATES], char *err);

/* The back-off before retry number `attempts` (1-based count of attempts
 * made): min(base * 2^(attempts-1), max), overflow-safe. */
int64_t rg_db_job_backoff(int attempts, int64_t base, int64_t max);

/* Copies src into a fixed field, truncating (fields are sized above what db.c
 * accepts, so truncation never happens for validated input). */
void rg_db_copy(char *dst, size_t size, const char *src);

/* A random family id (32 hex characters) for a new session family. */
int rg_db_family_new(char out[40]);

/* The conversation migration of each backend and their operation tables'
 * entries (conv_sqlite.c, conv_pg.c). */
extern const char rg_db_sqlite_conv_migration[];
extern const char *const rg_db_pg_conv_migration[];
#define RG_DB_CONV_OPS_DECL(be)                                                                    \
    int rg_db_##be##_session_list(void *c, int64_t user_id, int64_t now,                           \
                                  struct rg_db_device **out, size_t *n, char *err);                \
    int rg_db_##be##_session_revoke_family(void *c, int64_t user_id, const char *family,           \
                                           const char *except, int64_t now, int64_t *n,            \
                                           char *err);                                             \
    int rg_db_##be##_conv_create(void *c, const struct rg_db_conv_new *n, struct rg_db_conv *out,  \
                                 char *err);                                                       \
    int rg_db_##be##_conv_get(void *c, int64_t owner, int64_t id, struct rg_db_conv *out,          \
                              char *err);                                                          \
    int rg_db_##be##_conv_list(void *c, int64_t owner, const struct rg_db_conv_filter *f,          \
                               const struct rg_db_words *words, struct rg_db_conv **out,           \
                               size_t *n, bool *more, char *err);                                  \
    int rg_db_##be##_conv_update(void *c, int64_t owner, int64_t id,                               \
                                 const struct rg_db_conv_change *ch, struct rg_db_conv *out,       \
                                 char *err);                                                       \
    int rg_db_##be##_conv_delete(void *c, int64_t owner, int64_t id, char *err);                   \
    int rg_db_##be##_msg_add(void *c, int64_t owner, const struct rg_db_msg_new *n,                \
                             struct rg_db_msg *out, char *err);                                    \
    int rg_db_##be##_msg_finish(void *c, int64_t owner, int64_t id, const struct rg_db_msg_end *e, \
                                struct rg_db_msg *out, char *err);                                 \
    int rg_db_##be##_msg_get(void *c, int64_t owner, int64_t id, struct rg_db_msg *out,            \
                             char *err);                                                           \
    int rg_db_##be##_msg_list(void *c, int64_t owner, int64_t conv_id, struct rg_db_msg **out,     \
                              size_t *n, char *err);                                               \
    int rg_db_##be##_msg_branch(void *c, int64_t owner, int64_t conv_id, int64_t leaf,             \
                                struct rg_db_msg **out, size_t *n, char *err);                     \
    int rg_db_##be##_conv_set_active(void *c, int64_t owner, int64_t conv_id, int64_t msg_id,      \
                                     bool descend, int64_t *leaf, char *err);                      \
    int rg_db_##be##_msg_delete(void *c, int64_t owner, int64_t id, int64_t now, int64_t *n,       \
                                char *err);                                                        \
    int rg_db_##be##_thread_list(void *c, int64_t owner, int64_t conv_id,                          \
                                 struct rg_db_thread **out, size_t *n, char *err);                 \
    int rg_db_##be##_thread_update(void *c, int64_t owner, int64_t thread_id, const char *title,   \
                                   int collapsed, int64_t summary_id, struct rg_db_thread *out,    \
                                   char *err);                                                     \
    int rg_db_##be##_msg_move(void *c, int64_t owner, int64_t msg_id, int64_t thread_id,           \
                              const char *new_title, int64_t now, struct rg_db_thread *out,        \
                              char *err)
RG_DB_CONV_OPS_DECL(sqlite);
RG_DB_CONV_OPS_DECL(pg);

/* The entries of a backend's table for the operations above. */
#define RG_DB_CONV_OPS(be)                                                                         \
    .session_list = rg_db_##be##_session_list,                                                     \
    .session_revoke_family = rg_db_##be##_session_revoke_family,                                   \
    .conv_create = rg_db_##be##_conv_create, .conv_get = rg_db_##be##_conv_get,                    \
    .conv_list = rg_db_##be##_conv_list, .conv_update = rg_db_##be##_conv_update,                  \
    .conv_delete = rg_db_##be##_conv_delete, .msg_add = rg_db_##be##_msg_add,                      \
    .msg_finish = rg_db_##be##_msg_finish, .msg_get = rg_db_##be##_msg_get,                        \
    .msg_list = rg_db_##be##_msg_list, .msg_branch = rg_db_##be##_msg_branch,                      \
    .conv_set_active = rg_db_##be##_conv_set_active, .msg_delete = rg_db_##be##_msg_delete,        \
    .thread_list = rg_db_##be##_thread_list, .thread_update = rg_db_##be##_thread_update,          \
    .msg_move = rg_db_##be##_msg_move

/* SQLite: a search whose words match this many messages or more walks the
 * list in order instead of grouping every match (conv_sqlite.c); 2000. A
 * variable so that the tests hold both ways to the same answers. */
extern size_t rg_db_sqlite_walk_min;

/* Cuts q into words (see struct rg_db_words). RG_EINVAL when q is too long
 * or has too many words; w->n 0 when it has none. */
int rg_db_search_words(const char *q, struct rg_db_words *w, char *err);

/*
 * A snippet of text around the first place where one of w's words starts a
 * word (the last one as a prefix; ASCII letters compared without case) into
 * out (size >= 244): at most 240 bytes of whole UTF-8 characters, line
 * breaks as spaces, "…" where text was cut. false (out "") when no word is
 * found that way (a match through Unicode case folding or diacritics).
 */
bool rg_db_snippet(const char *text, const struct rg_db_words *w, char *out, size_t size);

/* The longest prefix of s (at most max bytes) that ends on a whole UTF-8
 * character, copied into out (max + 1 bytes). */
void rg_db_copy_utf8(char *out, size_t max, const char *s);

/* The library migration of each backend and their operation tables' entries
 * (lib_sqlite.c, lib_pg.c). */
extern const char rg_db_sqlite_lib_migration[];
extern const char *const rg_db_pg_lib_migration[];
#define RG_DB_LIB_OPS_DECL(be)                                                                     \
    int rg_db_##be##_lib_coll_create(void *c, const struct rg_db_collection_new *n,                \
                                     struct rg_db_collection *out, char *err);                     \
    int rg_db_##be##_lib_coll_get(void *c, int64_t user, int64_t id, struct rg_db_collection *out, \
                                  char *err);                                                      \
    int rg_db_##be##_lib_coll_list(void *c, int64_t user, struct rg_db_collection **out,           \
                                   size_t *n, char *err);                                          \
    int rg_db_##be##_lib_coll_update(void *c, int64_t user, int64_t id,                            \
                                     const struct rg_db_collection_change *ch,                     \
                                     struct rg_db_collection *out, char *err);                     \
    int rg_db_##be##_lib_coll_delete(void *c, int64_t user, int64_t id, char *err);                \
    int rg_db_##be##_lib_folder_add(void *c, int64_t user, int64_t coll, const char *path,         \
                                    int64_t now, struct rg_db_lib_folder *out, char *err);         \
    int rg_db_##be##_lib_folder_list(void *c, int64_t user, struct rg_db_lib_folder **out,         \
                                     size_t *n, char *err);                                        \
    int rg_db_##be##_lib_folder_remove(void *c, int64_t user, int64_t id, char *err);              \
    int rg_db_##be##_lib_doc_create(void *c, const struct rg_db_doc_new *n,                        \
                                    struct rg_db_document *out, char *err);                        \
    int rg_db_##be##_lib_doc_get(void *c, int64_t user, int64_t id, struct rg_db_document *out,    \
                                 char *err);                                                       \
    int rg_db_##be##_lib_doc_by_path(void *c, int64_t user, int64_t folder, const char *source,    \
                                     struct rg_db_document *out, char *err);                       \
    int rg_db_##be##_lib_doc_list(void *c, int64_t user, const struct rg_db_doc_filter *f,         \
                                  struct rg_db_document **out, size_t *n, bool *more, char *err);  \
    int rg_db_##be##_lib_doc_set_state(void *c, int64_t user, int64_t id, int state,               \
                                       double progress, const char *error, int64_t now,            \
                                       char *err);                                                 \
    int rg_db_##be##_lib_doc_update(void *c, int64_t user, int64_t id,                             \
                                    const struct rg_db_doc_change *ch, struct rg_db_document *out, \
                                    char *err);                                                    \
    int rg_db_##be##_lib_doc_delete(void *c, int64_t user, int64_t id, char *err);                 \
    int rg_db_##be##_lib_chunks_replace(void *c, int64_t user, int64_t doc,                        \
                                        const struct rg_db_chunk *ch, size_t n, int64_t *ids,      \
                                        int64_t now, char *err);                                   \
    int rg_db_##be##_lib_chunks_embed(void *c, int64_t user, const int64_t *ids, size_t n,         \
                                      const float *vecs, int dim, const char *model, char *err);   \
    int rg_db_##be##_lib_chunk_get(void *c, int64_t user, int64_t id, struct rg_db_chunk *out,     \
                                   struct rg_db_document *doc, char *err);                         \
    int rg_db_##be##_lib_chunk_list(void *c, int64_t user, int64_t doc, int from, int limit,       \
                                    struct rg_db_chunk **out, size_t *n, char *err);               \
    int rg_db_##be##_lib_vec_page(void *c, const char *model, int64_t after, int limit,            \
                                  struct rg_db_vec_page *out, char *err);                          \
    int rg_db_##be##_lib_vec_stats(void *c, const char *model, int64_t *count, int64_t *max_id,    \
                                   char *err);                                                     \
    int rg_db_##be##_lib_chunk_search(void *c, int64_t user, const struct rg_db_chunk_query *q,    \
                                      const char *colls, const struct rg_db_words *words,          \
                                      struct rg_db_chunk_hit **out, size_t *n, char *err);         \
    int rg_db_##be##_lib_chunk_locate(void *c, int64_t user, const int64_t *ids, size_t n,         \
                                      const struct rg_db_chunk_query *q, const char *colls,        \
                                      const struct rg_db_words *words,                             \
                                      struct rg_db_chunk_hit **out, size_t *n_out, char *err)
RG_DB_LIB_OPS_DECL(sqlite);
RG_DB_LIB_OPS_DECL(pg);

#define RG_DB_LIB_OPS(be)                                                                          \
    .lib_coll_create = rg_db_##be##_lib_coll_create, .lib_coll_get = rg_db_##be##_lib_coll_get,    \
    .lib_coll_list = rg_db_##be##_lib_coll_list, .lib_coll_update = rg_db_##be##_lib_coll_update,  \
    .lib_coll_delete = rg_db_##be##_lib_coll_delete,                                               \
    .lib_folder_add = rg_db_##be##_lib_folder_add,                                                 \
    .lib_folder_list = rg_db_##be##_lib_folder_list,                                               \
    .lib_folder_remove = rg_db_##be##_lib_folder_remove,                                           \
    .lib_doc_create = rg_db_##be##_lib_doc_create, .lib_doc_get = rg_db_##be##_lib_doc_get,        \
    .lib_doc_by_path = rg_db_##be##_lib_doc_by_path, .lib_doc_list = rg_db_##be##_lib_doc_list,    \
    .lib_doc_set_state = rg_db_##be##_lib_doc_set_state,                                           \
    .lib_doc_update = rg_db_##be##_lib_doc_update, .lib_doc_delete = rg_db_##be##_lib_doc_delete,  \
    .lib_chunks_replace = rg_db_##be##_lib_chunks_replace,                                         \
    .lib_chunks_embed = rg_db_##be##_lib_chunks_embed,                                             \
    .lib_chunk_get = rg_db_##be##_lib_chunk_get, .lib_chunk_list = rg_db_##be##_lib_chunk_list,    \
    .lib_vec_page = rg_db_##be##_lib_vec_page, .lib_vec_stats = rg_db_##be##_lib_vec_stats,        \
    .lib_chunk_search = rg_db_##be##_lib_chunk_search,                                             \
    .lib_chunk_locate = rg_db_##be##_lib_chunk_locate

/*
 * A library snippet (both backends): at most RG_DB_LIB_SNIPPET_MAX bytes of
 * whole UTF-8 characters of text around the first word of w found (word
 * starts, ASCII letters without case, the last word as a prefix), each word
 * found there wrapped in RG_DB_LIB_MARK_ON/OFF, line breaks as spaces, "…"
 * where text was cut. w NULL or no word found: the text's start, unmarked.
 * out has RG_DB_LIB_SNIPPET_MAX + 1 bytes at least.
 */
void rg_db_lib_snippet(const char *text, const struct rg_db_words *w, char *out, size_t size);

/* ---- for the modules' own files (db.c; mem.c, surv.c, msgvec.c) ---------- */

/* Takes a free pooled connection, waiting up to the pool's wait: its slot,
 * or -1 (err set) on time out. rg_db_conn_release() gives it back. */
/* The pool (db.c). */
struct rg_db {
    const struct rg_db_ops *ops;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void **conns; /* n_conns, free ones have busy[i] == false */
    bool *busy;
    int n_conns;
    int wait_ms;
};

int rg_db_conn_acquire(struct rg_db *db, char *err);
void rg_db_conn_release(struct rg_db *db, int slot);

/* Runs `call` (an expression using `c`, the connection) on a pooled
 * connection and returns its result from the enclosing function. */
#define WITH_CONN(db, err, call)                                                                   \
    do {                                                                                           \
        int slot_ = rg_db_conn_acquire((db), (err));                                               \
        if (slot_ < 0) return RG_EBUSY;                                                            \
        void *c = (db)->conns[slot_];                                                              \
        int rc_ = (call);                                                                          \
        rg_db_conn_release((db), slot_);                                                           \
        return rc_;                                                                                \
    } while (0)

/* s NULL: required ? EINVAL : OK; else under max bytes, no control
 * character but tab, and not "" when required. */
int rg_db_check_text(const char *what, const char *s, size_t max, bool required, char *err);

/*
 * Migrations 6-8 (issue 17), one per module, each in the module's own files:
 * memory (glossary, ratings, styles, conversation type, memory settings:
 * mem_sqlite.c / mem_pg.c), survival (surv_sqlite.c / surv_pg.c) and
 * message vectors (msgvec_sqlite.c / msgvec_pg.c). The module's operations
 * are its own (mem.c etc. pick the backend by rg_db_backend()), not entries
 * of struct rg_db_ops.
 */
extern const char rg_db_sqlite_mem_migration[];
extern const char *const rg_db_pg_mem_migration[];
extern const char rg_db_sqlite_surv_migration[];
extern const char *const rg_db_pg_surv_migration[];
extern const char rg_db_sqlite_msgvec_migration[];
extern const char *const rg_db_pg_msgvec_migration[];

#endif
