/* GGUF v3 writer (see gguf.h): for tests, tools/gguf_gen and quantization. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "engine/gguf/gguf.h"
#include "engine/gguf/gguf_internal.h"

struct wkv {
    char *key;
    uint32_t type;
    uint8_t scalar[8];
    char *str;
    uint32_t arr_type;
    uint64_t arr_n;
    void *arr;   /* numeric elements */
    char **strs; /* string elements */
};

struct wtensor {
    char *name;
    enum rg_type type;
    uint32_t n_dims;
    int64_t ne[RG_GGUF_MAX_DIMS];
    void *data;
    size_t size;
};

struct rg_gguf_writer {
    struct wkv *kv;
    size_t n_kv, cap_kv;
    struct wtensor *t;
    size_t n_t, cap_t;
};

struct rg_gguf_writer *rg_gguf_writer_new(void)
{
    return rg_calloc(1, sizeof(struct rg_gguf_writer));
}

static void wkv_clear(struct wkv *k)
{
    rg_free(k->key);
    rg_free(k->str);
    rg_free(k->arr);
    for (uint64_t i = 0; k->strs && i < k->arr_n; i++)
        rg_free(k->strs[i]);
    rg_free(k->strs);
    memset(k, 0, sizeof *k);
}

void rg_gguf_writer_free(struct rg_gguf_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++)
        wkv_clear(&w->kv[i]);
    for (size_t i = 0; i < w->n_t; i++) {
        rg_free(w->t[i].name);
        rg_free(w->t[i].data);
    }
    rg_free(w->kv);
    rg_free(w->t);
    rg_free(w);
}

/* The slot for key: an existing one (cleared) or a new one. */
static struct wkv *slot(struct rg_gguf_writer *w, const char *key)
{
    if (!key || !*key) return NULL;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (!strcmp(w->kv[i].key, key)) {
            char *k = w->kv[i].key;
            w->kv[i].key = NULL;
            wkv_clear(&w->kv[i]);
            w->kv[i].key = k;
            return &w->kv[i];
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t nc = w->cap_kv ? w->cap_kv * 2 : 32;
        struct wkv *v = rg_realloc(w->kv, nc * sizeof *v);
        if (!v) return NULL;
        w->kv = v;
        w->cap_kv = nc;
    }
    struct wkv *k = &w->kv[w->n_kv];
    memset(k, 0, sizeof *k);
    k->key = rg_strdup(key);
    if (!k->key) return NULL;
    w->n_kv++;
    return k;
}

static int set_scalar(struct rg_gguf_writer *w, const char *key, uint32_t type, const void *v,
                      size_t n)
{
    struct wkv *k = slot(w, key);
    if (!k) return RG_ENOMEM;
    k->type = type;
    memcpy(k->scalar, v, n);
    return RG_OK;
}

int rg_gguf_writer_set_u32(struct rg_gguf_writer *w, const char *key, uint32_t v)
{
    return set_scalar(w, key, RG_GGUF_UINT32, &v, 4);
}
int rg_gguf_writer_set_i32(struct rg_gguf_writer *w, const char *key, int32_t v)
{
    return set_scalar(w, key, RG_GGUF_INT32, &v, 4);
}
int rg_gguf_writer_set_u64(struct rg_gguf_writer *w, const char *key, uint64_t v)
{
    return set_scalar(w, key, RG_GGUF_UINT64, &v, 8);
}
int rg_gguf_writer_set_f32(struct rg_gguf_writer *w, const char *key, float v)
{
    return set_scalar(w, key, RG_GGUF_FLOAT32, &v, 4);
}
int rg_gguf_writer_set_bool(struct rg_gguf_writer *w, const char *key, bool v)
{
    uint8_t b = v;
    return set_scalar(w, key, RG_GGUF_BOOL, &b, 1);
}

