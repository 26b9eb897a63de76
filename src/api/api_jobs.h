/*
 * The job queue's place in the api layer (src/api/jobs.c): api.c creates it
 * with the database, starts it with the server and frees it before the
 * database closes; the routes are /jobs/... .
 */
#ifndef RG_API_JOBS_H
#define RG_API_JOBS_H

#include "api/api.h"
#include "common/buf.h"

/* Creates st->jobs on st->db with --job-workers threads and registers the
 * kinds (the test kinds only with RUSTYGPT_TEST_ROUTES=1). RG_OK or err. */
int rg_api_jobs_open(struct rg_api_state *st, char *err);
/* Starts the workers (requeuing this node's jobs a crash left running). */
int rg_api_jobs_start(struct rg_api_state *st, char *err);
/* Stops the workers and frees st->jobs (accepts none). */
void rg_api_jobs_close(struct rg_api_state *st);
/* Jobs by state as Prometheus gauges, appended to out (RG_OK, RG_ENOMEM);
 * and as a JSON object for /status (NULL when the database fails). */
int rg_api_jobs_metrics(struct rg_api_state *st, struct rg_buf *out);
json_t *rg_api_jobs_status(struct rg_api_state *st);

/* The knowledge library (library.c) over st's database, queue and engine:
 * open registers its job kinds (from rg_api_jobs_open), start adds the
 * --library folders and starts the watches (after the queue started), stop
 * ends the watches (before the queue stops), close frees (after it). */
int rg_api_library_open(struct rg_api_state *st, char *err);
/* Issue 17's job kinds (memory.c: conversation type; survival.c: tagging). */
int rg_api_memory_jobs_register(struct rg_api_state *st, char *err);
int rg_api_survival_jobs_register(struct rg_api_state *st, char *err);
int rg_api_library_start(struct rg_api_state *st, char *err);
void rg_api_library_stop(struct rg_api_state *st);
void rg_api_library_close(struct rg_api_state *st);
/* The server's library service (NULL before it is open); chat answers search it. */
struct rg_library;
struct rg_library *rg_api_library_get(struct rg_api_state *st);
/* The shapes of docs/library.md, for the routes that show library documents
 * and search results beside /library (survival.c): a document row, and the
 * /search answer's object for res (asked: the mode asked for) without its
 * "note". */
struct rg_db_document;
struct rg_search_result;
json_t *rg_api_library_document_json(const struct rg_db_document *d, int64_t user);
json_t *rg_api_library_results_json(const struct rg_search_result *res, int asked);
/* The server's embedder (--embedding-model, or the test-hash one under
 * RUSTYGPT_TEST_ROUTES=1), or NULL when none is set: for messages (memory,
 * topic shift) and classification as well as the library. */
struct rg_library_embedder;
const struct rg_library_embedder *rg_api_embedder(struct rg_api_state *st);
size_t rg_api_library_routes(struct rg_route *out, size_t max, struct rg_api_state *st);

size_t rg_api_jobs_routes(struct rg_route *out, size_t max, struct rg_api_state *st);

#endif
