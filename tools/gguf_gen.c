/*
 * gguf_gen: writes a GGUF model with random weights (seeded, N(0, 0.02), norms
 * 1.0) in the shapes of a real model, quantized to any mix, for tests and
 * benchmarks where no model can be downloaded. Tensor names and metadata keys
 * are llama.cpp's, so llama.cpp loads these files too.
 *
 *   gguf_gen --preset tinyllama-1.1b --type Q4_K_M -o tinyllama-q4_k_m.gguf
 *   gguf_gen --arch qwen2 --n-embd 64 --n-layer 2 --n-head 4 --n-head-kv 2 \
 *            --n-ff 128 --n-vocab 512 --type Q8_0 -o tiny-qwen2.gguf
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/str.h"
#include "engine/gguf/gguf.h"
#include "engine/quant/quant.h"
#include "engine/quant/recipe.h"

struct shape {
    const char *arch;
    int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, ctx;
    bool tied;
};

static const struct {
    const char *name;
    struct shape s;
} PRESETS[] = {
    {"tinyllama-1.1b", {"llama", 2048, 22, 32, 4, 5632, 32000, 2048, false}},
    {"smollm2-135m", {"llama", 576, 30, 9, 3, 1536, 49152, 8192, true}},
    {"tiny", {"llama", 64, 2, 4, 2, 128, 512, 2048, false}},
};

static uint64_t rng = 1;
static double unit(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static float normal(float sd)
{
    static int have = 0;
    static double spare;
    if (have) {
        have = 0;
        return (float)(spare * sd);
    }
    double u = unit(), v = unit(), r = sqrt(-2.0 * log(u));
    spare = r * sin(6.283185307179586 * v);
    have = 1;
    return (float)(r * cos(6.283185307179586 * v) * sd);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gguf_gen [--preset NAME | --arch A --n-embd N --n-layer N --n-head N "
            "--n-head-kv N\n"
            "                --n-ff N --n-vocab N --ctx N] [--tied] --type MIX [--seed S] "
            "[--vocab FILE] -o OUT\n"
            "presets: tinyllama-1.1b, smollm2-135m, tiny\n"
            "archs: llama, qwen2 (q/k/v biases), qwen3 (q/k norms), phi3 (fused qkv and gate/up),\n"
            "       gemma2 (post norms, soft-capping, GELU, tied embeddings)\n"
            "MIX: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M\n"
            "     Q5_K_S Q5_K_M Q6_K\n");
}

static int add(struct rg_gguf_writer *w, const char *mix, const char *name, int64_t ne0,
               int64_t ne1, int n_layer, float fill)
{
    uint32_t n_dims = ne1 > 0 ? 2 : 1;
    int64_t rows = ne1 > 0 ? ne1 : 1;
    enum rg_type t = rg_mix_tensor_type(mix, name, n_dims, ne0, n_layer);
    const struct rg_type_traits *tr = rg_type_traits(t);
    if (!tr || !tr->from_float) {
        fprintf(stderr, "gguf_gen: cannot quantize to %s yet\n", tr && tr->name ? tr->name : "?");
        return 1;
    }
    size_t row = rg_type_row_size(t, ne0);
    uint8_t *data = rg_malloc(row * (size_t)rows);
    float *x = rg_malloc((size_t)ne0 * sizeof *x);
    if (!data || !x) {
        fprintf(stderr, "gguf_gen: out of memory\n");
        return 1;
    }
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < ne0; i++)
            x[i] = fill != 0 ? fill : normal(0.02f);
        tr->from_float(x, data + (size_t)r * row, ne0);
    }
    int64_t ne[2] = {ne0, ne1};
    int rc = rg_gguf_writer_add_tensor(w, name, t, n_dims, ne, data);
    rg_free(data);
    rg_free(x);
    if (rc) fprintf(stderr, "gguf_gen: %s: %s\n", name, rg_strerror(rc));
    return rc ? 1 : 0;
}

/* A vocabulary the SentencePiece tokenizer can load: controls, 256 bytes, pieces. */
static int synthetic_vocab(struct rg_gguf_writer *w, int64_t n)
{
    if (n < 260) {
        fprintf(stderr, "gguf_gen: --n-vocab must be at least 260\n");
        return 1;
    }
    char **tok = rg_calloc((size_t)n, sizeof *tok);
    float *score = rg_calloc((size_t)n, sizeof *score);
    int32_t *type = rg_calloc((size_t)n, sizeof *type);
    if (!tok || !score || !type) return 1;
    for (int64_t i = 0; i < n; i++) {
        char buf[32];
        if (i == 0)
            snprintf(buf, sizeof buf, "<unk>"), type[i] = 2;
        else if (i == 1)
            snprintf(buf, sizeof buf, "<s>"), type[i] = 3;
        else if (i == 2)
            snprintf(buf, sizeof buf, "</s>"), type[i] = 3;
        else if (i < 259)
            snprintf(buf, sizeof buf, "<0x%02X>", (unsigned)(i - 3)), type[i] = 6;
        else
            snprintf(buf, sizeof buf, "\xe2\x96\x81t%lld", (long long)i), type[i] = 1;
        tok[i] = rg_strdup(buf);
        score[i] = i < 259 ? 0.0f : -(float)i;
    }
    int rc = rg_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama") ||
             rg_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok,
                                        (uint64_t)n) ||
             rg_gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", score, (uint64_t)n) ||
             rg_gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", type, (uint64_t)n) ||
             rg_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1) ||
             rg_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2) ||
             rg_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    for (int64_t i = 0; i < n; i++)
        rg_free(tok[i]);
    rg_free(tok);
    rg_free(score);
    rg_free(type);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct shape s = PRESETS[2].s;
    const char *mix = NULL, *out = NULL, *vocab = NULL;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t *num = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--tied")) {
            s.tied = true;
            continue;
        } else if (!v) {
            fprintf(stderr, "gguf_gen: %s needs a value\n", a);
            return 2;
        } else if (!strcmp(a, "--preset")) {
            size_t k = 0;
            while (k < sizeof PRESETS / sizeof PRESETS[0] && strcmp(PRESETS[k].name, v))
                k++;
            if (k == sizeof PRESETS / sizeof PRESETS[0]) {
                fprintf(stderr, "gguf_gen: unknown preset %s\n", v);
                return 2;
            }
            s = PRESETS[k].s;
        } else if (!strcmp(a, "--arch"))
            s.arch = v;
        else if (!strcmp(a, "--type"))
            mix = v;
        else if (!strcmp(a, "-o"))
            out = v;
        else if (!strcmp(a, "--vocab"))
            vocab = v;
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--n-embd"))
            num = &s.n_embd;
        else if (!strcmp(a, "--n-layer"))
            num = &s.n_layer;
        else if (!strcmp(a, "--n-head"))
            num = &s.n_head;
        else if (!strcmp(a, "--n-head-kv"))
            num = &s.n_head_kv;
        else if (!strcmp(a, "--n-ff"))
            num = &s.n_ff;
        else if (!strcmp(a, "--n-vocab"))
            num = &s.n_vocab;
        else if (!strcmp(a, "--ctx"))
            num = &s.ctx;
        else {
            fprintf(stderr, "gguf_gen: unknown option %s\n", a);
            return 2;
        }
        if (num && rg_parse_i64(v, 1, 1 << 24, num) != RG_OK) {
            fprintf(stderr, "gguf_gen: %s: bad number '%s'\n", a, v);
            return 2;
        }
        i++;
    }
    if (!mix || !out || rg_mix_base_type(mix) < 0) {
        usage(stderr);
        return 2;
    }
    if (strcmp(s.arch, "llama") && strcmp(s.arch, "qwen2") && strcmp(s.arch, "qwen3") &&
        strcmp(s.arch, "phi3") && strcmp(s.arch, "gemma2") && strcmp(s.arch, "bert")) {
        fprintf(stderr, "gguf_gen: architecture %s is not supported\n", s.arch);
        return 2;
    }
    if (!strcmp(s.arch, "bert"))
        s.n_head_kv = s.n_head; /* encoders have no grouped-query attention */
    if (s.n_embd % s.n_head || s.n_head % s.n_head_kv) {
        fprintf(stderr, "gguf_gen: n_embd must divide by n_head and n_head by n_head_kv\n");
        return 2;
    }
    rng = seed * 0x9E3779B97F4A7C15ull + 1;
    rg_quant_init();
    struct rg_gguf_writer *w = rg_gguf_writer_new();
    char key[128], err[RG_ERR_SIZE];
    const char *A = s.arch;
    int rc = 0;
