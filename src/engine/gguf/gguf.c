/*
 * GGUF reader (see gguf.h). The file is parsed once, front to back, through a
 * cursor that checks every read against the end of the mapping; counts are
 * checked against the bytes left before anything is allocated for them, so a
 * file cannot make us allocate more than a small multiple of its own size.
 */
#include "engine/gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "engine/gguf/gguf_internal.h"
#include "engine/quant/quant_internal.h"

#define GGUF_MAGIC "GGUF"
#define DEFAULT_ALIGNMENT 32

struct rg_gguf_params rg_gguf_default_params(void)
{
    return (struct rg_gguf_params){
        .vocab_only = false,
        .max_kv = 1u << 16,
        .max_tensors = 1u << 20,
        .max_array = 1u << 26,
        .max_string = 1u << 26,
    };
}

/* ---- string → index hash (open addressing), for keys and tensor names ---- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int map_init(struct rg_gguf_map *m, uint64_t n)
{
    uint64_t cap = 16;
    while (cap < n * 2)
        cap <<= 1;
    m->slots = rg_malloc_array((size_t)cap, sizeof *m->slots);
    if (!m->slots) return RG_ENOMEM;
    for (uint64_t i = 0; i < cap; i++)
        m->slots[i] = -1;
    m->cap = cap;
    return RG_OK;
}

/* Inserts idx under name; returns the existing index if name is present, else -1. */
static int64_t map_put(struct rg_gguf_map *m, const char *name, int64_t idx,
                       const char *const *names, size_t stride)
{
    uint64_t mask = m->cap - 1, i = hash_str(name) & mask;
    while (m->slots[i] >= 0) {
        const char *other =
            *(const char *const *)((const char *)names + (size_t)m->slots[i] * stride);
        if (!strcmp(other, name)) return m->slots[i];
        i = (i + 1) & mask;
    }
    m->slots[i] = idx;
    return -1;
}

static int64_t map_get(const struct rg_gguf_map *m, const char *name, const char *const *names,
                       size_t stride)
{
    if (!m->cap) return -1;
    uint64_t mask = m->cap - 1, i = hash_str(name) & mask;
    while (m->slots[i] >= 0) {
        const char *other =
            *(const char *const *)((const char *)names + (size_t)m->slots[i] * stride);
        if (!strcmp(other, name)) return m->slots[i];
        i = (i + 1) & mask;
    }
    return -1;
}

/* ---- cursor ---- */

struct cur {
    const uint8_t *base;
    size_t size, off;
    char *err;
};

static int need(struct cur *c, size_t n, const char *what)
{
    if (n > c->size - c->off)
        return rg_err_set(c->err, RG_EFORMAT,
                          "truncated file: %s at offset %zu needs %zu bytes, %zu left", what,
                          c->off, n, c->size - c->off);
    return RG_OK;
}

static int rd(struct cur *c, void *out, size_t n, const char *what)
{
    int rc = need(c, n, what);
    if (rc) return rc;
    memcpy(out, c->base + c->off, n);
    c->off += n;
    return RG_OK;
}

static int rd_u32(struct cur *c, uint32_t *v, const char *what)
{
    return rd(c, v, 4, what);
}
static int rd_u64(struct cur *c, uint64_t *v, const char *what)
{
    return rd(c, v, 8, what);
}

/* A GGUF string: u64 length + bytes. Copied NUL-terminated into the arena. */
static int rd_str(struct rg_gguf *g, struct cur *c, char **out, size_t *len, const char *what)
{
    uint64_t n;
    int rc = rd_u64(c, &n, what);
    if (rc) return rc;
    if (n > g->params.max_string)
        return rg_err_set(
            c->err, RG_EFORMAT, "%s at offset %zu: string length %llu exceeds the limit %llu", what,
            c->off - 8, (unsigned long long)n, (unsigned long long)g->params.max_string);
    if ((rc = need(c, (size_t)n, what))) return rc;
    const uint8_t *p = c->base + c->off;
    if (memchr(p, 0, (size_t)n))
        return rg_err_set(c->err, RG_EFORMAT, "%s at offset %zu: string contains a NUL byte", what,
                          c->off);
    char *s = rg_arena_alloc(&g->arena, (size_t)n + 1);
    if (!s) return rg_err_set(c->err, RG_ENOMEM, "out of memory reading %s", what);
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    c->off += (size_t)n;
    *out = s;
    if (len) *len = (size_t)n;
    return RG_OK;
}