int rg_gguf_writer_set_str(struct rg_gguf_writer *w, const char *key, const char *v)
{
    struct wkv *k = slot(w, key);
    if (!k) return RG_ENOMEM;
    k->type = RG_GGUF_STRING;
    k->str = rg_strdup(v);
    return k->str ? RG_OK : RG_ENOMEM;
}

int rg_gguf_writer_set_arr_str(struct rg_gguf_writer *w, const char *key, const char *const *v,
                               uint64_t n)
{
    struct wkv *k = slot(w, key);
    if (!k) return RG_ENOMEM;
    k->type = RG_GGUF_ARRAY;
    k->arr_type = RG_GGUF_STRING;
    k->strs = rg_calloc(n ? (size_t)n : 1, sizeof *k->strs);
    if (!k->strs) return RG_ENOMEM;
    k->arr_n = n;
    for (uint64_t i = 0; i < n; i++)
        if (!(k->strs[i] = rg_strdup(v[i]))) return RG_ENOMEM;
    return RG_OK;
}

static int set_arr(struct rg_gguf_writer *w, const char *key, uint32_t et, const void *v,
                   uint64_t n, size_t es)
{
    struct wkv *k = slot(w, key);
    if (!k) return RG_ENOMEM;
    k->type = RG_GGUF_ARRAY;
    k->arr_type = et;
    k->arr_n = n;
    k->arr = rg_malloc(n ? (size_t)n * es : 1);
    if (!k->arr) return RG_ENOMEM;
    if (n) memcpy(k->arr, v, (size_t)n * es);
    return RG_OK;
}

int rg_gguf_writer_set_arr_f32(struct rg_gguf_writer *w, const char *key, const float *v,
                               uint64_t n)
{
    return set_arr(w, key, RG_GGUF_FLOAT32, v, n, 4);
}
int rg_gguf_writer_set_arr_i32(struct rg_gguf_writer *w, const char *key, const int32_t *v,
                               uint64_t n)
{
    return set_arr(w, key, RG_GGUF_INT32, v, n, 4);
}

int rg_gguf_writer_copy_kv(struct rg_gguf_writer *w, const struct rg_gguf *g)
{
    for (int64_t i = 0; i < g->n_kv; i++) {
        const struct rg_gguf_kv *src = &g->kvs[i];
        int rc;
        if (src->type == RG_GGUF_STRING) {
            rc = rg_gguf_writer_set_str(w, src->key, src->str);
        } else if (src->type == RG_GGUF_ARRAY) {
            if (src->arr_type == RG_GGUF_STRING)
                rc = rg_gguf_writer_set_arr_str(w, src->key, (const char *const *)src->arr_strs,
                                                src->arr_n);
            else
                rc = set_arr(w, src->key, src->arr_type, src->arr_data, src->arr_n,
                             rg_gguf_scalar_size(src->arr_type));
        } else {
            rc = set_scalar(w, src->key, src->type, &src->u, rg_gguf_scalar_size(src->type));
        }
        if (rc) return rc;
    }
    return RG_OK;
}

int rg_gguf_writer_add_tensor(struct rg_gguf_writer *w, const char *name, enum rg_type type,
                              uint32_t n_dims, const int64_t *ne, const void *data)
{
    if (!name || n_dims < 1 || n_dims > RG_GGUF_MAX_DIMS) return RG_EINVAL;
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return RG_EEXISTS;
    size_t size = rg_type_row_size(type, ne[0]);
    if (!size && ne[0]) return RG_EINVAL;
    for (uint32_t d = 1; d < n_dims; d++)
        if (ne[d] < 0 || !rg_mul_size(size, (size_t)ne[d], &size)) return RG_EINVAL;
    if (w->n_t == w->cap_t) {
        size_t nc = w->cap_t ? w->cap_t * 2 : 32;
        struct wtensor *v = rg_realloc(w->t, nc * sizeof *v);
        if (!v) return RG_ENOMEM;
        w->t = v;
        w->cap_t = nc;
    }
    struct wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = rg_strdup(name);
    t->data = rg_malloc(size ? size : 1);
    if (!t->name || !t->data) {
        rg_free(t->name);
        rg_free(t->data);
        return RG_ENOMEM;
    }
    if (size) memcpy(t->data, data, size);
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < RG_GGUF_MAX_DIMS; d++)
        t->ne[d] = d < (int)n_dims ? ne[d] : 1;
    t->size = size;
    w->n_t++;
    return RG_OK;
}

