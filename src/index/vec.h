/*
 * The vector index: one per embedding model, chunk id -> unit vector, for
 * cosine similarity (vectors are normalised on add, so a score is a dot
 * product).
 *
 * Storage: f16 (2 bytes a dimension, the default) or int8 with a per-vector
 * scale (1 byte a dimension + 4). Search:
 *   - exact: a scan of every vector (AVX2 + F16C kernels with a scalar
 *     reference, chosen at run time by the CPU's features, as the engine's
 *     kernels are), keeping the top k that pass the filter;
 *   - HNSW: a graph built once the index holds hnsw_threshold vectors
 *     (100k by default) by rg_vec_build_graph(), kept up to date by later
 *     adds; removed vectors are tombstones the search skips (the graph is
 *     rebuilt when they pass a quarter of it). Below the threshold, and when
 *     the filter lets few vectors through, the search scans.
 *
 * Persistence: rg_vec_save() writes a file in the data dir (versioned
 * header, the database fingerprint of rg_db_vec_stats, a CRC-32 of the
 * body; written to a temporary name then renamed); rg_vec_open() loads it,
 * or rebuilds the index from the database (rg_db_vec_page) when the file is
 * missing, corrupt, of another version or model, or does not match the
 * database. The format is in docs/internals/search.md.
 *
 * Threads: one writer and many readers; a rwlock inside guards everything
 * (searches share it, add/remove/build take it exclusively).
 */
#ifndef RG_INDEX_VEC_H
#define RG_INDEX_VEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct rg_db;
struct rg_vec;

enum rg_vec_storage { RG_VEC_F16, RG_VEC_I8 };

struct rg_vec_params {
    int dim;                     /* 1..4096, required */
    const char *model;           /* the embedding model's name (kept in the file), required */
    enum rg_vec_storage storage; /* RG_VEC_F16 */
    size_t hnsw_threshold;       /* 100000: vectors before a graph is worth building */
    int hnsw_m;                  /* 16: links a node keeps per layer (2m on layer 0) */
    int hnsw_ef_construction;    /* 200 */
    int hnsw_ef_search;          /* 64: default candidate list of a search (>= k) */
    uint64_t seed;               /* levels of new nodes; 0: a fixed default */
};
void rg_vec_default_params(struct rg_vec_params *p);

/* An empty index. NULL with err (RG_EINVAL, RG_ENOMEM). */
struct rg_vec *rg_vec_new(const struct rg_vec_params *p, char *err);
void rg_vec_free(struct rg_vec *v); /* accepts NULL */

/* What the index keeps beside a vector, for filters and results. */
struct rg_vec_meta {
    int64_t id; /* the chunk */
    int64_t doc_id, collection_id, owner_id;
    bool shared; /* its collection is shared (visible to everyone) */
};

/* Adds (or replaces) m->id's vector x (dim floats, normalised here; an
 * all-zero or non-finite vector is RG_EINVAL). RG_ENOMEM. */
int rg_vec_add(struct rg_vec *v, const struct rg_vec_meta *m, const float *x, char *err);
/* Removes a chunk's vector (false: it had none); every vector of a document. */
bool rg_vec_remove(struct rg_vec *v, int64_t id);
size_t rg_vec_remove_doc(struct rg_vec *v, int64_t doc_id);

/* Which vectors a search may return: all that pass every given test. */
struct rg_vec_filter {
    int64_t user;               /* > 0: only owner_id == user or shared */
    const int64_t *collections; /* NULL: any; else collection_id in these (n <= 256) */
    size_t n_collections;
    int64_t doc_id; /* 0: any */
    /* NULL: none; else called for each candidate (under the read lock: it
     * must not call back into the index) */
    bool (*pred)(void *ud, const struct rg_vec_meta *m);
    void *ud;
};

struct rg_vec_hit {
    struct rg_vec_meta meta;
    float score; /* cosine similarity, -1..1 */
};

enum rg_vec_mode {
    RG_VEC_AUTO,  /* the graph when there is one, else a scan */
    RG_VEC_EXACT, /* always scan */
};

/* The k (1..1000) best vectors for q (dim floats, normalised here) that pass
 * f (NULL: all), best first, into out (k entries); *n gets how many. ef: the
 * graph's candidate list (0: hnsw_ef_search; raised to k). RG_EINVAL. */
int rg_vec_search(struct rg_vec *v, const float *q, int k, const struct rg_vec_filter *f,
                  enum rg_vec_mode mode, int ef, struct rg_vec_hit *out, int *n, char *err);

/* Builds the HNSW graph over every vector now (whatever the threshold);
 * later adds join it. RG_ENOMEM (the index is left without a graph). */
int rg_vec_build_graph(struct rg_vec *v, char *err);
/* Whether the index passed its threshold and has no graph yet. */
bool rg_vec_needs_graph(struct rg_vec *v);
bool rg_vec_has_graph(struct rg_vec *v);

struct rg_vec_stats {
    size_t count;       /* live vectors */
    size_t removed;     /* tombstones still in the graph */
    size_t bytes;       /* memory held: vectors, metadata, graph, id map */
    size_t graph_bytes; /* of which the graph */
    bool graph;
    int dim;
};
void rg_vec_stats(struct rg_vec *v, struct rg_vec_stats *out);

/* Writes the index to path (via path.tmp + rename), with the database
 * fingerprint (db_count, db_max_id: rg_db_vec_stats) that rg_vec_open will
 * compare. RG_EIO with err. */
int rg_vec_save(struct rg_vec *v, const char *path, int64_t db_count, int64_t db_max_id, char *err);
/* Loads path, which must be a file of this version for p's model, dim and
 * storage with a good checksum: RG_EFORMAT (corrupt, other version/model:
 * err says which) or RG_ENOTFOUND (no file); *db_count and *db_max_id get
 * the fingerprint it was saved with. */
struct rg_vec *rg_vec_load(const struct rg_vec_params *p, const char *path, int64_t *db_count,
                           int64_t *db_max_id, int *rc, char *err);

/* The index of p's model: path loaded when it is good and matches the
 * database's fingerprint, otherwise rebuilt from db's vectors (a graph built
 * when past the threshold) and saved to path. *rebuilt (may be NULL) tells
 * which happened. NULL with err on a database or memory failure (a failed
 * save is not one: the index is returned and err holds the reason). */
struct rg_vec *rg_vec_open(const struct rg_vec_params *p, const char *path, struct rg_db *db,
                           bool *rebuilt, char *err);

/* ---- kernels (vec_kernels.c; exposed for tests and the bench) ---- */

/* f32 <-> IEEE half, round to nearest even. */
uint16_t rg_vec_f32_to_f16(float f);
float rg_vec_f16_to_f32(uint16_t h);
/* Dot product of q (f32) with n halves; the scalar reference and the one
 * chosen for this CPU (AVX2+F16C when present). */
float rg_vec_dot_f16_scalar(const float *q, const uint16_t *x, int n);
float rg_vec_dot_f16(const float *q, const uint16_t *x, int n);
/* Dot product of q (f32) with n int8 (times the vector's scale, by the caller). */
float rg_vec_dot_i8_scalar(const float *q, const int8_t *x, int n);
float rg_vec_dot_i8(const float *q, const int8_t *x, int n);
/* "avx2" or "scalar": what rg_vec_dot_* use. */
const char *rg_vec_isa(void);

#endif
