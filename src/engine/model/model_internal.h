/*
 * What the model's files share: the model and context structures, and the
 * small numeric helpers both the decoder (model.c) and the encoder (bert.c)
 * forward passes use.
 */
#ifndef RG_ENGINE_MODEL_INTERNAL_H
#define RG_ENGINE_MODEL_INTERNAL_H

#include <math.h>

#include "common/alloc.h"
#include "engine/engine.h"
#include "engine/gguf/gguf.h"
#include "engine/kernels/kernels.h"

#define RG_MAX_GROUP 64 /* query heads one attention work item takes at most */

struct layer {
    const struct rg_gguf_tensor *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv, *q_norm, *k_norm;
    const struct rg_gguf_tensor *wqkv; /* phi3: q, k and v in one matrix */
    const struct rg_gguf_tensor *ffn_norm, *w_gate, *w_up, *w_down;
    const struct rg_gguf_tensor *attn_post_norm, *ffn_post_norm; /* gemma2 */
    /* bert: biases and LayerNorms (weight, bias) */
    const struct rg_gguf_tensor *bo, *b_up, *b_down, *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    bool fused_up; /* phi3: ffn_up holds gate then up */
};

enum arch { ARCH_LLAMA, ARCH_QWEN2, ARCH_QWEN3, ARCH_PHI3, ARCH_GEMMA2, ARCH_BERT };

struct rg_model {
    struct rg_gguf *g;
    struct rg_vocab *vocab;
    struct rg_model_info info;
    enum arch arch;
    char name[128];
    const struct rg_gguf_tensor *tok_embd, *output_norm, *output;
    struct layer *layers;
    /* [n_tensors]: the packed form of each matrix (kernels.h), NULL where the
     * file's layout is used; owned */
    void **packed;
    /* gemma2 */
    float embd_scale;                  /* token embeddings times this (1 = none) */
    float attn_softcap, final_softcap; /* 0 = none */
    int32_t sliding_window;            /* even layers see this many positions; 0 = all */
    bool gelu;                         /* GELU gate instead of SiLU */
    /* bert */
    const struct rg_gguf_tensor *tok_types, *pos_embd, *embd_ln_w, *embd_ln_b;
    float ln_eps;
    int pooling; /* 1 mean, 2 first token (CLS) */
};

struct rg_ctx {
    struct rg_model *m;
    struct rg_pool *pool;
    bool pool_shared; /* another context's (rg_ctx_params.share_pool): not ours to free */
    int32_t n_ctx, n_batch, n_seq;
    int32_t n_past;             /* sequence 0 (the single-sequence API) */
    int32_t *past;              /* [n_seq] positions held per sequence; past[0] mirrors n_past */
    int32_t *tok_seq, *tok_pos; /* [n_batch] sequence and position of each token of a batch */
    int32_t *out_rows;          /* [n_batch] tokens whose logits are wanted */
    size_t kv_dim;
    float *k_cache, *v_cache;        /* [seq][layer][n_ctx][kv_dim], F32 cache; else NULL */
    uint16_t *k_cache16, *v_cache16; /* the same as half floats (kv_type F16); else NULL */
    float *x, *xn, *q, *k, *v, *att, *gate, *up, *tmp, *scores, *last_logits, *fused;
    float *rope_cos, *rope_sin; /* [n_batch][n_rot/2] for the current batch */
};

static inline void rms_norm(const float *x, const float *w, float *y, int n, float eps)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]); /* float products, as llama.cpp */
    float scale = 1.0f / sqrtf((float)(sum / n) + eps);
    for (int i = 0; i < n; i++)
        y[i] = x[i] * scale * w[i];
}

/* Angles for each token's position, built as llama.cpp does: theta *= theta_scale. */
static inline int mm(struct rg_ctx *c, const struct rg_gguf_tensor *w, const float *x,
                     int32_t n_tok, float *y)
{
    const void *packed = c->m->packed ? c->m->packed[rg_gguf_tensor_index(c->m->g, w)] : NULL;
    if (packed) return rg_matmul_packed(c->pool, w->type, packed, w->ne[1], w->ne[0], x, n_tok, y);
    return rg_matmul(c->pool, w->type, w->data, w->ne[1], w->ne[0], x, n_tok, y);
}

static inline void add_bias(float *y, const struct rg_gguf_tensor *b, int32_t n_tok, int64_t dim)
{
    if (!b) return;
    const float *bv = b->data;
    for (int32_t t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < dim; i++)
            y[(size_t)t * dim + i] += bv[i];
}

/* GELU, tanh form, as llama.cpp computes it on the CPU: the input rounded to
 * half precision, the result too, and the identity beyond +-10. The
 * half-precision results of every half-precision input are a table
 * (rg_gelu_init, at model load: 128 KiB), so a call is a lookup, not a tanh. */
extern uint16_t rg_gelu_f16[65536];
void rg_gelu_init(void); /* idempotent, thread-safe */
static inline float gelu_exact(float h)
{
    float y = 0.5f * h * (1.0f + tanhf(0.79788456080286535588f * h * (1.0f + 0.044715f * h * h)));
    return rg_fp16_to_fp32(rg_fp32_to_fp16(y));
}
static inline float gelu(float x)
{
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    return rg_fp16_to_fp32(rg_gelu_f16[rg_fp32_to_fp16(x)]);
}

/*
 * One batch of n tokens through the decoder (model.c). Token t belongs to
 * sequence seq[t] (seq NULL: all sequence 0) and goes at that sequence's
 * next position; logits for the tokens in out_rows (n_out), one row each.
 */
int rg_model_forward(struct rg_ctx *c, const int32_t *tokens, const int32_t *seq, int32_t n,
                     float *logits, const int32_t *out_rows, int32_t n_out);

#endif