static int read_kv(struct rg_gguf *g, struct cur *c, struct rg_gguf_kv *kv, int64_t idx)
{
    char what[64];
    snprintf(what, sizeof what, "key %lld", (long long)idx);
    int rc = rd_str(g, c, &kv->key, NULL, what);
    if (rc) return rc;
    uint32_t t;
    if ((rc = rd_u32(c, &t, what))) return rc;
    kv->type = t;
    if (t == RG_GGUF_STRING) {
        return rd_str(g, c, &kv->str, &kv->str_len, kv->key);
    } else if (t == RG_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        if ((rc = rd_u32(c, &et, kv->key)) || (rc = rd_u64(c, &n, kv->key))) return rc;
        if (et == RG_GGUF_ARRAY)
            return rg_err_set(c->err, RG_EUNSUPPORTED, "key '%s': nested arrays are not supported",
                              kv->key);
        if (et != RG_GGUF_STRING && !rg_gguf_scalar_size(et))
            return rg_err_set(c->err, RG_EFORMAT, "key '%s': unknown array element type %u",
                              kv->key, et);
        if (n > g->params.max_array)
            return rg_err_set(c->err, RG_EFORMAT,
                              "key '%s': array of %llu elements exceeds the limit %llu", kv->key,
                              (unsigned long long)n, (unsigned long long)g->params.max_array);
        kv->arr_type = et;
        kv->arr_n = n;
        if (et == RG_GGUF_STRING) {
            /* each element is at least its 8-byte length: bound n by the bytes left first */
            if (n > (c->size - c->off) / 8)
                return rg_err_set(c->err, RG_EFORMAT,
                                  "key '%s': %llu strings cannot fit in the %zu bytes left",
                                  kv->key, (unsigned long long)n, c->size - c->off);
            kv->arr_strs = rg_arena_alloc(&g->arena, (size_t)n * sizeof *kv->arr_strs);
            kv->arr_lens = rg_arena_alloc(&g->arena, (size_t)n * sizeof *kv->arr_lens);
            if (n && (!kv->arr_strs || !kv->arr_lens))
                return rg_err_set(c->err, RG_ENOMEM, "out of memory");
            for (uint64_t i = 0; i < n; i++)
                if ((rc = rd_str(g, c, &kv->arr_strs[i], &kv->arr_lens[i], kv->key))) return rc;
        } else {
            size_t es = rg_gguf_scalar_size(et), bytes;
            if (!rg_mul_size((size_t)n, es, &bytes))
                return rg_err_set(c->err, RG_EFORMAT, "key '%s': array size overflows", kv->key);
            if ((rc = need(c, bytes, kv->key))) return rc;
            kv->arr_data = c->base + c->off;
            c->off += bytes;
        }
        return RG_OK;
    } else {
        size_t n = rg_gguf_scalar_size(t);
        if (!n)
            return rg_err_set(c->err, RG_EFORMAT, "key '%s': unknown value type %u", kv->key, t);
        if ((rc = rd(c, &kv->u, n, kv->key))) return rc;
        if (t == RG_GGUF_BOOL && kv->u.u8 > 1)
            return rg_err_set(c->err, RG_EFORMAT, "key '%s': bool value %u is neither 0 nor 1",
                              kv->key, kv->u.u8);
        return RG_OK;
    }
}

