/*
 * GGUF reader and writer (v2 and v3, little-endian).
 *
 * The reader maps the file read-only and validates everything before anyone
 * uses it: every count, string length, type id, array size, tensor dimension,
 * offset and data size is checked against the file's size with overflow-checked
 * arithmetic, so a truncated, oversized or lying file is an error naming the
 * problem, never an out-of-bounds read. Metadata strings are copied out once
 * into NUL-terminated memory owned by the handle, so callers get plain C
 * strings (a key or value with an embedded NUL is rejected as malformed).
 *
 * A reader handle is immutable after rg_gguf_open and may be read from any
 * number of threads at once.
 */
#ifndef RG_ENGINE_GGUF_H
#define RG_ENGINE_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#include "engine/quant/quant.h"

enum rg_gguf_type {
    RG_GGUF_UINT8 = 0,
    RG_GGUF_INT8 = 1,
    RG_GGUF_UINT16 = 2,
    RG_GGUF_INT16 = 3,
    RG_GGUF_UINT32 = 4,
    RG_GGUF_INT32 = 5,
    RG_GGUF_FLOAT32 = 6,
    RG_GGUF_BOOL = 7,
    RG_GGUF_STRING = 8,
    RG_GGUF_ARRAY = 9,
    RG_GGUF_UINT64 = 10,
    RG_GGUF_INT64 = 11,
    RG_GGUF_FLOAT64 = 12,
};

#define RG_GGUF_MAX_DIMS 4

struct rg_gguf_tensor {
    const char *name;             /* NUL-terminated, owned by the handle */
    uint32_t n_dims;              /* 1..RG_GGUF_MAX_DIMS */
    int64_t ne[RG_GGUF_MAX_DIMS]; /* elements per dim, ne[0] fastest; unused dims are 1 */
    enum rg_type type;
    uint64_t offset;  /* from the start of the data section */
    size_t size;      /* bytes, checked to lie inside the file */
    const void *data; /* into the mapping (aligned as the file says); a vector (ne[1..3] = 1)
                       * is aligned to 4 bytes at least: when the file's alignment does not
                       * give that, the handle holds an aligned copy */
};

struct rg_gguf;

struct rg_gguf_params {
    bool vocab_only; /* tensor infos may be absent or ignored (tokenize on vocab files) */
    uint64_t max_kv; /* caps for hostile files; 0 = default */
    uint64_t max_tensors;
    uint64_t max_array;  /* elements in one metadata array */
    uint64_t max_string; /* bytes in one string */
};
struct rg_gguf_params rg_gguf_default_params(void);

/*
 * Opens and validates a GGUF file (memory-mapped read-only).
 * Returns NULL on failure with the reason in err (RG_ERR_SIZE bytes, may be
 * NULL): missing file, bad magic, unsupported version, truncation at which
 * offset, bad type id, size overflow, tensor data outside the file...
 */
struct rg_gguf *rg_gguf_open(const char *path, const struct rg_gguf_params *params, char *err);
/* The same over a buffer the caller keeps alive until rg_gguf_close (fuzzing, tests). */
struct rg_gguf *rg_gguf_open_memory(const void *data, size_t size,
                                    const struct rg_gguf_params *params, char *err);
void rg_gguf_close(struct rg_gguf *g); /* accepts NULL */

uint32_t rg_gguf_version(const struct rg_gguf *g);
size_t rg_gguf_alignment(const struct rg_gguf *g);
size_t rg_gguf_file_size(const struct rg_gguf *g);

/* ---- metadata ---- */
int64_t rg_gguf_n_kv(const struct rg_gguf *g);
/* Index of key, or -1. */
int64_t rg_gguf_find_key(const struct rg_gguf *g, const char *key);
const char *rg_gguf_key(const struct rg_gguf *g, int64_t i);
enum rg_gguf_type rg_gguf_kv_type(const struct rg_gguf *g, int64_t i);

/*
 * Typed getters by key. Return RG_OK, RG_ENOTFOUND (no such key; *out
 * untouched, so callers set defaults first) or RG_EFORMAT (wrong type, or an
 * integer that does not fit). Integer getters accept any integer type whose
 * value fits; get_f32 accepts FLOAT32 and FLOAT64.
 */
