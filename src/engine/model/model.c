/*
 * Decoder-only transformers of the llama family (llama, mistral, qwen2,
 * qwen3, phi3, gemma2), and BERT-style encoders for embeddings: hyperparameters from GGUF metadata,
 * tensors bound by llama.cpp's names with every shape and type checked, and the forward pass over
 * an F32 KV cache.
 *
 * Numerics follow llama.cpp's CPU backend where it matters for matching its
 * logits: activations are converted to the weight's vec_dot_type before each
 * matrix product (kernels/matmul.c), RoPE angles are built by repeated
 * multiplication, norms and softmax are F32 with double accumulation.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "engine/model/model_internal.h"

struct rg_model_params rg_model_default_params(void)
{
    return (struct rg_model_params){0};
}
struct rg_ctx_params rg_ctx_default_params(void)
{
    return (struct rg_ctx_params){.n_batch = 512, .n_seq = 1, .kv_type = RG_TYPE_F32};
}

const struct rg_model_info *rg_model_info(const struct rg_model *m)
{
    return &m->info;
}
const struct rg_vocab *rg_model_vocab(const struct rg_model *m)
{
    return m->vocab;
}
const struct rg_gguf *rg_model_gguf(const struct rg_model *m)
{
    return m->g;
}

void rg_model_free(struct rg_model *m)
{
    if (!m) return;
    rg_vocab_free(m->vocab);
    if (m->packed)
        for (int64_t i = 0; i < rg_gguf_n_tensors(m->g); i++)
            rg_free(m->packed[i]);
    rg_free(m->packed);
    rg_gguf_close(m->g);
    rg_free(m->layers);
    rg_free(m);
}

/* ---- loading ---- */

static int get_u32(const struct rg_gguf *g, const char *arch, const char *suffix, uint32_t *out,
                   bool required, char *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = rg_gguf_get_u32(g, key, out);
    if (rc == RG_ENOTFOUND && !required) return RG_OK;
    if (rc == RG_ENOTFOUND) return rg_err_set(err, RG_EFORMAT, "missing metadata %s", key);
    if (rc) return rg_err_set(err, RG_EFORMAT, "metadata %s: expected one unsigned integer", key);
    return RG_OK;
}

static int get_f32(const struct rg_gguf *g, const char *arch, const char *suffix, float *out,
                   char *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = rg_gguf_get_f32(g, key, out);
    if (rc == RG_ENOTFOUND) return RG_OK;
    if (rc) return rg_err_set(err, RG_EFORMAT, "metadata %s: expected a float", key);
    if (!isfinite(*out))
        return rg_err_set(err, RG_EFORMAT, "metadata %s: not a finite number", key);
    return RG_OK;
}

/* Binds a tensor and checks its shape: ne0 x ne1 (ne1 = 0 for a vector). A
 * matrix must have a matmul kernel; a vector must be F32. */
