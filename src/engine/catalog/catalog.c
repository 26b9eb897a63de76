/* Model catalog (see catalog.h). */
#include "engine/catalog/catalog.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/str.h"
#include "engine/gguf/gguf.h"
#include "engine/quant/quant_internal.h"

const char *rg_catalog_file_type_name(uint32_t ftype)
{
    /* llama.cpp's llama_ftype values as written to general.file_type. */
    static const char *const names[] = {
        [0] = "F32",      [1] = "F16",      [2] = "Q4_0",    [3] = "Q4_1",    [7] = "Q8_0",
        [8] = "Q5_0",     [9] = "Q5_1",     [10] = "Q2_K",   [11] = "Q3_K_S", [12] = "Q3_K_M",
        [13] = "Q3_K_L",  [14] = "Q4_K_S",  [15] = "Q4_K_M", [16] = "Q5_K_S", [17] = "Q5_K_M",
        [18] = "Q6_K",    [19] = "IQ2_XXS", [20] = "IQ2_XS", [21] = "Q2_K_S", [22] = "IQ3_XS",
        [23] = "IQ3_XXS", [24] = "IQ1_S",   [25] = "IQ4_NL", [26] = "IQ3_S",  [27] = "IQ3_M",
        [28] = "IQ2_S",   [29] = "IQ2_M",   [30] = "IQ4_XS", [31] = "IQ1_M",  [32] = "BF16",
        [36] = "TQ1_0",   [37] = "TQ2_0",
    };
    ftype &= ~UINT32_C(1024); /* LLAMA_FTYPE_GUESSED */
    return ftype < RG_ARRAY_LEN(names) ? names[ftype] : NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? rg_strdup(s) : NULL;
}

static int set_error(struct rg_model_entry *e, const char *msg)
{
    e->error = rg_strdup(msg && *msg ? msg : "unreadable");
    return e->error ? RG_OK : RG_ENOMEM;
}

int rg_catalog_inspect(const char *path, struct rg_model_entry *e)
{
    memset(e, 0, sizeof *e);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t blen = strlen(base);
    if (rg_str_ends_with(base, ".gguf")) blen -= 5;
    e->name = rg_strndup(base, blen);
    e->path = rg_strdup(path);
    if (!e->name || !e->path) goto nomem;
    struct stat st;
    if (stat(path, &st) == 0) e->size = (uint64_t)st.st_size;

    char err[RG_ERR_SIZE] = "";
    struct rg_gguf_params p = rg_gguf_default_params();
    struct rg_gguf *g = rg_gguf_open(path, &p, err);
    if (!g) {
        if (set_error(e, err) != RG_OK) goto nomem;
        return RG_OK;
    }
    const char *arch = NULL;
    rg_gguf_get_str(g, "general.architecture", &arch);
    e->arch = dup_or_null(arch);
    if (arch && !e->arch) goto nomem_g;
    if (arch) {
        char key[160];
        snprintf(key, sizeof key, "%s.context_length", arch);
        rg_gguf_get_u64(g, key, &e->ctx);
    }
    uint64_t counts[RG_TYPE_COUNT] = {0};
    int64_t nt = rg_gguf_n_tensors(g);
    for (int64_t i = 0; i < nt; i++) {
        const struct rg_gguf_tensor *t = rg_gguf_tensor(g, i);
        uint64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            n *= (uint64_t)t->ne[d];
        e->n_params += n;
        if ((unsigned)t->type < RG_ARRAY_LEN(counts) && t->n_dims >= 2) counts[t->type] += n;
    }
    uint32_t ftype;
    const char *q = NULL;
    if (rg_gguf_get_u32(g, "general.file_type", &ftype) == RG_OK)
        q = rg_catalog_file_type_name(ftype);
    if (!q) {
        size_t best = RG_ARRAY_LEN(counts);
        for (size_t i = 0; i < RG_ARRAY_LEN(counts); i++)
            if (counts[i] && (best == RG_ARRAY_LEN(counts) || counts[i] > counts[best])) best = i;
        if (best < RG_ARRAY_LEN(counts)) {
            q = rg_type_geometry[best].name;
        }
    }
    if (!q && nt == 0) q = "vocab-only";
    e->quant = dup_or_null(q);
    rg_gguf_close(g);
    if (q && !e->quant) goto nomem;
    return RG_OK;
nomem_g:
    rg_gguf_close(g);
nomem:
    rg_catalog_entry_free(e);
    return RG_ENOMEM;
}

void rg_catalog_entry_free(struct rg_model_entry *e)
{
    if (!e) return;
    rg_free(e->name);
    rg_free(e->path);
    rg_free(e->arch);
    rg_free(e->quant);
    rg_free(e->error);
    memset(e, 0, sizeof *e);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct rg_model_entry *)a)->name,
                  ((const struct rg_model_entry *)b)->name);
}

int rg_catalog_scan(const char *dir, struct rg_model_list *out, char *err)
{
    out->v = NULL;
    out->n = 0;
    DIR *d = opendir(dir);
    if (!d) return rg_err_set(err, RG_ENOTFOUND, "models directory %s: cannot open", dir);
    size_t cap = 0;
    int rc = RG_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !rg_str_ends_with(de->d_name, ".gguf")) continue;
        if (out->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct rg_model_entry *v = rg_realloc(out->v, nc * sizeof *v);
            if (!v) {
                rc = RG_ENOMEM;
                break;
            }
            out->v = v;
            cap = nc;
        }
        size_t plen = strlen(dir) + strlen(de->d_name) + 2;
        char *path = rg_malloc(plen);
        if (!path) {
            rc = RG_ENOMEM;
            break;
        }
        snprintf(path, plen, "%s/%s", dir, de->d_name);
        rc = rg_catalog_inspect(path, &out->v[out->n]);
        rg_free(path);
        if (rc != RG_OK) break;
        out->n++;
    }
    closedir(d);
    if (rc != RG_OK) {
        rg_catalog_free(out);
        return rg_err_set(err, rc, "out of memory");
    }
    if (out->n) qsort(out->v, out->n, sizeof *out->v, by_name);
    return RG_OK;
}

void rg_catalog_free(struct rg_model_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        rg_catalog_entry_free(&l->v[i]);
    rg_free(l->v);
    l->v = NULL;
    l->n = 0;
}