static int read_tensor_info(struct rg_gguf *g, struct cur *c, struct rg_gguf_tensor *t, int64_t idx)
{
    char what[64];
    snprintf(what, sizeof what, "tensor %lld name", (long long)idx);
    char *name = NULL;
    int rc = rd_str(g, c, &name, NULL, what);
    if (rc) return rc;
    t->name = name;
    uint32_t nd;
    if ((rc = rd_u32(c, &nd, name))) return rc;
    if (nd < 1 || nd > RG_GGUF_MAX_DIMS)
        return rg_err_set(c->err, RG_EFORMAT, "tensor %lld '%s': %u dimensions (1-%d allowed)",
                          (long long)idx, name, nd, RG_GGUF_MAX_DIMS);
    t->n_dims = nd;
    for (int d = 0; d < RG_GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t ne;
        if ((rc = rd_u64(c, &ne, name))) return rc;
        if (ne > (uint64_t)INT64_MAX / 2)
            return rg_err_set(c->err, RG_EFORMAT, "tensor '%s': dimension %u is %llu", name, d,
                              (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
    }
    uint32_t type;
    uint64_t off;
    if ((rc = rd_u32(c, &type, name)) || (rc = rd_u64(c, &off, name))) return rc;
    if (type >= RG_TYPE_COUNT || rg_type_geometry[type].block_size == 0)
        return rg_err_set(c->err, RG_EFORMAT, "tensor '%s': unknown type %u", name, type);
    t->type = (enum rg_type)type;
    t->offset = off;
    /* size: row bytes x rows, all overflow-checked */
    size_t row = rg_type_row_size(t->type, t->ne[0]);
    if (row == 0 && t->ne[0] != 0)
        return rg_err_set(c->err, RG_EFORMAT,
                          "tensor '%s': row length %lld is not a multiple of the %s block size",
                          name, (long long)t->ne[0], rg_type_geometry[t->type].name);
    size_t size = row;
    for (int d = 1; d < RG_GGUF_MAX_DIMS; d++)
        if (!rg_mul_size(size, (size_t)t->ne[d], &size))
            return rg_err_set(c->err, RG_EFORMAT, "tensor '%s': size overflows", name);
    t->size = size;
    return RG_OK;
}

static void gguf_free(struct rg_gguf *g)
{
    if (!g) return;
    if (g->map && g->map_size) munmap(g->map, g->map_size);
    rg_free(g->kv_map.slots);
    rg_free(g->tensor_map.slots);
    rg_free(g->kvs);
    for (int64_t i = 0; g->copies && i < g->n_tensors; i++)
        rg_free(g->copies[i]);
    rg_free(g->copies);
    rg_free(g->tensors);
    rg_arena_free(&g->arena);
    rg_free(g);
}

void rg_gguf_close(struct rg_gguf *g)
{
    gguf_free(g);
}

/*
 * The spec allows general.alignment = 1, so tensor data may start at any
 * byte. Matrices are read through unaligned-safe loads or re-laid (packed)
 * by the kernels, and stay in the mapping; a vector (norm weights, biases) is
 * read as floats in place by the forward pass, so one not aligned for its
 * elements is copied here, once, into aligned memory the handle owns.
 * Vectors are a small part of any model; a file of ordinary alignment has
 * none to copy.
 */
enum { VECTOR_ALIGN = 4 }; /* F32, the vectors' type; F16 needs 2 */

static int align_vectors(struct rg_gguf *g, char *err)
{
    if (g->params.vocab_only) return RG_OK;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        struct rg_gguf_tensor *t = &g->tensors[i];
        bool vector = t->ne[1] == 1 && t->ne[2] == 1 && t->ne[3] == 1;
        if (!vector || !t->size || (uintptr_t)t->data % VECTOR_ALIGN == 0) continue;
        if (!g->copies && !(g->copies = rg_calloc((size_t)g->n_tensors, sizeof *g->copies)))
            return rg_err_set(err, RG_ENOMEM, "out of memory");
        void *copy = rg_aligned_alloc(64, t->size);
        if (!copy) return rg_err_set(err, RG_ENOMEM, "out of memory aligning tensor '%s'", t->name);
        memcpy(copy, t->data, t->size);
        g->copies[i] = copy;
        t->data = copy;
    }
    return RG_OK;
}

static int parse(struct rg_gguf *g, char *err)
{
    struct cur c = {.base = g->data, .size = g->size, .off = 0, .err = err};
    char magic[4];
    int rc = rd(&c, magic, 4, "magic");
    if (rc) return rc;
    if (memcmp(magic, GGUF_MAGIC, 4) != 0)
        return rg_err_set(err, RG_EFORMAT, "not a GGUF file (bad magic)");
    if ((rc = rd_u32(&c, &g->version, "version"))) return rc;
    if (g->version == 1)
        return rg_err_set(err, RG_EUNSUPPORTED, "GGUF version 1 is not supported (only 2 and 3)");
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xFFFF) == 0 && g->version != 0)
            return rg_err_set(err, RG_EUNSUPPORTED, "big-endian GGUF files are not supported");
        return rg_err_set(err, RG_EUNSUPPORTED, "unsupported GGUF version %u (only 2 and 3)",
                          g->version);
    }
    uint64_t nt, nkv;
    if ((rc = rd_u64(&c, &nt, "tensor count")) || (rc = rd_u64(&c, &nkv, "key count"))) return rc;
    if (nkv > g->params.max_kv)
        return rg_err_set(err, RG_EFORMAT, "%llu metadata keys exceed the limit %llu",
                          (unsigned long long)nkv, (unsigned long long)g->params.max_kv);
    if (nt > g->params.max_tensors)
        return rg_err_set(err, RG_EFORMAT, "%llu tensors exceed the limit %llu",
                          (unsigned long long)nt, (unsigned long long)g->params.max_tensors);
    /* a key/value takes at least 8+4+1 bytes, a tensor info at least 8+4+8+4+8 */
    uint64_t left = c.size - c.off;
    if (nkv > left / 13 || nt > left / 32)
        return rg_err_set(err, RG_EFORMAT,
                          "%llu keys and %llu tensors cannot fit in a %zu-byte file",
                          (unsigned long long)nkv, (unsigned long long)nt, g->size);
    g->n_kv = (int64_t)nkv;
    g->n_tensors = (int64_t)nt;
    g->kvs = rg_calloc(nkv ? (size_t)nkv : 1, sizeof *g->kvs);
    g->tensors = rg_calloc(nt ? (size_t)nt : 1, sizeof *g->tensors);
    if (!g->kvs || !g->tensors) return rg_err_set(err, RG_ENOMEM, "out of memory");
    if ((rc = map_init(&g->kv_map, nkv)) || (rc = map_init(&g->tensor_map, nt)))
        return rg_err_set(err, RG_ENOMEM, "out of memory");

    for (int64_t i = 0; i < g->n_kv; i++) {
        if ((rc = read_kv(g, &c, &g->kvs[i], i))) return rc;
        if (map_put(&g->kv_map, g->kvs[i].key, i, (const char *const *)&g->kvs[0].key,
                    sizeof *g->kvs) >= 0)
            return rg_err_set(err, RG_EFORMAT, "duplicate key '%s'", g->kvs[i].key);
    }
    g->alignment = DEFAULT_ALIGNMENT;
    int64_t ai = rg_gguf_find_key(g, "general.alignment");
    if (ai >= 0) {
        uint32_t a;
        if (rg_gguf_get_u32(g, "general.alignment", &a) != RG_OK || a == 0 || (a & (a - 1)) ||
            a > (1u << 20))
            return rg_err_set(err, RG_EFORMAT,
                              "general.alignment must be a power of two up to 1 MiB");
        g->alignment = a;
    }
    for (int64_t i = 0; i < g->n_tensors; i++) {
        if ((rc = read_tensor_info(g, &c, &g->tensors[i], i))) return rc;
        if (map_put(&g->tensor_map, g->tensors[i].name, i, (const char *const *)&g->tensors[0].name,
                    sizeof *g->tensors) >= 0)
            return rg_err_set(err, RG_EFORMAT, "duplicate tensor name '%s'", g->tensors[i].name);
    }
    /* data section: aligned after the tensor infos */
    size_t data_off = c.off;
    if (data_off % g->alignment) data_off += g->alignment - data_off % g->alignment;
    if (g->n_tensors > 0 && data_off > g->size)
        return rg_err_set(err, RG_EFORMAT,
                          "truncated file: the data section starts at %zu, past the end (%zu)",
                          data_off, g->size);
    g->data_offset = data_off;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        struct rg_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment)
            return rg_err_set(
                err, RG_EFORMAT,
                "tensor %lld '%s': offset %llu is not a multiple of the alignment %zu",
                (long long)i, t->name, (unsigned long long)t->offset, g->alignment);
        size_t start, end;
        if (!rg_add_size(data_off, (size_t)t->offset, &start) || t->offset > SIZE_MAX ||
            !rg_add_size(start, t->size, &end) || end > g->size)
            return rg_err_set(err, RG_EFORMAT,
                              "tensor %lld '%s': data [%llu, %llu) past end of file (size %zu)",
                              (long long)i, t->name, (unsigned long long)t->offset,
                              (unsigned long long)t->offset + t->size, g->size);
        t->data = g->data + start;
    }
    return align_vectors(g, err);
}

