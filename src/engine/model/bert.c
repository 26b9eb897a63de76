/*
 * BERT-style encoders for embeddings: token, position and type embeddings,
 * post-LayerNorm blocks with biases and GELU, then mean or CLS pooling and
 * L2 normalisation (rg_embed serves decoder models too: their final hidden
 * states, mean-pooled).
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "engine/kernels/kernels.h"
#include "engine/model/model_internal.h"

uint16_t rg_gelu_f16[65536];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

static void gelu_fill(void)
{
    for (uint32_t i = 0; i < 65536; i++) {
        float h = rg_fp16_to_fp32((uint16_t)i);
        rg_gelu_f16[i] = isfinite(h) ? rg_fp32_to_fp16(gelu_exact(h)) : (uint16_t)i;
    }
}

void rg_gelu_init(void)
{
    pthread_once(&gelu_once, gelu_fill);
}

static void layer_norm(float *x, const float *w, const float *b, int n, float eps)
{
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++)
        mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++)
        var += ((double)x[i] - mean) * ((double)x[i] - mean);
    float scale = 1.0f / sqrtf((float)(var / n) + eps);
    for (int i = 0; i < n; i++)
        x[i] = ((float)(x[i] - mean) * scale) * w[i] + b[i];
}

struct bert_att_job {
    struct rg_ctx *c;
    int32_t n;
};

/* Bidirectional attention over the n tokens of one sequence. */
static void bert_attention_part(void *ctx, int ith, int nth)
{
    struct bert_att_job *j = ctx;
    struct rg_ctx *c = j->c;
    const struct rg_model_info *I = &c->m->info;
    int hd = I->head_dim, H = I->n_head, E = I->n_embd;
    float scale = 1.0f / sqrtf((float)hd);
    float *scores = c->scores + (size_t)ith * c->n_ctx;
    for (int64_t idx = ith; idx < (int64_t)j->n * H; idx += nth) {
        int32_t t = (int32_t)(idx / H);
        int h = (int)(idx % H);
        const float *qv = c->q + (size_t)t * E + (size_t)h * hd;
        float max = -INFINITY;
        for (int32_t p = 0; p < j->n; p++) {
            const float *kv = c->k + (size_t)p * E + (size_t)h * hd;
            float s = rg_dotf_f32(hd, qv, kv) * scale; /* the CPU's vector dot */
            scores[p] = s;
            if (s > max) max = s;
        }
        double sum = 0;
        for (int32_t p = 0; p < j->n; p++) {
            scores[p] = expf(scores[p] - max);
            sum += scores[p];
        }
        float inv = (float)(1.0 / sum), *o = c->att + (size_t)t * E + (size_t)h * hd;
        memset(o, 0, (size_t)hd * sizeof *o);
        for (int32_t p = 0; p < j->n; p++)
            rg_axpy_f32(hd, scores[p] * inv, c->v + (size_t)p * E + (size_t)h * hd, o);
    }
}

