/*
 * The knowledge library as a service: one per server (or per CLI command),
 * over the database (db.h "library"), the job queue and an embedder.
 *
 *   add (an upload stored under <data-dir>/library/<user>/, a file given to
 *   the CLI, or a file found in a watched folder)
 *     -> a document row (queued) and a "library.index" job
 *     -> parse (doc.h) -> chunk (chunk.h, counting the embedding model's
 *        tokens, or words without one) -> rg_db_chunks_replace
 *     -> embed in batches -> rg_db_chunks_set_embeddings -> the vector
 *        index (vec.h, one file per model in <data-dir>/library/)
 *     -> ready (or error, with the reason on the document)
 *
 * Progress is written to the job and to the document row (progress 0..1 in
 * state indexing). A file whose content hash (SHA-256) did not change is not
 * indexed again. Without an embedding model the chunks get no vectors and
 * search is full-text; rg_library_status says what is missing.
 *
 * Watched folders (--library DIR, owned by the first admin in a collection
 * named after the folder; or added through the API): watch.h over inotify,
 * and at start a scan that catches up with what changed while the server was
 * stopped (size and mtime first, then the hash). Symbolic links are followed
 * only when their target stays inside the folder; special files are skipped;
 * files over max_file_bytes are documents in state error.
 *
 * Threads: every function may be called from any thread once
 * rg_library_new returned. The watch threads and the job workers call into
 * the library; a mutex guards the watches and the vector index's opening.
 */
#ifndef RG_INDEX_LIBRARY_H
#define RG_INDEX_LIBRARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "db/db.h"
#include "index/search.h"

struct rg_jobs;
struct rg_library;

/*
 * Where the vectors come from. The api layer's embedder submits
 * RG_ENGINE_EMBED requests for --embedding-model (background priority for
 * indexing, interactive for a search query); tests may give their own.
 */
struct rg_library_embedder {
    const char *model; /* its name: stored with the vectors, shown in the status */
    /* Holds the model for a while (an indexing run, one query): *session for
     * the calls below, *dim its vectors' size, *max_tokens the most tokens an
     * input may have. RG_OK, or an error with err (the model cannot load). */
    int (*hold)(void *user, void **session, int *dim, size_t *max_tokens, char *err);
    /* Tokens of text[0..len) under the model's tokenizer (rg_chunk_count_fn). */
    size_t (*count)(const char *text, size_t len, void *session);
    /* Embeds texts[0..n) (n <= batch) into out (n * dim floats, L2-normalized).
     * RG_OK, or an error with err (nothing useful in out then). */
    int (*embed)(void *session, const char *const *texts, const size_t *lens, size_t n, float *out,
                 char *err);
    void (*release)(void *session);
    void *user;
};

/* The embedder over the engine for model id (the server's and the CLI's):
 * fills *out, whose user is le (which must outlive the library). */
struct rg_engine;
struct rg_library_engine {
    struct rg_engine *engine;
    const char *model;
};
void rg_library_engine_embedder(struct rg_library_engine *le, struct rg_engine *engine,
                                const char *model, struct rg_library_embedder *out);

/* The deterministic test embedder (hash_embed.c): words hashed into
 * RG_HASH_EMBED_DIM buckets, L2-normalised; no model. The server offers it
 * as --embedding-model test-hash only with RUSTYGPT_TEST_ROUTES=1. */
#define RG_HASH_EMBED_MODEL "test-hash"
#define RG_HASH_EMBED_DIM 256
void rg_hash_embedder(struct rg_library_embedder *out);
void rg_hash_embed_text(const char *text, size_t len, float *out); /* RG_HASH_EMBED_DIM floats */

/* Called during an indexing run with its progress (0..1) and a short line. */
typedef void (*rg_library_progress_fn)(void *user, double fraction, const char *message);

struct rg_library_params {
    struct rg_db *db;     /* migrated; outlives the library. Required */
    struct rg_jobs *jobs; /* the queue ("library.index" is registered on it, so before
                           * rg_jobs_start); NULL: the CLI, which indexes with
                           * rg_library_index itself */
    const char *data_dir; /* uploads and vector files under <data_dir>/library. Required */
    const struct rg_library_embedder *embedder; /* NULL: full-text only; copied */
    const char *const *folders; /* --library DIRs (copied); added at rg_library_start */
    size_t n_folders;
    int debounce_ms;         /* watched folders' quiet time, 1000 */
    uint64_t max_file_bytes; /* larger files are refused / documents in error, 256 MiB */
    size_t chunk_tokens;     /* most tokens a chunk holds, 256 (at most the model's input) */
    size_t overlap_tokens;   /* 32 */
    size_t embed_batch;      /* chunks per embedding request, 16 */
    bool watch;              /* start watches on the folders (the server: true) */
    /* Without a queue: told of the inline runs' progress (user: the document
     * row as it was queued); may be NULL. */
    void (*inline_progress)(void *user, const struct rg_db_document *doc, double fraction,
                            const char *message);
    void *inline_user;
};
void rg_library_default_params(struct rg_library_params *p);