int rg_gguf_get_u32(const struct rg_gguf *g, const char *key, uint32_t *out);
int rg_gguf_get_i64(const struct rg_gguf *g, const char *key, int64_t *out);
int rg_gguf_get_u64(const struct rg_gguf *g, const char *key, uint64_t *out);
int rg_gguf_get_f32(const struct rg_gguf *g, const char *key, float *out);
int rg_gguf_get_bool(const struct rg_gguf *g, const char *key, bool *out);
/* *out points to a NUL-terminated string owned by the handle. */
int rg_gguf_get_str(const struct rg_gguf *g, const char *key, const char **out);

/*
 * Arrays: rg_gguf_get_arr gives the element type and count. Element access:
 * strings as NUL-terminated C strings (with their byte length, since a token
 * may legitimately contain no NUL but be empty), numbers converted.
 * Index and type are checked; wrong type or index gives RG_EFORMAT/RG_ERANGE.
 */
int rg_gguf_get_arr(const struct rg_gguf *g, const char *key, enum rg_gguf_type *elem_type,
                    uint64_t *n);
int rg_gguf_arr_str(const struct rg_gguf *g, const char *key, uint64_t i, const char **s,
                    size_t *len);
/* Copies n elements starting at 0 into out, converting any numeric element
 * type (float or integer) to float / int32 (integers must fit). */
int rg_gguf_arr_f32(const struct rg_gguf *g, const char *key, float *out, uint64_t n);
int rg_gguf_arr_i32(const struct rg_gguf *g, const char *key, int32_t *out, uint64_t n);

/* ---- tensors ---- */
int64_t rg_gguf_n_tensors(const struct rg_gguf *g);
const struct rg_gguf_tensor *rg_gguf_tensor(const struct rg_gguf *g, int64_t i);
/* NULL if there is no tensor of that name. */
const struct rg_gguf_tensor *rg_gguf_find_tensor(const struct rg_gguf *g, const char *name);
/* The index i for which rg_gguf_tensor(g, i) == t (t one of g's tensors). */
int64_t rg_gguf_tensor_index(const struct rg_gguf *g, const struct rg_gguf_tensor *t);
/* The caller has copied the first `end` bytes of t's data elsewhere and
 * reads them no more: the pages of the mapping that lie wholly within them
 * are dropped from memory (the mapping is read-only and file-backed, so a
 * later read would fetch them again). Calls with a growing end may repeat.
 * Does nothing for a file opened from memory. */
void rg_gguf_release(const struct rg_gguf *g, const struct rg_gguf_tensor *t, size_t end);

/* ---- writer (tests, tools/gguf-gen, rustygpt quantize) ---- */
struct rg_gguf_writer;
struct rg_gguf_writer *rg_gguf_writer_new(void); /* NULL on ENOMEM */
void rg_gguf_writer_free(struct rg_gguf_writer *w);
/* Setters replace an existing key of the same name. RG_OK or RG_ENOMEM/RG_EINVAL. */
int rg_gguf_writer_set_u32(struct rg_gguf_writer *w, const char *key, uint32_t v);
int rg_gguf_writer_set_i32(struct rg_gguf_writer *w, const char *key, int32_t v);
int rg_gguf_writer_set_u64(struct rg_gguf_writer *w, const char *key, uint64_t v);
int rg_gguf_writer_set_f32(struct rg_gguf_writer *w, const char *key, float v);
int rg_gguf_writer_set_bool(struct rg_gguf_writer *w, const char *key, bool v);
int rg_gguf_writer_set_str(struct rg_gguf_writer *w, const char *key, const char *v);
int rg_gguf_writer_set_arr_str(struct rg_gguf_writer *w, const char *key, const char *const *v,
                               uint64_t n);
int rg_gguf_writer_set_arr_f32(struct rg_gguf_writer *w, const char *key, const float *v,
                               uint64_t n);
int rg_gguf_writer_set_arr_i32(struct rg_gguf_writer *w, const char *key, const int32_t *v,
                               uint64_t n);
/* Copies every key/value of g (for requantizing); later setters override. */
int rg_gguf_writer_copy_kv(struct rg_gguf_writer *w, const struct rg_gguf *g);
/* Adds a tensor; data (rg_type_row_size(type, ne[0]) * rows bytes) is copied. */
int rg_gguf_writer_add_tensor(struct rg_gguf_writer *w, const char *name, enum rg_type type,
                              uint32_t n_dims, const int64_t *ne, const void *data);
/* Writes a GGUF v3 file (to path.tmp, then renamed). RG_OK or an error with detail. */
int rg_gguf_writer_write(struct rg_gguf_writer *w, const char *path, char *err);

#endif