#define KV_U32(suffix, val)                                                                        \
    snprintf(key, sizeof key, "%s.%s", A, suffix);                                                 \
    rc |= rg_gguf_writer_set_u32(w, key, (uint32_t)(val))
    if (vocab) {
        struct rg_gguf *g = rg_gguf_open(vocab, NULL, err);
        if (!g) {
            fprintf(stderr, "gguf_gen: %s\n", err);
            return 1;
        }
        /* every key of the vocab file first; ours below replace the model ones */
        rc = rg_gguf_writer_copy_kv(w, g);
        uint64_t n;
        if (rg_gguf_get_arr(g, "tokenizer.ggml.tokens", NULL, &n) == RG_OK) s.n_vocab = (int64_t)n;
        rg_gguf_close(g);
    } else {
        rc = synthetic_vocab(w, s.n_vocab);
    }
    if (rc) return 1;
    rc |= rg_gguf_writer_set_str(w, "general.architecture", A);
    rc |= rg_gguf_writer_set_str(w, "general.name", "random weights (gguf_gen)");
    rc |= rg_gguf_writer_set_u32(w, "general.file_type", (uint32_t)rg_mix_file_type(mix));
    KV_U32("embedding_length", s.n_embd);
    KV_U32("block_count", s.n_layer);
    KV_U32("attention.head_count", s.n_head);
    KV_U32("attention.head_count_kv", s.n_head_kv);
    KV_U32("feed_forward_length", s.n_ff);
    KV_U32("context_length", s.ctx);
    KV_U32("rope.dimension_count", s.n_embd / s.n_head);
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", A);
    rc |= rg_gguf_writer_set_f32(w, key, 1e-5f);
    if (!strcmp(A,
                "phi3")) { /* llama.cpp requires it; a window as long as the context never slides */
        KV_U32("attention.sliding_window", s.ctx);
    }
    if (!strcmp(A, "bert")) {
        KV_U32("pooling_type", 1);
        snprintf(key, sizeof key, "%s.attention.layer_norm_epsilon", A);
        rc |= rg_gguf_writer_set_f32(w, key, 1e-12f);
        snprintf(key, sizeof key, "%s.attention.causal", A);
        rc |= rg_gguf_writer_set_bool(w, key, false);
        rc |= rg_gguf_writer_set_u32(w, "tokenizer.ggml.token_type_count", 2);
    }
    if (!strcmp(A, "gemma2")) {
        KV_U32("attention.sliding_window", 4096);
        snprintf(key, sizeof key, "%s.attn_logit_softcapping", A);
        rc |= rg_gguf_writer_set_f32(w, key, 50.0f);
        snprintf(key, sizeof key, "%s.final_logit_softcapping", A);
        rc |= rg_gguf_writer_set_f32(w, key, 30.0f);
        s.tied = true; /* gemma2 has no output matrix */
    }
    snprintf(key, sizeof key, "%s.rope.freq_base", A);
    rc |= rg_gguf_writer_set_f32(w, key, 10000.0f);
    if (rc) return 1;
    int64_t E = s.n_embd, hd = s.n_embd / s.n_head, KV = s.n_head_kv * hd, F = s.n_ff,
            V = s.n_vocab;
    int L = (int)s.n_layer;
    if (!strcmp(A, "bert")) {
        rc |= add(w, mix, "token_embd.weight", E, V, L, 0);
        rc |= add(w, mix, "token_types.weight", E, 2, L, 0);
        rc |= add(w, mix, "position_embd.weight", E, s.ctx, L, 0);
        rc |= add(w, mix, "token_embd_norm.weight", E, 0, L, 1.0f);
        rc |= add(w, mix, "token_embd_norm.bias", E, 0, L, 0);
        for (int l = 0; l < L && !rc; l++) {
            static const struct {
                const char *name;
                int a, b; /* 0 = E, 1 = F, -1 = vector */
                float fill;
            } T[] = {{"attn_q.weight", 0, 0, 0},
                     {"attn_q.bias", 0, -1, 0},
                     {"attn_k.weight", 0, 0, 0},
                     {"attn_k.bias", 0, -1, 0},
                     {"attn_v.weight", 0, 0, 0},
                     {"attn_v.bias", 0, -1, 0},
                     {"attn_output.weight", 0, 0, 0},
                     {"attn_output.bias", 0, -1, 0},
                     {"attn_output_norm.weight", 0, -1, 1},
                     {"attn_output_norm.bias", 0, -1, 0},
                     {"ffn_up.weight", 0, 1, 0},
                     {"ffn_up.bias", 1, -1, 0},
                     {"ffn_down.weight", 1, 0, 0},
                     {"ffn_down.bias", 0, -1, 0},
                     {"layer_output_norm.weight", 0, -1, 1},
                     {"layer_output_norm.bias", 0, -1, 0}};
            for (size_t k = 0; k < sizeof T / sizeof T[0]; k++) {
                char n[96];
                snprintf(n, sizeof n, "blk.%d.%s", l, T[k].name);
                int64_t ne0 = T[k].a ? s.n_ff : E, ne1 = T[k].b < 0 ? 0 : T[k].b ? s.n_ff : E;
                rc |= add(w, mix, n, ne0, ne1, L, T[k].fill);
            }
        }
        goto write;
    }
    rc |= add(w, mix, "token_embd.weight", E, V, L, 0);
    rc |= add(w, mix, "output_norm.weight", E, 0, L, 1.0f);
    if (!s.tied) rc |= add(w, mix, "output.weight", E, V, L, 0);
    for (int l = 0; l < L && !rc; l++) {
        char n[96];
#define T(suffix, ne0, ne1, fill)                                                                  \
    snprintf(n, sizeof n, "blk.%d.%s", l, suffix);                                                 \
    rc |= add(w, mix, n, ne0, ne1, L, fill)
        T("attn_norm.weight", E, 0, 1.0f);
        if (!strcmp(A, "phi3")) {
            T("attn_qkv.weight", E, E + 2 * KV, 0);
        } else {
            T("attn_q.weight", E, E, 0);
            T("attn_k.weight", E, KV, 0);
            T("attn_v.weight", E, KV, 0);
        }
        T("attn_output.weight", E, E, 0);
        T("ffn_norm.weight", E, 0, 1.0f);
        if (!strcmp(A, "phi3")) {
            T("ffn_up.weight", E, 2 * F, 0);
        } else {
            T("ffn_gate.weight", E, F, 0);
            T("ffn_up.weight", E, F, 0);
        }
        T("ffn_down.weight", F, E, 0);
        if (!strcmp(A, "qwen2")) {
            T("attn_q.bias", E, 0, 0.01f);
            T("attn_k.bias", KV, 0, 0.01f);
            T("attn_v.bias", KV, 0, 0.01f);
        }
        if (!strcmp(A, "gemma2")) {
            T("post_attention_norm.weight", E, 0, 1.0f);
            T("post_ffw_norm.weight", E, 0, 1.0f);
        }
        if (!strcmp(A, "qwen3")) {
            T("attn_q_norm.weight", hd, 0, 1.0f);
            T("attn_k_norm.weight", hd, 0, 1.0f);
        }
#undef T
    }
write:
    if (rc == 0 && rg_gguf_writer_write(w, out, err) != RG_OK) {
        fprintf(stderr, "gguf_gen: %s\n", err);
        rc = 1;
    }
    rg_gguf_writer_free(w);
    return rc ? 1 : 0;
}