static int embed_bert(struct rg_ctx *c, const int32_t *tokens, int32_t n, float *out, char *err)
{
    const struct rg_model *m = c->m;
    const struct rg_model_info *I = &m->info;
    int E = I->n_embd, F = I->n_ff, rc;
    if (n > c->n_batch || n > I->n_ctx_train)
        return rg_err_set(err, RG_EOVERFLOW, "%d tokens; this encoder takes at most %d", n,
                          RG_MIN(c->n_batch, I->n_ctx_train));
    float *row = c->tmp;
    for (int32_t t = 0; t < n; t++) {
        float *x = c->x + (size_t)t * E;
        if ((rc = rg_get_row(m->tok_embd->type, m->tok_embd->data, E, tokens[t], x)) ||
            (rc = rg_get_row(m->pos_embd->type, m->pos_embd->data, E, t, row)))
            return rg_err_set(err, rc, "embedding lookup failed");
        for (int i = 0; i < E; i++)
            x[i] += row[i];
        if (m->tok_types) {
            if ((rc = rg_get_row(m->tok_types->type, m->tok_types->data, E, 0, row)))
                return rg_err_set(err, rc, "embedding lookup failed");
            for (int i = 0; i < E; i++)
                x[i] += row[i];
        }
        layer_norm(x, m->embd_ln_w->data, m->embd_ln_b->data, E, m->ln_eps);
    }
    for (int l = 0; l < I->n_layer; l++) {
        const struct layer *L = &m->layers[l];
        if ((rc = mm(c, L->wq, c->x, n, c->q)) || (rc = mm(c, L->wk, c->x, n, c->k)) ||
            (rc = mm(c, L->wv, c->x, n, c->v)))
            return rg_err_set(err, rc, "matmul failed");
        add_bias(c->q, L->bq, n, E);
        add_bias(c->k, L->bk, n, E);
        add_bias(c->v, L->bv, n, E);
        struct bert_att_job job = {c, n};
        rg_pool_run(c->pool, bert_attention_part, &job);
        if ((rc = mm(c, L->wo, c->att, n, c->tmp))) return rg_err_set(err, rc, "matmul failed");
        add_bias(c->tmp, L->bo, n, E);
        for (int32_t t = 0; t < n; t++) {
            float *x = c->x + (size_t)t * E, *o = c->tmp + (size_t)t * E;
            for (int i = 0; i < E; i++)
                x[i] += o[i];
            layer_norm(x, L->ln1_w->data, L->ln1_b->data, E, m->ln_eps);
        }
        if ((rc = mm(c, L->w_up, c->x, n, c->up))) return rg_err_set(err, rc, "matmul failed");
        add_bias(c->up, L->b_up, n, F);
        for (size_t i = 0; i < (size_t)n * F; i++)
            c->up[i] = gelu(c->up[i]);
        if ((rc = mm(c, L->w_down, c->up, n, c->tmp))) return rg_err_set(err, rc, "matmul failed");
        add_bias(c->tmp, L->b_down, n, E);
        for (int32_t t = 0; t < n; t++) {
            float *x = c->x + (size_t)t * E, *o = c->tmp + (size_t)t * E;
            for (int i = 0; i < E; i++)
                x[i] += o[i];
            layer_norm(x, L->ln2_w->data, L->ln2_b->data, E, m->ln_eps);
        }
    }
    double norm = 0;
    for (int i = 0; i < E; i++) {
        double v = 0;
        if (m->pooling == 2) {
            v = c->x[i];
        } else {
            for (int32_t t = 0; t < n; t++)
                v += c->x[(size_t)t * E + i];
            v /= n;
        }
        out[i] = (float)v;
        norm += v * v;
    }
    norm = norm > 0 ? 1.0 / sqrt(norm) : 0;
    for (int i = 0; i < E; i++)
        out[i] = (float)(out[i] * norm);
    c->n_past = c->past[0] = 0;
    return RG_OK;
}

int rg_embed(struct rg_ctx *c, const int32_t *tokens, int32_t n, float *out, char *err)
{
    const struct rg_model_info *I = &c->m->info;
    if (n <= 0) return rg_err_set(err, RG_EINVAL, "no tokens to embed");
    if (n > c->n_ctx)
        return rg_err_set(err, RG_EOVERFLOW, "%d tokens do not fit a context of %d", n, c->n_ctx);
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= I->n_vocab)
            return rg_err_set(err, RG_EINVAL, "token id %d is out of range", tokens[i]);
    if (c->m->arch == ARCH_BERT) return embed_bert(c, tokens, n, out, err);
    int E = I->n_embd;
    double *sum = rg_calloc((size_t)E, sizeof *sum);
    float *tmp = rg_malloc_array((size_t)E, sizeof *tmp);
    if (!sum || !tmp) {
        rg_free(sum);
        rg_free(tmp);
        return rg_err_set(err, RG_ENOMEM, "out of memory");
    }
    c->n_past = c->past[0] = 0;
    int rc = RG_OK;
    for (int32_t done = 0; done < n && rc == RG_OK;) {
        int32_t b = RG_MIN(c->n_batch, n - done);
        rc = rg_model_forward(c, tokens + done, NULL, b, NULL, NULL, 0);
        for (int32_t t = 0; rc == RG_OK && t < b; t++) {
            rms_norm(c->x + (size_t)t * E, c->m->output_norm->data, tmp, E, I->rms_eps);
            for (int i = 0; i < E; i++)
                sum[i] += tmp[i];
        }
        done += b;
    }
    c->n_past = c->past[0] = 0; /* the cache now holds this text, not a conversation */
    if (rc == RG_OK) {
        double norm = 0;
        for (int i = 0; i < E; i++) {
            sum[i] /= n;
            norm += sum[i] * sum[i];
        }
        norm = norm > 0 ? 1.0 / sqrt(norm) : 0;
        for (int i = 0; i < E; i++)
            out[i] = (float)(sum[i] * norm);
    } else {
        rg_err_set(err, rc, "forward pass failed: %s", rg_strerror(rc));
    }
    rg_free(sum);
    rg_free(tmp);
    return rc;
}