static int bind(struct rg_model *m, const struct rg_gguf_tensor **out, const char *name,
                int64_t ne0, int64_t ne1, bool required, char *err)
{
    *out = NULL;
    const struct rg_gguf_tensor *t = rg_gguf_find_tensor(m->g, name);
    if (!t) return required ? rg_err_set(err, RG_EFORMAT, "tensor '%s' is missing", name) : RG_OK;
    bool is_matrix = ne1 > 0;
    int64_t want[4] = {ne0, is_matrix ? ne1 : 1, 1, 1};
    for (int d = 0; d < 4; d++)
        if (t->ne[d] != want[d])
            return rg_err_set(
                err, RG_EFORMAT,
                "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]", name,
                (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                (long long)ne0, (long long)want[1]);
    const struct rg_type_traits *tr = rg_type_traits(t->type);
    if (is_matrix) {
        if (!tr || !tr->vec_dot || !tr->to_float)
            return rg_err_set(err, RG_EUNSUPPORTED,
                              "tensor '%s': type %s is not supported for matrices", name,
                              tr && tr->name ? tr->name : "?");
    } else if (t->type != RG_TYPE_F32) {
        return rg_err_set(err, RG_EUNSUPPORTED, "tensor '%s': vectors must be F32, not %s", name,
                          tr && tr->name ? tr->name : "?");
    }
    *out = t;
    return RG_OK;
}

static int load_hparams(struct rg_model *m, char *err)
{
    struct rg_model_info *I = &m->info;
    const char *arch = NULL;
    if (rg_gguf_get_str(m->g, "general.architecture", &arch) != RG_OK)
        return rg_err_set(err, RG_EFORMAT, "missing general.architecture");
    I->arch = arch;
    if (!strcmp(arch, "llama") || !strcmp(arch, "mistral"))
        m->arch = ARCH_LLAMA, I->rope_type = RG_ROPE_NORM;
    else if (!strcmp(arch, "qwen2"))
        m->arch = ARCH_QWEN2, I->rope_type = RG_ROPE_NEOX;
    else if (!strcmp(arch, "qwen3"))
        m->arch = ARCH_QWEN3, I->rope_type = RG_ROPE_NEOX;
    else if (!strcmp(arch, "phi3"))
        m->arch = ARCH_PHI3, I->rope_type = RG_ROPE_NEOX;
    else if (!strcmp(arch, "gemma2"))
        m->arch = ARCH_GEMMA2, I->rope_type = RG_ROPE_NEOX;
    else if (!strcmp(arch, "bert"))
        m->arch = ARCH_BERT, I->rope_type = RG_ROPE_NORM;
    else
        return rg_err_set(err, RG_EUNSUPPORTED, "architecture '%.60s' is not supported yet", arch);

    uint32_t n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0, n_ctx = 0, key_len = 0,
             n_rot = 0;
    int rc;
    if ((rc = get_u32(m->g, arch, "embedding_length", &n_embd, true, err)) ||
        (rc = get_u32(m->g, arch, "block_count", &n_layer, true, err)) ||
        (rc = get_u32(m->g, arch, "attention.head_count", &n_head, true, err)) ||
        (rc = get_u32(m->g, arch, "feed_forward_length", &n_ff, true, err)) ||
        (rc = get_u32(m->g, arch, "context_length", &n_ctx, false, err)) ||
        (rc = get_u32(m->g, arch, "attention.head_count_kv", &n_head_kv, false, err)) ||
        (rc = get_u32(m->g, arch, "attention.key_length", &key_len, false, err)) ||
        (rc = get_u32(m->g, arch, "rope.dimension_count", &n_rot, false, err)))
        return rc;
    if (!n_head_kv) n_head_kv = n_head;
    if (!n_embd || n_embd > 65536 || !n_layer || n_layer > 1024 || !n_head || n_head > 1024 ||
        !n_ff || n_ff > 1 << 20 || n_head % n_head_kv)
        return rg_err_set(
            err, RG_EFORMAT,
            "implausible hyperparameters: n_embd %u, n_layer %u, n_head %u, n_head_kv %u, n_ff %u",
            n_embd, n_layer, n_head, n_head_kv, n_ff);
    uint32_t head_dim = key_len ? key_len : n_embd / n_head;
    if (!head_dim || head_dim > 1024 || (!key_len && n_embd % n_head) || head_dim % 2)
        return rg_err_set(err, RG_EFORMAT, "head size %u does not fit n_embd %u and n_head %u",
                          head_dim, n_embd, n_head);
    if (!n_rot) n_rot = head_dim;
    if (n_rot > head_dim || n_rot % 2)
        return rg_err_set(err, RG_EFORMAT, "rope dimension %u > head size", n_rot);
    I->n_embd = (int32_t)n_embd;
    I->n_layer = (int32_t)n_layer;
    I->n_head = (int32_t)n_head;
    I->n_head_kv = (int32_t)n_head_kv;
    I->n_ff = (int32_t)n_ff;
    I->head_dim = (int32_t)head_dim;
    I->n_rot = (int32_t)n_rot;
    I->n_ctx_train = n_ctx ? (int32_t)RG_MIN(n_ctx, (uint32_t)INT32_MAX) : 2048;
    I->rms_eps = 1e-5f;
    I->rope_base = 10000.0f;
    I->rope_scale = 1.0f;
    if ((rc = get_f32(m->g, arch, "attention.layer_norm_rms_epsilon", &I->rms_eps, err)) ||
        (rc = get_f32(m->g, arch, "rope.freq_base", &I->rope_base, err)))
        return rc;
    char key[128];
    const char *scaling = NULL;
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    if (rg_gguf_get_str(m->g, key, &scaling) == RG_OK && strcmp(scaling, "none") != 0) {
        float factor = 1.0f;
        if ((rc = get_f32(m->g, arch, "rope.scaling.factor", &factor, err))) return rc;
        if (strcmp(scaling, "linear") != 0)
            return rg_err_set(err, RG_EUNSUPPORTED, "rope scaling '%.40s' is not supported yet",
                              scaling);
        if (factor > 0) I->rope_scale = 1.0f / factor;
    }
    m->embd_scale = 1.0f;
    if (m->arch == ARCH_BERT) {
        m->ln_eps = 1e-12f;
        uint32_t pool = 1;
        if ((rc = get_f32(m->g, arch, "attention.layer_norm_epsilon", &m->ln_eps, err)) ||
            (rc = get_u32(m->g, arch, "pooling_type", &pool, false, err)))
            return rc;
        if (pool != 1 && pool != 2)
            return rg_err_set(err, RG_EUNSUPPORTED,
                              "bert pooling type %u is not supported (mean or CLS)", pool);
        m->pooling = (int)pool;
        m->gelu = true;
    }
    if (m->arch == ARCH_GEMMA2) {
        m->embd_scale = sqrtf((float)I->n_embd);
        m->attn_softcap = 50.0f;
        m->final_softcap = 30.0f;
        m->gelu = true;
        uint32_t win = 4096;
        if ((rc = get_f32(m->g, arch, "attn_logit_softcapping", &m->attn_softcap, err)) ||
            (rc = get_f32(m->g, arch, "final_logit_softcapping", &m->final_softcap, err)) ||
            (rc = get_u32(m->g, arch, "attention.sliding_window", &win, false, err)))
            return rc;
        m->sliding_window = (int32_t)RG_MIN(win, (uint32_t)INT32_MAX);
    }
    if (I->rms_eps <= 0 || I->rope_base <= 0)
        return rg_err_set(err, RG_EFORMAT, "bad rms epsilon or rope base");
    return RG_OK;
}

/* BERT-style encoders (bge, MiniLM): learned positions, LayerNorm after each
 * block, biases everywhere, bidirectional attention, GELU. */
static int bind_bert(struct rg_model *m, char *err)
{
    struct rg_model_info *I = &m->info;
    int64_t E = I->n_embd, F = I->n_ff;
    int rc;
    const struct rg_gguf_tensor *tt = rg_gguf_find_tensor(m->g, "token_types.weight");
    int64_t n_types = tt ? tt->ne[1] : 1;
    if ((rc = bind(m, &m->tok_embd, "token_embd.weight", E, I->n_vocab, true, err)) ||
        (rc = bind(m, &m->tok_types, "token_types.weight", E, n_types, false, err)) ||
        (rc = bind(m, &m->pos_embd, "position_embd.weight", E, I->n_ctx_train, true, err)) ||
        (rc = bind(m, &m->embd_ln_w, "token_embd_norm.weight", E, 0, true, err)) ||
        (rc = bind(m, &m->embd_ln_b, "token_embd_norm.bias", E, 0, true, err)))
        return rc;
    m->layers = rg_calloc((size_t)I->n_layer, sizeof *m->layers);
    if (!m->layers) return rg_err_set(err, RG_ENOMEM, "out of memory");
    for (int l = 0; l < I->n_layer; l++) {
        struct layer *L = &m->layers[l];
        char n[96];
        struct {
            const struct rg_gguf_tensor **t;
            const char *name;
            int64_t ne0, ne1;
        } want[] = {
            {&L->wq, "attn_q.weight", E, E},
            {&L->bq, "attn_q.bias", E, 0},
            {&L->wk, "attn_k.weight", E, E},
            {&L->bk, "attn_k.bias", E, 0},
            {&L->wv, "attn_v.weight", E, E},
            {&L->bv, "attn_v.bias", E, 0},
            {&L->wo, "attn_output.weight", E, E},
            {&L->bo, "attn_output.bias", E, 0},
            {&L->ln1_w, "attn_output_norm.weight", E, 0},
            {&L->ln1_b, "attn_output_norm.bias", E, 0},
            {&L->w_up, "ffn_up.weight", E, F},
            {&L->b_up, "ffn_up.bias", F, 0},
            {&L->w_down, "ffn_down.weight", F, E},
            {&L->b_down, "ffn_down.bias", E, 0},
            {&L->ln2_w, "layer_output_norm.weight", E, 0},
            {&L->ln2_b, "layer_output_norm.bias", E, 0},
        };
        for (size_t i = 0; i < RG_ARRAY_LEN(want); i++) {
            snprintf(n, sizeof n, "blk.%d.%s", l, want[i].name);
            if ((rc = bind(m, want[i].t, n, want[i].ne0, want[i].ne1, true, err))) return rc;
        }
    }
    I->n_params = 0;
    for (int64_t i = 0; i < rg_gguf_n_tensors(m->g); i++) {
        const struct rg_gguf_tensor *t = rg_gguf_tensor(m->g, i);
        I->n_params +=
            (uint64_t)t->ne[0] * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
    }
    I->ftype = m->tok_embd->type;
    return RG_OK;
}

static int bind_tensors(struct rg_model *m, char *err)
{
    struct rg_model_info *I = &m->info;
    int64_t E = I->n_embd, Q = (int64_t)I->n_head * I->head_dim,
            KV = (int64_t)I->n_head_kv * I->head_dim;
    const struct rg_gguf_tensor *te = rg_gguf_find_tensor(m->g, "token_embd.weight");
    if (!te) return rg_err_set(err, RG_EFORMAT, "tensor 'token_embd.weight' is missing");
    if (te->ne[1] <= 0 || te->ne[1] > INT32_MAX)
        return rg_err_set(err, RG_EFORMAT, "token_embd.weight: bad vocabulary size");
    I->n_vocab = (int32_t)te->ne[1];
    int rc;
    if (m->arch == ARCH_BERT) return bind_bert(m, err);
    if ((rc = bind(m, &m->tok_embd, "token_embd.weight", E, I->n_vocab, true, err)) ||
        (rc = bind(m, &m->output_norm, "output_norm.weight", E, 0, true, err)) ||
        (rc = bind(m, &m->output, "output.weight", E, I->n_vocab, false, err)))
        return rc;
    if (!m->output) {
        m->output = m->tok_embd;
        I->tied_embeddings = true;
    }
    m->layers = rg_calloc((size_t)I->n_layer, sizeof *m->layers);
    if (!m->layers) return rg_err_set(err, RG_ENOMEM, "out of memory");
    for (int l = 0; l < I->n_layer; l++) {
        struct layer *L = &m->layers[l];
        char n[96];
#define B(field, suffix, ne0, ne1, req)                                                            \
    do {                                                                                           \
        snprintf(n, sizeof n, "blk.%d.%s", l, suffix);                                             \
        if ((rc = bind(m, &L->field, n, ne0, ne1, req, err))) return rc;                           \
    } while (0)
        B(attn_norm, "attn_norm.weight", E, 0, true);
        /* q/k/v as three matrices, or phi3's fused one */
        snprintf(n, sizeof n, "blk.%d.attn_qkv.weight", l);
        bool fused_qkv = rg_gguf_find_tensor(m->g, n) != NULL;
        B(wqkv, "attn_qkv.weight", E, Q + 2 * KV, fused_qkv);
        B(wq, "attn_q.weight", E, Q, !fused_qkv);
        B(wk, "attn_k.weight", E, KV, !fused_qkv);
        B(wv, "attn_v.weight", E, KV, !fused_qkv);
        B(wo, "attn_output.weight", Q, E, true);
        B(ffn_norm, "ffn_norm.weight", E, 0, true);
        snprintf(n, sizeof n, "blk.%d.ffn_gate.weight", l);
        L->fused_up = !rg_gguf_find_tensor(m->g, n) && m->arch == ARCH_PHI3;
        B(w_gate, "ffn_gate.weight", E, I->n_ff, !L->fused_up);
        B(w_up, "ffn_up.weight", E, L->fused_up ? 2 * (int64_t)I->n_ff : I->n_ff, true);
        B(w_down, "ffn_down.weight", I->n_ff, E, true);
        bool biases = m->arch == ARCH_QWEN2;
        B(bq, "attn_q.bias", Q, 0, biases);
        B(bk, "attn_k.bias", KV, 0, biases);
        B(bv, "attn_v.bias", KV, 0, biases);
        bool post = m->arch == ARCH_GEMMA2;
        B(attn_post_norm, "post_attention_norm.weight", E, 0, post);
        B(ffn_post_norm, "post_ffw_norm.weight", E, 0, post);
        bool qk_norm = m->arch == ARCH_QWEN3;
        B(q_norm, "attn_q_norm.weight", I->head_dim, 0, qk_norm);
        B(k_norm, "attn_k_norm.weight", I->head_dim, 0, qk_norm);
#undef B
    }
    /* model type: the most common matrix type, and the parameter count */
    uint64_t counts[RG_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < rg_gguf_n_tensors(m->g); i++) {
        const struct rg_gguf_tensor *t = rg_gguf_tensor(m->g, i);
        uint64_t ne =
            (uint64_t)t->ne[0] * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
        I->n_params += ne;
        if (t->ne[1] > 1) counts[t->type] += ne;
    }
    int best = 0;
    for (int t = 1; t < RG_TYPE_COUNT; t++)
        if (counts[t] > counts[best]) best = t;
    I->ftype = (enum rg_type)best;
    return RG_OK;
}

/*
 * Re-lays every matrix the kernels have a packed form for (kernels.h), a band
 * of rows at a time, dropping the file's pages of each band once copied, so
 * the resident size stays about the file's even for the largest tensor.
 * Tensors read row by row (embeddings) keep the file's layout.
 */
static int pack_matrices(struct rg_model *m, char *err)
{
    int64_t n = rg_gguf_n_tensors(m->g);
    for (int64_t i = 0; i < n; i++) {
        const struct rg_gguf_tensor *t = rg_gguf_tensor(m->g, i);
        if (t == m->tok_embd || t == m->tok_types || t == m->pos_embd || t->ne[2] != 1 ||
            t->ne[3] != 1)
            continue;
        size_t size = rg_pack_size(t->type, t->ne[1], t->ne[0]);
        if (!size) continue;
        if (!m->packed && !(m->packed = rg_calloc((size_t)n, sizeof *m->packed)))
            return rg_err_set(err, RG_ENOMEM, "out of memory");
        if (!(m->packed[i] = rg_aligned_alloc(64, size)))
            return rg_err_set(err, RG_ENOMEM, "out of memory re-laying tensor '%s'", t->name);
        size_t row = rg_type_row_size(t->type, t->ne[0]);
        enum { BAND = 512 }; /* rows, a multiple of the packed group */
        for (int64_t r = 0; r < t->ne[1]; r += BAND) {
            int64_t rows = RG_MIN(BAND, t->ne[1] - r);
            size_t at = r ? rg_pack_size(t->type, r, t->ne[0]) : 0;
            int rc = rg_pack(t->type, (const uint8_t *)t->data + (size_t)r * row, rows, t->ne[0],
                             (uint8_t *)m->packed[i] + at);
            if (rc) return rg_err_set(err, rc, "tensor '%s' could not be re-laid", t->name);
            rg_gguf_release(m->g, t, (size_t)(r + rows) * row);
        }
    }
    return RG_OK;
}

struct rg_model *rg_model_load(const char *path, const struct rg_model_params *p, char *err)
{
    struct rg_model_params params = p ? *p : rg_model_default_params();
    rg_quant_init();
    rg_vec_init();
    rg_gelu_init();
    struct rg_model *m = rg_calloc(1, sizeof *m);
    if (!m) {
        rg_err_set(err, RG_ENOMEM, "out of memory");
        return NULL;
    }
    struct rg_gguf_params gp = rg_gguf_default_params();
    gp.vocab_only = params.vocab_only;
    m->g = rg_gguf_open(path, &gp, err);
    if (!m->g) goto fail;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *name = NULL;
    rg_gguf_get_str(m->g, "general.name", &name);
    snprintf(m->name, sizeof m->name, "%s", name ? name : base);
    m->info.name = m->name;
    m->info.file_size = rg_gguf_file_size(m->g);
    if (rg_vocab_load(m->g, &m->vocab, err) != RG_OK) goto fail;
    if (params.vocab_only) {
        const char *arch = NULL;
        rg_gguf_get_str(m->g, "general.architecture", &arch);
        m->info.arch = arch ? arch : "";
        m->info.n_vocab = rg_vocab_n_tokens(m->vocab);
        return m;
    }
    if (load_hparams(m, err) != RG_OK || bind_tensors(m, err) != RG_OK ||
        pack_matrices(m, err) != RG_OK)
        goto fail;
    if (m->arch == ARCH_PHI3 && rg_gguf_find_tensor(m->g, "rope_factors_long.weight")) {
        rg_err_set(err, RG_EUNSUPPORTED,
                   "phi3 with long-context rope factors (LongRoPE) is not supported yet");
        goto fail;
    }
    if (rg_vocab_n_tokens(m->vocab) > m->info.n_vocab) {
        rg_err_set(err, RG_EFORMAT,
                   "the vocabulary has %d tokens but token_embd.weight has %d rows",
                   rg_vocab_n_tokens(m->vocab), m->info.n_vocab);
        goto fail;
    }
    return m;
fail:
    rg_model_free(m);
    return NULL;
}

/* ---- context ---- */

void rg_ctx_free(struct rg_ctx *c)
{
    if (!c) return;
    if (!c->pool_shared) rg_pool_free(c->pool);
    rg_free(c->past);
    rg_free(c->tok_seq);
    rg_free(c->tok_pos);
    rg_free(c->out_rows);
    rg_free(c->fused);
    rg_free(c->k_cache16);
    rg_free(c->v_cache16);
    float *bufs[] = {c->k_cache, c->v_cache, c->x,        c->xn,       c->q,
                     c->k,       c->v,       c->att,      c->gate,     c->up,
                     c->tmp,     c->scores,  c->rope_cos, c->rope_sin, c->last_logits};
    for (size_t i = 0; i < RG_ARRAY_LEN(bufs); i++)
        rg_free(bufs[i]);
    rg_free(c);
}

static float *falloc(size_t a, size_t b, bool *ok)
{
    size_t n;
    if (!rg_mul_size(a, b, &n) || !rg_mul_size(n, sizeof(float), &n)) {
        *ok = false;
        return NULL;
    }
    float *p = rg_aligned_alloc(64, n ? n : 64);
    if (!p) *ok = false;
    return p;
}

struct rg_ctx *rg_ctx_new(struct rg_model *m, const struct rg_ctx_params *p, char *err)
{
    struct rg_ctx_params params = p ? *p : rg_ctx_default_params();
    const struct rg_model_info *I = &m->info;
    if (!m->layers) {
        rg_err_set(err, RG_EINVAL, "this model was loaded without weights (vocab only)");
        return NULL;
    }
    struct rg_ctx *c = rg_calloc(1, sizeof *c);
    if (!c) {
        rg_err_set(err, RG_ENOMEM, "out of memory");
        return NULL;
    }
    c->m = m;
    c->n_ctx = params.n_ctx > 0 ? params.n_ctx : I->n_ctx_train;
    c->n_batch = params.n_batch > 0 ? RG_MIN(params.n_batch, c->n_ctx) : RG_MIN(512, c->n_ctx);
    c->n_seq = params.n_seq > 0 ? params.n_seq : 1;
    if (params.kv_type != RG_TYPE_F32 && params.kv_type != RG_TYPE_F16) {
        rg_free(c);
        rg_err_set(err, RG_EINVAL, "the KV cache can hold F32 or F16, not type %d",
                   (int)params.kv_type);
        return NULL;
    }
    if (c->n_seq > 256) {
        rg_free(c);
        rg_err_set(err, RG_EINVAL, "at most 256 sequences per context");
        return NULL;
    }
    if (c->n_ctx > (1 << 24)) {
        rg_free(c);
        rg_err_set(err, RG_EINVAL, "context of %d positions is too large", params.n_ctx);
        return NULL;
    }
    c->kv_dim = (size_t)I->n_head_kv * (size_t)I->head_dim;
    size_t q_dim = (size_t)I->n_head * (size_t)I->head_dim, B = (size_t)c->n_batch;
    int rc = RG_OK;
    if (params.share_pool) {
        c->pool = params.share_pool->pool;
        c->pool_shared = true;
    } else {
        rc = rg_pool_create(params.n_threads, &c->pool);
    }
    if (rc) {
        rg_free(c);
        rg_err_set(err, rc, "cannot start compute threads");
        return NULL;
    }
    bool ok = true;
    size_t cache = (size_t)c->n_seq * (size_t)I->n_layer * (size_t)c->n_ctx;
    c->past = rg_calloc((size_t)c->n_seq, sizeof *c->past);
    c->tok_seq = rg_calloc(B, sizeof *c->tok_seq);
    c->tok_pos = rg_calloc(B, sizeof *c->tok_pos);
    c->out_rows = rg_calloc(B, sizeof *c->out_rows);
    if (!c->past || !c->tok_seq || !c->tok_pos || !c->out_rows) ok = false;
    if (params.kv_type == RG_TYPE_F16) {
        size_t n16;
        if (!rg_mul_size(cache, c->kv_dim, &n16) || !rg_mul_size(n16, sizeof(uint16_t), &n16)) {
            ok = false;
        } else {
            c->k_cache16 = rg_aligned_alloc(64, n16 ? n16 : 64);
            c->v_cache16 = rg_aligned_alloc(64, n16 ? n16 : 64);
            ok = ok && c->k_cache16 && c->v_cache16;
        }
    } else {
        c->k_cache = falloc(cache, c->kv_dim, &ok);
        c->v_cache = falloc(cache, c->kv_dim, &ok);
    }
    c->x = falloc(B, (size_t)I->n_embd, &ok);
    c->xn = falloc(B, RG_MAX((size_t)I->n_embd, q_dim), &ok);
    c->q = falloc(B, q_dim, &ok);
    c->k = falloc(B, c->kv_dim, &ok);
    c->v = falloc(B, c->kv_dim, &ok);
    c->att = falloc(B, q_dim, &ok);
    c->gate = falloc(B, (size_t)I->n_ff, &ok);
    c->up = falloc(B, (size_t)I->n_ff, &ok);
    /* fused q/k/v and gate/up results before they are split */
    c->fused = falloc(B, RG_MAX(q_dim + 2 * c->kv_dim, 2 * (size_t)I->n_ff), &ok);
    c->tmp = falloc(B, (size_t)I->n_embd, &ok);
    /* attention: each thread scores up to a whole KV group of heads at once */
    c->scores = falloc((size_t)rg_pool_size(c->pool) *
                           (size_t)RG_MIN(I->n_head / I->n_head_kv, RG_MAX_GROUP),
                       (size_t)c->n_ctx, &ok);
    c->rope_cos = falloc(B, (size_t)I->n_rot / 2, &ok);
    c->rope_sin = falloc(B, (size_t)I->n_rot / 2, &ok);
    c->last_logits = falloc(1, (size_t)I->n_vocab, &ok);
    if (!ok) {
        rg_ctx_free(c);
        rg_err_set(err, RG_ENOMEM, "out of memory for a context of %d positions", c->n_ctx);
        return NULL;
    }
    return c;
}

int32_t rg_ctx_n_ctx(const struct rg_ctx *c)
{
    return c->n_ctx;
}
int32_t rg_ctx_n_past(const struct rg_ctx *c)
{
    return c->n_past;
}

int rg_ctx_truncate(struct rg_ctx *c, int32_t n_keep)
{
    return rg_ctx_seq_truncate(c, 0, n_keep);
}

int32_t rg_ctx_n_seq(const struct rg_ctx *c)
{
    return c->n_seq;
}

int32_t rg_ctx_seq_past(const struct rg_ctx *c, int32_t seq)
{
    return seq >= 0 && seq < c->n_seq ? c->past[seq] : -1;
}

int rg_ctx_seq_truncate(struct rg_ctx *c, int32_t seq, int32_t n_keep)
{
    if (seq < 0 || seq >= c->n_seq || n_keep < 0 || n_keep > c->past[seq]) return RG_EINVAL;
    c->past[seq] = n_keep;
    if (seq == 0) c->n_past = n_keep;
    return RG_OK;
}

int rg_ctx_seq_copy(struct rg_ctx *c, int32_t src, int32_t dst, int32_t from, int32_t n)
{
    if (src < 0 || src >= c->n_seq || dst < 0 || dst >= c->n_seq || src == dst || from < 0 ||
        from > c->past[dst] || from > n || n > c->past[src])
        return RG_EINVAL;
    int32_t n_layer = c->m->info.n_layer;
    size_t plane = (size_t)c->n_ctx * c->kv_dim, skip = (size_t)from * c->kv_dim,
           elems = (size_t)(n - from) * c->kv_dim;
    for (int32_t l = 0; l < n_layer; l++) {
        size_t a = ((size_t)src * (size_t)n_layer + (size_t)l) * plane + skip,
               b = ((size_t)dst * (size_t)n_layer + (size_t)l) * plane + skip;
        if (c->k_cache16) {
            memcpy(c->k_cache16 + b, c->k_cache16 + a, elems * sizeof(uint16_t));
            memcpy(c->v_cache16 + b, c->v_cache16 + a, elems * sizeof(uint16_t));
        } else {
            memcpy(c->k_cache + b, c->k_cache + a, elems * sizeof(float));
            memcpy(c->v_cache + b, c->v_cache + a, elems * sizeof(float));
        }
    }
    c->past[dst] = n;
    if (dst == 0) c->n_past = n;
    return RG_OK;
}

/* ---- forward ---- */

static void rope_tables(struct rg_ctx *c, int32_t n)
{
    const struct rg_model_info *I = &c->m->info;
    int half = I->n_rot / 2;
    float theta_scale = powf(I->rope_base, -2.0f / (float)I->n_rot);
    for (int32_t t = 0; t < n; t++) {
        float theta = (float)c->tok_pos[t] * I->rope_scale;
        for (int i = 0; i < half; i++) {
            c->rope_cos[(size_t)t * half + i] = cosf(theta);
            c->rope_sin[(size_t)t * half + i] = sinf(theta);
            theta *= theta_scale;
        }
    }
}

static void rope(struct rg_ctx *c, float *v, int32_t t, int n_heads)
{
    const struct rg_model_info *I = &c->m->info;
    int half = I->n_rot / 2, hd = I->head_dim;
    const float *cs = c->rope_cos + (size_t)t * half, *sn = c->rope_sin + (size_t)t * half;
    for (int h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * hd;
        for (int i = 0; i < half; i++) {
            int a = I->rope_type == RG_ROPE_NEOX ? i : 2 * i,
                b = I->rope_type == RG_ROPE_NEOX ? i + half : 2 * i + 1;
            float x0 = x[a], x1 = x[b];
            x[a] = x0 * cs[i] - x1 * sn[i];
            x[b] = x0 * sn[i] + x1 * cs[i];
        }
    }
}

struct att_job {
    struct rg_ctx *c;
    int layer;
    int32_t n_tok;
    int per; /* query heads per work item: they share one KV head (a divisor of the group) */
};

/*
 * Causal attention of every token of the batch over its own sequence. A work
 * item is one token and `per` query heads of the same KV head, so each K and
 * V row is read once for all of them (GQA models have 4-8 query heads per KV
 * head); each head's sums are the same as if it were done alone.
 */
static void attention_part(void *ctx, int ith, int nth)
{
    struct att_job *j = ctx;
    struct rg_ctx *c = j->c;
    const struct rg_model_info *I = &c->m->info;
    int hd = I->head_dim, group = I->n_head / I->n_head_kv, per = j->per;
    int items_per_tok = I->n_head / per;
    size_t q_dim = (size_t)I->n_head * hd;
    float scale = 1.0f / sqrtf((float)hd);
    /* [per][n_ctx] of this thread */
    float *scores = c->scores + (size_t)ith * (size_t)RG_MIN(group, RG_MAX_GROUP) * c->n_ctx;
    const struct rg_model *m = c->m;
    float cap = m->attn_softcap;
    if (cap > 0) scale = 1.0f; /* gemma2 scales q before the product */
    bool sliding = m->sliding_window > 0 && j->layer % 2 == 0;
    for (int64_t idx = ith; idx < (int64_t)j->n_tok * items_per_tok; idx += nth) {
        int32_t t = (int32_t)(idx / items_per_tok);
        int h0 = (int)(idx % items_per_tok) * per, kvh = h0 / group;
        size_t plane =
            ((size_t)c->tok_seq[t] * I->n_layer + (size_t)j->layer) * c->n_ctx * c->kv_dim;
        size_t head = plane + (size_t)kvh * hd;
        int32_t n_pos = c->tok_pos[t] + 1; /* causal: positions 0..pos of its own sequence */
        int32_t p0 = sliding && n_pos > m->sliding_window ? n_pos - m->sliding_window : 0;
        const float *qv = c->q + (size_t)t * q_dim + (size_t)h0 * hd;
        if (c->k_cache16)
            rg_attn_scores_f16(hd, per, qv, c->k_cache16 + head, c->kv_dim, p0, n_pos, scale,
                               scores, (size_t)c->n_ctx);
        else
            rg_attn_scores(hd, per, qv, c->k_cache + head, c->kv_dim, p0, n_pos, scale, scores,
                           (size_t)c->n_ctx);
        float max[RG_MAX_GROUP];
        for (int g = 0; g < per; g++) {
            float *sc = scores + (size_t)g * c->n_ctx, mx = -INFINITY;
            for (int32_t p = p0; p < n_pos; p++) {
                if (cap > 0) sc[p] = tanhf(sc[p] * (1.0f / cap)) * cap;
                if (sc[p] > mx) mx = sc[p];
            }
            max[g] = mx;
        }
        for (int g = 0; g < per; g++) {
            float *sc = scores + (size_t)g * c->n_ctx;
            double sum = 0;
            for (int32_t p = p0; p < n_pos; p++) { /* before p0 the weights are 0 */
                sc[p] = expf(sc[p] - max[g]);
                sum += sc[p];
            }
            float inv = (float)(1.0 / sum);
            for (int32_t p = p0; p < n_pos; p++)
                sc[p] *= inv;
        }
        float *out = c->att + (size_t)t * q_dim + (size_t)h0 * hd;
        memset(out, 0, (size_t)per * (size_t)hd * sizeof *out);
        if (c->v_cache16)
            rg_attn_values_f16(hd, per, scores, (size_t)c->n_ctx, c->v_cache16 + head, c->kv_dim,
                               p0, n_pos, out);
        else
            rg_attn_values(hd, per, scores, (size_t)c->n_ctx, c->v_cache + head, c->kv_dim, p0,
                           n_pos, out);
    }
}

/* Query heads per attention work item: as many of a KV head's group as still
 * leave the threads an even share (or plenty of items). */
static int attention_per(const struct rg_ctx *c, int32_t n_tok)
{
    const struct rg_model_info *I = &c->m->info;
    int group = I->n_head / I->n_head_kv, nth = rg_pool_size(c->pool);
    for (int d = RG_MIN(group, RG_MAX_GROUP); d > 1; d--) {
        if (group % d) continue;
        int64_t items = (int64_t)n_tok * (I->n_head / d);
        if (items % nth == 0 || items >= 4 * nth) return d;
    }
    return 1;
}

/*
 * One batch of n tokens. Token t belongs to sequence seq[t] (seq NULL: all
 * sequence 0) and goes at that sequence's next position. Logits are computed
 * for the tokens listed in out_rows (n_out of them), one row each, in order.
 */
int rg_model_forward(struct rg_ctx *c, const int32_t *tokens, const int32_t *seq, int32_t n,
                     float *logits, const int32_t *out_rows, int32_t n_out)
{
    const struct rg_model *m = c->m;
    const struct rg_model_info *I = &m->info;
    int E = I->n_embd, hd = I->head_dim;
    size_t q_dim = (size_t)I->n_head * hd, kv = c->kv_dim;
    int rc = RG_OK;
    for (int32_t t = 0; t < n; t++) {
        int32_t s = seq ? seq[t] : 0;
        c->tok_seq[t] = s;
        c->tok_pos[t] = c->past[s]++;
    }
    for (int32_t t = 0; t < n; t++) {
        rc = rg_get_row(m->tok_embd->type, m->tok_embd->data, E, tokens[t], c->x + (size_t)t * E);
        if (rc) return rc;
        if (m->embd_scale != 1.0f)
            for (int i = 0; i < E; i++)
                c->x[(size_t)t * E + i] *= m->embd_scale;
    }
    rope_tables(c, n);
    for (int l = 0; l < I->n_layer; l++) {
        const struct layer *L = &m->layers[l];
        for (int32_t t = 0; t < n; t++)
            rms_norm(c->x + (size_t)t * E, L->attn_norm->data, c->xn + (size_t)t * E, E,
                     I->rms_eps);
        if (L->wqkv) {
            if ((rc = mm(c, L->wqkv, c->xn, n, c->fused))) return rc;
            size_t w = q_dim + 2 * kv;
            for (int32_t t = 0; t < n; t++) {
                const float *f = c->fused + (size_t)t * w;
                memcpy(c->q + (size_t)t * q_dim, f, q_dim * sizeof(float));
                memcpy(c->k + (size_t)t * kv, f + q_dim, kv * sizeof(float));
                memcpy(c->v + (size_t)t * kv, f + q_dim + kv, kv * sizeof(float));
            }
        } else if ((rc = mm(c, L->wq, c->xn, n, c->q)) || (rc = mm(c, L->wk, c->xn, n, c->k)) ||
                   (rc = mm(c, L->wv, c->xn, n, c->v))) {
            return rc;
        }
        add_bias(c->q, L->bq, n, (int64_t)q_dim);
        add_bias(c->k, L->bk, n, (int64_t)kv);
        add_bias(c->v, L->bv, n, (int64_t)kv);
        for (int32_t t = 0; t < n; t++) {
            float *qt = c->q + (size_t)t * q_dim, *kt = c->k + (size_t)t * kv;
            if (L->q_norm) {
                for (int h = 0; h < I->n_head; h++)
                    rms_norm(qt + (size_t)h * hd, L->q_norm->data, qt + (size_t)h * hd, hd,
                             I->rms_eps);
                for (int h = 0; h < I->n_head_kv; h++)
                    rms_norm(kt + (size_t)h * hd, L->k_norm->data, kt + (size_t)h * hd, hd,
                             I->rms_eps);
            }
            rope(c, qt, t, I->n_head);
            rope(c, kt, t, I->n_head_kv);
            if (m->attn_softcap > 0) { /* gemma2: q scaled after rope */
                float qs = 1.0f / sqrtf((float)hd);
                for (size_t i = 0; i < q_dim; i++)
                    qt[i] *= qs;
            }
            size_t at = (((size_t)c->tok_seq[t] * I->n_layer + (size_t)l) * c->n_ctx +
                         (size_t)c->tok_pos[t]) *
                        kv;
            if (c->k_cache16) {
                const float *vt = c->v + (size_t)t * kv;
                for (size_t i = 0; i < kv; i++) {
                    c->k_cache16[at + i] = rg_fp32_to_fp16(kt[i]);
                    c->v_cache16[at + i] = rg_fp32_to_fp16(vt[i]);
                }
            } else {
                memcpy(c->k_cache + at, kt, kv * sizeof(float));
                memcpy(c->v_cache + at, c->v + (size_t)t * kv, kv * sizeof(float));
            }
        }
        struct att_job job = {c, l, n, attention_per(c, n)};
        rg_pool_run(c->pool, attention_part, &job);
        if ((rc = mm(c, L->wo, c->att, n, c->tmp))) return rc;
        if (L->attn_post_norm)
            for (int32_t t = 0; t < n; t++)
                rms_norm(c->tmp + (size_t)t * E, L->attn_post_norm->data, c->tmp + (size_t)t * E, E,
                         I->rms_eps);
        for (size_t i = 0; i < (size_t)n * E; i++)
            c->x[i] += c->tmp[i];

        for (int32_t t = 0; t < n; t++)
            rms_norm(c->x + (size_t)t * E, L->ffn_norm->data, c->xn + (size_t)t * E, E, I->rms_eps);
        if (L->fused_up) {
            if ((rc = mm(c, L->w_up, c->xn, n, c->fused))) return rc;
            size_t F = (size_t)I->n_ff;
            for (int32_t t = 0; t < n; t++) {
                memcpy(c->gate + (size_t)t * F, c->fused + (size_t)t * 2 * F, F * sizeof(float));
                memcpy(c->up + (size_t)t * F, c->fused + (size_t)t * 2 * F + F, F * sizeof(float));
            }
        } else if ((rc = mm(c, L->w_gate, c->xn, n, c->gate)) ||
                   (rc = mm(c, L->w_up, c->xn, n, c->up))) {
            return rc;
        }
        if (m->gelu) {
            for (size_t i = 0; i < (size_t)n * I->n_ff; i++)
                c->gate[i] = gelu(c->gate[i]) * c->up[i];
        } else {
            for (size_t i = 0; i < (size_t)n * I->n_ff; i++) {
                float g = c->gate[i];
                c->gate[i] = g / (1.0f + expf(-g)) * c->up[i];
            }
        }
        if ((rc = mm(c, L->w_down, c->gate, n, c->tmp))) return rc;
        if (L->ffn_post_norm)
            for (int32_t t = 0; t < n; t++)
                rms_norm(c->tmp + (size_t)t * E, L->ffn_post_norm->data, c->tmp + (size_t)t * E, E,
                         I->rms_eps);
        for (size_t i = 0; i < (size_t)n * E; i++)
            c->x[i] += c->tmp[i];
    }
    c->n_past = c->past[0];
    if (!logits || n_out <= 0) return RG_OK;
    int32_t rows = n_out;
    for (int32_t r = 0; r < n_out; r++)
        rms_norm(c->x + (size_t)out_rows[r] * E, m->output_norm->data, c->xn + (size_t)r * E, E,
                 I->rms_eps);
    rc = mm(c, m->output, c->xn, rows, logits);
    if (rc == RG_OK && m->final_softcap > 0) {
        float cap = m->final_softcap;
        for (size_t i = 0; i < (size_t)rows * I->n_vocab; i++)
            logits[i] = tanhf(logits[i] * (1.0f / cap)) * cap;
    }
    return rc;
}

int rg_decode(struct rg_ctx *c, const int32_t *tokens, int32_t n, float *logits, bool all_logits,
              char *err)
{
    const struct rg_model_info *I = &c->m->info;
    if (c->m->arch == ARCH_BERT)
        return rg_err_set(err, RG_EUNSUPPORTED,
                          "this is an embedding model: it has no text generation");
    if (n <= 0) return rg_err_set(err, RG_EINVAL, "no tokens to decode");
    if ((int64_t)c->n_past + n > c->n_ctx)
        return rg_err_set(err, RG_EOVERFLOW,
                          "context window exceeded: %d cached + %d new > %d positions", c->n_past,
                          n, c->n_ctx);
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= I->n_vocab)
            return rg_err_set(err, RG_EINVAL, "token id %d is out of range (vocabulary of %d)",
                              tokens[i], I->n_vocab);
    for (int32_t done = 0; done < n;) {
        int32_t b = RG_MIN(c->n_batch, n - done);
        bool last = done + b == n;
        float *out = NULL;
        if (logits && all_logits)
            out = logits + (size_t)done * I->n_vocab;
        else if (logits && last)
            out = logits;
        int32_t n_out = 0;
        if (out && all_logits)
            for (int32_t i = 0; i < b; i++)
                c->out_rows[n_out++] = i;
        else if (out)
            c->out_rows[n_out++] = b - 1;
        int rc = rg_model_forward(c, tokens + done, NULL, b, out, c->out_rows, n_out);
        if (rc) return rg_err_set(err, rc, "forward pass failed: %s", rg_strerror(rc));
        done += b;
    }
    return RG_OK;
}