static bool put(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n;
}
static bool put_u32(FILE *f, uint32_t v)
{
    return put(f, &v, 4);
}
static bool put_u64(FILE *f, uint64_t v)
{
    return put(f, &v, 8);
}
static bool put_str(FILE *f, const char *s)
{
    size_t n = strlen(s);
    return put_u64(f, n) && put(f, s, n);
}
static bool pad(FILE *f, size_t *off, size_t align)
{
    static const uint8_t zeros[64] = {0};
    while (*off % align) {
        size_t n = RG_MIN(align - *off % align, sizeof zeros);
        if (!put(f, zeros, n)) return false;
        *off += n;
    }
    return true;
}

int rg_gguf_writer_write(struct rg_gguf_writer *w, const char *path, char *err)
{
    size_t align = 32;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (!strcmp(w->kv[i].key, "general.alignment") && w->kv[i].type == RG_GGUF_UINT32) {
            uint32_t a;
            memcpy(&a, w->kv[i].scalar, 4);
            if (a && !(a & (a - 1))) align = a;
        }
    }
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return rg_err_set(err, RG_EINVAL, "path too long");
    FILE *f = fopen(tmp, "wb");
    if (!f) return rg_err_set(err, RG_EIO, "%s: %s", tmp, strerror(errno));
    bool ok = put(f, "GGUF", 4) && put_u32(f, 3) && put_u64(f, w->n_t) && put_u64(f, w->n_kv);
    for (size_t i = 0; ok && i < w->n_kv; i++) {
        const struct wkv *k = &w->kv[i];
        ok = put_str(f, k->key) && put_u32(f, k->type);
        if (!ok) break;
        if (k->type == RG_GGUF_STRING) {
            ok = put_str(f, k->str);
        } else if (k->type == RG_GGUF_ARRAY) {
            ok = put_u32(f, k->arr_type) && put_u64(f, k->arr_n);
            if (k->arr_type == RG_GGUF_STRING)
                for (uint64_t j = 0; ok && j < k->arr_n; j++)
                    ok = put_str(f, k->strs[j]);
            else
                ok = ok && put(f, k->arr, (size_t)k->arr_n * rg_gguf_scalar_size(k->arr_type));
        } else {
            ok = put(f, k->scalar, rg_gguf_scalar_size(k->type));
        }
    }
    uint64_t off = 0;
    for (size_t i = 0; ok && i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        ok = put_str(f, t->name) && put_u32(f, t->n_dims);
        for (uint32_t d = 0; ok && d < t->n_dims; d++)
            ok = put_u64(f, (uint64_t)t->ne[d]);
        ok = ok && put_u32(f, (uint32_t)t->type) && put_u64(f, off);
        off += t->size;
        if (off % align) off += align - off % align;
    }
    long pos = ok ? ftell(f) : -1;
    size_t at = pos >= 0 ? (size_t)pos : 0;
    ok = ok && pos >= 0 && pad(f, &at, align);
    for (size_t i = 0; ok && i < w->n_t; i++) {
        ok = put(f, w->t[i].data, w->t[i].size);
        at += w->t[i].size;
        ok = ok && pad(f, &at, align);
    }
    if (fclose(f) != 0) ok = false;
    if (!ok) {
        remove(tmp);
        return rg_err_set(err, RG_EIO, "%s: write failed: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return rg_err_set(err, RG_EIO, "%s: %s", path, strerror(errno));
    }
    return RG_OK;
}