static struct rg_gguf *gguf_new(const struct rg_gguf_params *params)
{
    struct rg_gguf *g = rg_calloc(1, sizeof *g);
    if (!g) return NULL;
    g->params = params ? *params : rg_gguf_default_params();
    struct rg_gguf_params d = rg_gguf_default_params();
    if (!g->params.max_kv) g->params.max_kv = d.max_kv;
    if (!g->params.max_tensors) g->params.max_tensors = d.max_tensors;
    if (!g->params.max_array) g->params.max_array = d.max_array;
    if (!g->params.max_string) g->params.max_string = d.max_string;
    rg_arena_init(&g->arena, 64 * 1024, 0);
    return g;
}

struct rg_gguf *rg_gguf_open_memory(const void *data, size_t size,
                                    const struct rg_gguf_params *params, char *err)
{
    struct rg_gguf *g = gguf_new(params);
    if (!g) {
        rg_err_set(err, RG_ENOMEM, "out of memory");
        return NULL;
    }
    g->data = data;
    g->size = size;
    if (parse(g, err) != RG_OK) {
        gguf_free(g);
        return NULL;
    }
    return g;
}

struct rg_gguf *rg_gguf_open(const char *path, const struct rg_gguf_params *params, char *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rg_err_set(err, errno == ENOENT ? RG_ENOTFOUND : RG_EIO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rg_err_set(err, RG_EIO, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_size == 0) {
        rg_err_set(err, RG_EFORMAT, "%s: empty file", path);
        close(fd);
        return NULL;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        rg_err_set(err, RG_EIO, "%s: mmap failed: %s", path, strerror(errno));
        return NULL;
    }
    struct rg_gguf *g = gguf_new(params);
    if (!g) {
        munmap(map, (size_t)st.st_size);
        rg_err_set(err, RG_ENOMEM, "out of memory");
        return NULL;
    }
    g->map = map;
    g->map_size = (size_t)st.st_size;
    g->data = map;
    g->size = (size_t)st.st_size;
    char inner[RG_ERR_SIZE];
    if (parse(g, inner) != RG_OK) {
        /* name the file in the message */
        rg_err_set(err, RG_EFORMAT, "%.80s: %.170s", path, inner);
        gguf_free(g);
        return NULL;
    }
    return g;
}

/* ---- accessors ---- */

uint32_t rg_gguf_version(const struct rg_gguf *g)
{
    return g->version;
}
size_t rg_gguf_alignment(const struct rg_gguf *g)
{
    return g->alignment;
}
size_t rg_gguf_file_size(const struct rg_gguf *g)
{
    return g->size;
}
int64_t rg_gguf_n_kv(const struct rg_gguf *g)
{
    return g->n_kv;
}
int64_t rg_gguf_n_tensors(const struct rg_gguf *g)
{
    return g->n_tensors;
}

int64_t rg_gguf_find_key(const struct rg_gguf *g, const char *key)
{
    if (!g->n_kv) return -1;
    return map_get(&g->kv_map, key, (const char *const *)&g->kvs[0].key, sizeof *g->kvs);
}

const char *rg_gguf_key(const struct rg_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? g->kvs[i].key : NULL;
}

enum rg_gguf_type rg_gguf_kv_type(const struct rg_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? (enum rg_gguf_type)g->kvs[i].type : (enum rg_gguf_type) - 1;
}

const struct rg_gguf_tensor *rg_gguf_tensor(const struct rg_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

int64_t rg_gguf_tensor_index(const struct rg_gguf *g, const struct rg_gguf_tensor *t)
{
    return t - g->tensors;
}

void rg_gguf_release(const struct rg_gguf *g, const struct rg_gguf_tensor *t, size_t end)
{
    if (!g->map || !t->size) return;
    uintptr_t base = (uintptr_t)g->data, at = (uintptr_t)t->data;
    if (at < base || at - base >= g->size) return; /* an aligned copy (align_vectors) */
    if (end > t->size) end = t->size;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)t->data;
    uintptr_t lo = (a + page - 1) & ~(page - 1), hi = (a + end) & ~(page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

const struct rg_gguf_tensor *rg_gguf_find_tensor(const struct rg_gguf *g, const char *name)
{
    if (!g->n_tensors) return NULL;
    int64_t i =
        map_get(&g->tensor_map, name, (const char *const *)&g->tensors[0].name, sizeof *g->tensors);
    return i >= 0 ? &g->tensors[i] : NULL;
}

static const struct rg_gguf_kv *kv_of(const struct rg_gguf *g, const char *key)
{
    int64_t i = rg_gguf_find_key(g, key);
    return i >= 0 ? &g->kvs[i] : NULL;
}

/* Any integer kv as a signed 128-bit-safe pair: value in *u (if non-negative) or *s. */
static int int_value(const struct rg_gguf_kv *kv, bool *neg, uint64_t *mag)
{
    int64_t s = 0;
    uint64_t u = 0;
    bool is_signed = true;
    switch (kv->type) {
    case RG_GGUF_UINT8: u = kv->u.u8, is_signed = false; break;
    case RG_GGUF_UINT16: u = kv->u.u16, is_signed = false; break;
    case RG_GGUF_UINT32: u = kv->u.u32, is_signed = false; break;
    case RG_GGUF_UINT64: u = kv->u.u64, is_signed = false; break;
    case RG_GGUF_INT8: s = kv->u.i8; break;
    case RG_GGUF_INT16: s = kv->u.i16; break;
    case RG_GGUF_INT32: s = kv->u.i32; break;
    case RG_GGUF_INT64: s = kv->u.i64; break;
    default: return RG_EFORMAT;
    }
    if (is_signed) {
        *neg = s < 0;
        *mag = s < 0 ? (uint64_t)(-(s + 1)) + 1 : (uint64_t)s;
    } else {
        *neg = false;
        *mag = u;
    }
    return RG_OK;
}

int rg_gguf_get_u64(const struct rg_gguf *g, const char *key, uint64_t *out)
{
    const struct rg_gguf_kv *kv = kv_of(g, key);
    if (!kv) return RG_ENOTFOUND;
    bool neg;
    uint64_t m;
    if (int_value(kv, &neg, &m) || neg) return RG_EFORMAT;
    *out = m;
    return RG_OK;
}

int rg_gguf_get_u32(const struct rg_gguf *g, const char *key, uint32_t *out)
{
    uint64_t v;
    int rc = rg_gguf_get_u64(g, key, &v);
    if (rc) return rc;
    if (v > UINT32_MAX) return RG_EFORMAT;
    *out = (uint32_t)v;
    return RG_OK;
}

int rg_gguf_get_i64(const struct rg_gguf *g, const char *key, int64_t *out)
{
    const struct rg_gguf_kv *kv = kv_of(g, key);
    if (!kv) return RG_ENOTFOUND;
    bool neg;
    uint64_t m;
    if (int_value(kv, &neg, &m)) return RG_EFORMAT;
    if (!neg && m > (uint64_t)INT64_MAX) return RG_EFORMAT;
    *out = neg ? (int64_t)(0 - m) : (int64_t)m;
    return RG_OK;
}

int rg_gguf_get_f32(const struct rg_gguf *g, const char *key, float *out)
{
    const struct rg_gguf_kv *kv = kv_of(g, key);
    if (!kv) return RG_ENOTFOUND;
    if (kv->type == RG_GGUF_FLOAT32)
        *out = kv->u.f32;
    else if (kv->type == RG_GGUF_FLOAT64)
        *out = (float)kv->u.f64;
    else
        return RG_EFORMAT;
    return RG_OK;
}

int rg_gguf_get_bool(const struct rg_gguf *g, const char *key, bool *out)
{
    const struct rg_gguf_kv *kv = kv_of(g, key);
    if (!kv) return RG_ENOTFOUND;
    if (kv->type != RG_GGUF_BOOL) return RG_EFORMAT;
    *out = kv->u.u8 != 0;
    return RG_OK;
}

int rg_gguf_get_str(const struct rg_gguf *g, const char *key, const char **out)
{
    const struct rg_gguf_kv *kv = kv_of(g, key);
    if (!kv) return RG_ENOTFOUND;
    if (kv->type != RG_GGUF_STRING) return RG_EFORMAT;
    *out = kv->str;
    return RG_OK;
}

int rg_gguf_get_arr(const struct rg_gguf *g, const char *key, enum rg_gguf_type *elem_type,
                    uint64_t *n)
{
    const struct rg_gguf_kv *kv = kv_of(g, key);
    if (!kv) return RG_ENOTFOUND;
    if (kv->type != RG_GGUF_ARRAY) return RG_EFORMAT;
    if (elem_type) *elem_type = (enum rg_gguf_type)kv->arr_type;
    if (n) *n = kv->arr_n;
    return RG_OK;
}

int rg_gguf_arr_str(const struct rg_gguf *g, const char *key, uint64_t i, const char **s,
                    size_t *len)
{
    const struct rg_gguf_kv *kv = kv_of(g, key);
    if (!kv) return RG_ENOTFOUND;
    if (kv->type != RG_GGUF_ARRAY || kv->arr_type != RG_GGUF_STRING) return RG_EFORMAT;
    if (i >= kv->arr_n) return RG_ERANGE;
    *s = kv->arr_strs[i];
    if (len) *len = kv->arr_lens[i];
    return RG_OK;
}

static int elem_double(const struct rg_gguf_kv *kv, uint64_t i, double *out, bool *is_int,
                       int64_t *iv)
{
    const uint8_t *p = (const uint8_t *)kv->arr_data + i * rg_gguf_scalar_size(kv->arr_type);
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
    } v;
    memcpy(&v, p, rg_gguf_scalar_size(kv->arr_type));
    *is_int = true;
    switch (kv->arr_type) {
    case RG_GGUF_UINT8:
    case RG_GGUF_BOOL: *iv = v.u8; break;
    case RG_GGUF_INT8: *iv = v.i8; break;
    case RG_GGUF_UINT16: *iv = v.u16; break;
    case RG_GGUF_INT16: *iv = v.i16; break;
    case RG_GGUF_UINT32: *iv = v.u32; break;
    case RG_GGUF_INT32: *iv = v.i32; break;
    case RG_GGUF_UINT64:
        if (v.u64 > (uint64_t)INT64_MAX) return RG_EFORMAT;
        *iv = (int64_t)v.u64;
        break;
    case RG_GGUF_INT64: *iv = v.i64; break;
    case RG_GGUF_FLOAT32: *is_int = false, *out = v.f32; return RG_OK;
    case RG_GGUF_FLOAT64: *is_int = false, *out = v.f64; return RG_OK;
    default: return RG_EFORMAT;
    }
    *out = (double)*iv;
    return RG_OK;
}

int rg_gguf_arr_f32(const struct rg_gguf *g, const char *key, float *out, uint64_t n)
{
    const struct rg_gguf_kv *kv = kv_of(g, key);
    if (!kv) return RG_ENOTFOUND;
    if (kv->type != RG_GGUF_ARRAY || kv->arr_type == RG_GGUF_STRING) return RG_EFORMAT;
    if (n > kv->arr_n) return RG_ERANGE;
    for (uint64_t i = 0; i < n; i++) {
        double d;
        bool is_int;
        int64_t iv;
        if (elem_double(kv, i, &d, &is_int, &iv)) return RG_EFORMAT;
        out[i] = (float)d;
    }
    return RG_OK;
}

int rg_gguf_arr_i32(const struct rg_gguf *g, const char *key, int32_t *out, uint64_t n)
{
    const struct rg_gguf_kv *kv = kv_of(g, key);
    if (!kv) return RG_ENOTFOUND;
    if (kv->type != RG_GGUF_ARRAY || kv->arr_type == RG_GGUF_STRING) return RG_EFORMAT;
    if (n > kv->arr_n) return RG_ERANGE;
    for (uint64_t i = 0; i < n; i++) {
        double d;
        bool is_int;
        int64_t iv;
        if (elem_double(kv, i, &d, &is_int, &iv)) return RG_EFORMAT;
        if (!is_int || iv < INT32_MIN || iv > INT32_MAX) return RG_EFORMAT;
        out[i] = (int32_t)iv;
    }
    return RG_OK;
}
