/*
 * Fuzz target for the GGUF reader: open the bytes, then touch everything a
 * model loader would (every key by type, every array element, every tensor's
 * first and last byte), so a bound the parser forgot shows up as an ASan
 * report here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[RG_ERR_SIZE];
    struct rg_gguf_params p = rg_gguf_default_params();
    p.max_array = 1u << 16; /* keep each run small; the limits themselves are tested */
    p.max_string = 1u << 16;
    struct rg_gguf *g = rg_gguf_open_memory(data, size, &p, err);
    if (!g) return 0;
    volatile uint64_t sink = 0;
    for (int64_t i = 0; i < rg_gguf_n_kv(g); i++) {
        const char *key = rg_gguf_key(g, i);
        sink += strlen(key);
        uint64_t u;
        int64_t s;
        float f;
        bool b;
        const char *str;
        if (rg_gguf_get_u64(g, key, &u) == RG_OK) sink += u;
        if (rg_gguf_get_i64(g, key, &s) == RG_OK) sink += (uint64_t)s;
        if (rg_gguf_get_f32(g, key, &f) == RG_OK) sink += (uint64_t)(f == f);
        if (rg_gguf_get_bool(g, key, &b) == RG_OK) sink += b;
        if (rg_gguf_get_str(g, key, &str) == RG_OK) sink += strlen(str);
        enum rg_gguf_type et;
        uint64_t n;
        if (rg_gguf_get_arr(g, key, &et, &n) == RG_OK) {
            if (et == RG_GGUF_STRING) {
                for (uint64_t k = 0; k < n; k++) {
                    size_t len;
                    if (rg_gguf_arr_str(g, key, k, &str, &len) == RG_OK)
                        sink += len + (uint8_t)str[len];
                }
            } else if (n > 0 && n < (1u << 16)) {
                float *fv = malloc(n * sizeof *fv);
                int32_t *iv = malloc(n * sizeof *iv);
                if (fv && rg_gguf_arr_f32(g, key, fv, n) == RG_OK)
                    sink += (uint64_t)(fv[n - 1] == fv[0]);
                if (iv && rg_gguf_arr_i32(g, key, iv, n) == RG_OK) sink += (uint64_t)iv[n - 1];
                free(fv);
                free(iv);
            }
        }
    }
    for (int64_t i = 0; i < rg_gguf_n_tensors(g); i++) {
        const struct rg_gguf_tensor *t = rg_gguf_tensor(g, i);
        if (t->size)
            sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->size - 1];
        if (rg_gguf_find_tensor(g, t->name) != t) abort();
    }
    (void)sink;
    rg_gguf_close(g);
    return 0;
}