/* A library over p (nothing runs yet). NULL with err: RG_EINVAL (no db or
 * data dir), RG_EEXISTS (the job kind is registered already), RG_ENOMEM. */
struct rg_library *rg_library_new(const struct rg_library_params *p, char *err);
/*
 * Adds the --library folders (to the first admin; a folder without one is
 * skipped with a warning in err and RG_OK), then for every folder in the
 * database scans it (catch-up) and, with p.watch, starts its watch.
 * A folder that cannot be watched (gone, unreadable) is logged and skipped.
 * RG_OK, RG_EIO (database), RG_ENOMEM.
 */
int rg_library_start(struct rg_library *lib, char *err);
/* Stops the watches (before the job queue stops). Accepts NULL. */
void rg_library_stop(struct rg_library *lib);
/* Stops and frees (after the job queue is freed: its workers use lib). */
void rg_library_free(struct rg_library *lib);

/* The embedding model's name, or NULL for full-text only. */
const char *rg_library_model(const struct rg_library *lib);

/* ---- documents ---- */

/*
 * An upload: data[0..len) stored as <data-dir>/library/<owner>/<id>-<name>,
 * a document in collection (one of the owner's: RG_ENOTFOUND, RG_EPERM),
 * and its index job. name: the file name as the user gave it (its last path
 * component is kept, made safe). tags may be NULL. *doc gets the row, *job
 * the job id (0 when indexed inline: no queue). RG_EINVAL (empty, no name),
 * RG_ETOOBIG (over max_file_bytes), RG_EIO, the database's codes.
 */
int rg_library_upload(struct rg_library *lib, int64_t owner, int64_t collection, const char *name,
                      const void *data, size_t len, const char *tags, struct rg_db_document *doc,
                      int64_t *job, char *err);

/*
 * Indexes document id of owner now, on this thread (the job's run function
 * and the CLI): parse, chunk, store, embed, vector index. The outcome is on
 * the document (ready, or error with the reason); the return says whether
 * the run itself could go on: RG_OK (ready or a document error such as a
 * malformed file), RG_ENOTFOUND (no such document: deleted meanwhile),
 * RG_ECANCELED (cancel() said so: the document stays queued), or a database,
 * model or memory error (the document is in error; a job retries).
 * cancel and progress may be NULL.
 */
int rg_library_index(struct rg_library *lib, int64_t owner, int64_t id,
                     rg_library_progress_fn progress, void *progress_user,
                     bool (*cancel)(void *user), void *cancel_user, char *err);

/* Deletes a document: its chunks, vectors and stored upload. RG_ENOTFOUND,
 * RG_EPERM (a shared collection of another). */
int rg_library_remove(struct rg_library *lib, int64_t owner, int64_t id, char *err);

/* The owner's own collection called name (one line, UTF-8), made when
 * missing: uploads without a collection go to "Uploads". */
int rg_library_collection_named(struct rg_library *lib, int64_t owner, const char *name,
                                int64_t *id, char *err);

/* ---- watched folders ---- */

/*
 * Watches path (a directory; its real path is stored) for owner: into
 * collection, or when collection is 0 into the owner's collection named
 * after the folder (made if missing). Catches up at once (in a job when
 * there is a queue) and starts the watch when the library watches.
 * RG_ENOTFOUND (not a directory, no such collection), RG_EEXISTS, RG_EINVAL.
 */
int rg_library_folder_add(struct rg_library *lib, int64_t owner, const char *path,
                          int64_t collection, struct rg_db_lib_folder *out, char *err);
/* Stops watching and removes the folder with its documents. RG_ENOTFOUND. */
int rg_library_folder_remove(struct rg_library *lib, int64_t owner, int64_t id, char *err);
/* Scans a folder now, on this thread: new and changed files indexed (queued,
 * or inline without a queue), deleted ones removed, renames followed.
 * *changed (may be NULL) gets how many documents it added, changed or
 * removed. RG_ENOTFOUND, the database's codes. */
int rg_library_folder_scan(struct rg_library *lib, int64_t owner, int64_t id, size_t *changed,
                           char *err);

/* ---- search and status ---- */

/* rg_search() with the library's database, vector index and embedder. */
int rg_library_search(struct rg_library *lib, const struct rg_search_query *q,
                      struct rg_search_result *out, char *err);

/* What a user's library looks like (a new JSON object, NULL on ENOMEM):
 * documents by state, chunks, collections, folders, the embedding model (or
 * null) with the vector count, and "missing": a list of what is not set up
 * ("no embedding model: full-text search only; set --embedding-model"). */
json_t *rg_library_status(struct rg_library *lib, int64_t user);

#endif