int rg_decode_batch(struct rg_ctx *c, const struct rg_batch_item *items, int32_t n, float *logits,
                    char *err)
{
    const struct rg_model_info *I = &c->m->info;
    if (c->m->arch == ARCH_BERT)
        return rg_err_set(err, RG_EUNSUPPORTED,
                          "this is an embedding model: it has no text generation");
    if (n <= 0 || n > c->n_batch)
        return rg_err_set(err, RG_EINVAL, "a batch holds 1 to %d tokens, not %d", c->n_batch, n);
    /* check everything before changing anything */
    for (int32_t i = 0; i < n; i++) {
        const struct rg_batch_item *it = &items[i];
        if (it->seq < 0 || it->seq >= c->n_seq)
            return rg_err_set(err, RG_EINVAL, "sequence %d does not exist (%d in this context)",
                              it->seq, c->n_seq);
        if (it->token < 0 || it->token >= I->n_vocab)
            return rg_err_set(err, RG_EINVAL, "token id %d is out of range", it->token);
    }
    for (int32_t s = 0; s < c->n_seq; s++) {
        int32_t add = 0;
        for (int32_t i = 0; i < n; i++)
            add += items[i].seq == s;
        if ((int64_t)c->past[s] + add > c->n_ctx)
            return rg_err_set(err, RG_EOVERFLOW,
                              "sequence %d: context window of %d positions exceeded", s, c->n_ctx);
    }
    int32_t *toks = rg_malloc_array((size_t)n, sizeof *toks),
            *seqs = rg_malloc_array((size_t)n, sizeof *seqs);
    if (!toks || !seqs) {
        rg_free(toks);
        rg_free(seqs);
        return rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    int32_t n_out = 0;
    for (int32_t i = 0; i < n; i++) {
        toks[i] = items[i].token;
        seqs[i] = items[i].seq;
        if (items[i].logits) c->out_rows[n_out++] = i;
    }
    int rc = rg_model_forward(c, toks, seqs, n, logits, c->out_rows, logits ? n_out : 0);
    rg_free(toks);
    rg_free(seqs);
    if (rc) return rg_err_set(err, rc, "forward pass failed: %s", rg_strerror(rc));
    return RG_OK;
}

size_t rg_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024;
}
