/* The reader's data structures, shared by gguf.c and gguf_write.c. */
#ifndef RG_ENGINE_GGUF_INTERNAL_H
#define RG_ENGINE_GGUF_INTERNAL_H

#include <stdint.h>

#include "common/arena.h"
#include "engine/gguf/gguf.h"

struct rg_gguf_kv {
    char *key;
    uint32_t type; /* enum rg_gguf_type */
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
        float f32;
        double f64;
    } u;
    char *str; /* STRING */
    size_t str_len;
    uint32_t arr_type; /* ARRAY */
    uint64_t arr_n;
    const void *arr_data; /* numeric elements, in the file (unaligned: memcpy) */
    char **arr_strs;      /* string elements, copied */
    size_t *arr_lens;
};

/* Bytes of one scalar of a metadata type; 0 for strings, arrays and unknown ids. */
static inline size_t rg_gguf_scalar_size(uint32_t t)
{
    switch (t) {
    case RG_GGUF_UINT8:
    case RG_GGUF_INT8:
    case RG_GGUF_BOOL: return 1;
    case RG_GGUF_UINT16:
    case RG_GGUF_INT16: return 2;
    case RG_GGUF_UINT32:
    case RG_GGUF_INT32:
    case RG_GGUF_FLOAT32: return 4;
    case RG_GGUF_UINT64:
    case RG_GGUF_INT64:
    case RG_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

struct rg_gguf_map {
    int64_t *slots; /* index or -1 */
    uint64_t cap;   /* power of two */
};

struct rg_gguf {
    struct rg_gguf_params params;
    void *map; /* mmap'd file, or NULL for open_memory */
    size_t map_size;
    const uint8_t *data;
    size_t size;
    uint32_t version;
    size_t alignment;
    size_t data_offset;
    int64_t n_kv, n_tensors;
    struct rg_gguf_kv *kvs;
    struct rg_gguf_tensor *tensors;
    struct rg_gguf_map kv_map, tensor_map;
    struct rg_arena arena; /* keys, strings, names */
    void **copies;         /* aligned copies of misaligned vectors (see parse), n_tensors slots */
};

#endif
