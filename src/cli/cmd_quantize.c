/*
 * `rustygpt quantize IN.gguf OUT.gguf TYPE`: converts a model's weight
 * matrices to a quantization mix (Q4_0, Q8_0, Q4_K_M, F16, ...), choosing
 * each tensor's type as llama.cpp's recipe does, with per-tensor fallbacks
 * where a row length does not fit the type's block size. Metadata is copied;
 * 1-D tensors (norms, biases) stay as they are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/alloc.h"
#include "engine/gguf/gguf.h"
#include "engine/quant/quant.h"
#include "engine/quant/recipe.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rustygpt quantize IN.gguf OUT.gguf TYPE\n\n"
            "TYPE: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M\n"
            "      Q5_K_S Q5_K_M Q6_K\n");
}

int rg_cmd_quantize(int argc, char **argv)
{
    const char *pos[3] = {0};
    int np = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return RG_EXIT_OK;
        }
        if (argv[i][0] == '-' || np == 3) {
            fprintf(stderr, "rustygpt quantize: unexpected argument '%s'\n", argv[i]);
            return RG_EXIT_USAGE;
        }
        pos[np++] = argv[i];
    }
    if (np != 3) {
        usage(stderr);
        return RG_EXIT_USAGE;
    }
    const char *in = pos[0], *outp = pos[1], *mix = pos[2];
    if (rg_mix_base_type(mix) < 0) {
        fprintf(stderr, "rustygpt quantize: unknown type '%s'\n", mix);
        return RG_EXIT_USAGE;
    }
    rg_quant_init();
    char err[RG_ERR_SIZE];
    struct rg_gguf *g = rg_gguf_open(in, NULL, err);
    if (!g) {
        fprintf(stderr, "rustygpt quantize: %s\n", err);
        return RG_EXIT_FAIL;
    }
    const char *arch = "llama";
    rg_gguf_get_str(g, "general.architecture", &arch);
    char key[128];
    snprintf(key, sizeof key, "%s.block_count", arch);
    uint32_t n_layer = 0;
    rg_gguf_get_u32(g, key, &n_layer);
    struct rg_gguf_writer *w = rg_gguf_writer_new();
    int rc = w ? rg_gguf_writer_copy_kv(w, g) : RG_ENOMEM;
    if (rc == RG_OK)
        rc = rg_gguf_writer_set_u32(w, "general.file_type", (uint32_t)rg_mix_file_type(mix));
    int exit_code = RG_EXIT_FAIL;
    size_t bytes_in = 0, bytes_out = 0;
    for (int64_t i = 0; rc == RG_OK && i < rg_gguf_n_tensors(g); i++) {
        const struct rg_gguf_tensor *t = rg_gguf_tensor(g, i);
        enum rg_type to = t->n_dims >= 2
                              ? rg_mix_tensor_type(mix, t->name, t->n_dims, t->ne[0], (int)n_layer)
                              : t->type;
        bytes_in += t->size;
        if (to == t->type) {
            rc = rg_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
            bytes_out += t->size;
            continue;
        }
        const struct rg_type_traits *src = rg_type_traits(t->type), *dst = rg_type_traits(to);
        if (!src || !src->to_float) {
            fprintf(stderr, "rustygpt quantize: %s: cannot read type %s\n", t->name,
                    src && src->name ? src->name : "?");
            rc = RG_EUNSUPPORTED;
            break;
        }
        if (!dst || !dst->from_float) {
            fprintf(stderr, "rustygpt quantize: %s: cannot write type %s yet\n", t->name,
                    dst && dst->name ? dst->name : "?");
            rc = RG_EUNSUPPORTED;
            break;
        }
        int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
        size_t in_row = rg_type_row_size(t->type, t->ne[0]),
               out_row = rg_type_row_size(to, t->ne[0]);
        float *tmp = rg_malloc_array((size_t)t->ne[0], sizeof *tmp);
        uint8_t *out = rg_malloc_array((size_t)rows, out_row);
        if (!tmp || !out) {
            rg_free(tmp);
            rg_free(out);
            rc = RG_ENOMEM;
            break;
        }
        for (int64_t r = 0; r < rows; r++) {
            src->to_float((const uint8_t *)t->data + (size_t)r * in_row, tmp, t->ne[0]);
            dst->from_float(tmp, out + (size_t)r * out_row, t->ne[0]);
        }
        rc = rg_gguf_writer_add_tensor(w, t->name, to, t->n_dims, t->ne, out);
        bytes_out += (size_t)rows * out_row;
        fprintf(stderr, "%-32s %6s -> %-6s [%lld x %lld]\n", t->name, src->name, dst->name,
                (long long)t->ne[0], (long long)rows);
        rg_free(tmp);
        rg_free(out);
    }
    if (rc == RG_OK) rc = rg_gguf_writer_write(w, outp, err);
    if (rc == RG_OK) {
        fprintf(stderr, "rustygpt quantize: %s: %.1f MB -> %.1f MB\n", outp, (double)bytes_in / 1e6,
                (double)bytes_out / 1e6);
        exit_code = RG_EXIT_OK;
    } else if (err[0]) {
        fprintf(stderr, "rustygpt quantize: %s\n", rc == RG_EIO ? err : rg_strerror(rc));
    }
    rg_gguf_writer_free(w);
    rg_gguf_close(g);
    return exit_code;
}
