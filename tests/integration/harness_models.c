/* Variants of a test model (harness_models.h). */
#include "harness_models.h"

#include <stdio.h>
#include <stdlib.h>

#include "engine/gguf/gguf.h"

int rg_test_model_variant(const char *src, const char *dst, const char *tmpl, const int32_t *ids,
                          const char *const *texts, size_t n)
{
    char err[RG_ERR_SIZE] = "";
    struct rg_gguf *g = rg_gguf_open(src, NULL, err);
    struct rg_gguf_writer *w = g ? rg_gguf_writer_new() : NULL;
    int rc = w ? rg_gguf_writer_copy_kv(w, g) : RG_EIO;
    if (rc == RG_OK && tmpl) rc = rg_gguf_writer_set_str(w, "tokenizer.chat_template", tmpl);
    enum rg_gguf_type t;
    uint64_t nt = 0;
    const char **tok = NULL;
    if (rc == RG_OK && n) {
        rc = rg_gguf_get_arr(g, "tokenizer.ggml.tokens", &t, &nt);
        tok = rc == RG_OK ? calloc(nt, sizeof *tok) : NULL;
        if (rc == RG_OK && !tok) rc = RG_ENOMEM;
        for (uint64_t i = 0; rc == RG_OK && i < nt; i++) {
            size_t len;
            rc = rg_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &tok[i], &len);
        }
        for (size_t k = 0; rc == RG_OK && k < n; k++) {
            if (ids[k] < 0 || (uint64_t)ids[k] >= nt)
                rc = RG_ERANGE;
            else
                tok[ids[k]] = texts[k];
        }
        if (rc == RG_OK) rc = rg_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tok, nt);
    }
    for (int64_t i = 0; rc == RG_OK && i < rg_gguf_n_tensors(g); i++) {
        const struct rg_gguf_tensor *x = rg_gguf_tensor(g, i);
        rc = rg_gguf_writer_add_tensor(w, x->name, x->type, x->n_dims, x->ne, x->data);
    }
    if (rc == RG_OK) rc = rg_gguf_writer_write(w, dst, err);
    if (rc != RG_OK) fprintf(stderr, "cannot write %s: %s %s\n", dst, rg_strerror(rc), err);
    free(tok);
    rg_gguf_writer_free(w);
    rg_gguf_close(g);
    return rc == RG_OK ? 0 : -1;
}
