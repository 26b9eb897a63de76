/* Sampling (see sample.h). */
#include "engine/sample/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

struct cand {
    int32_t id;
    float logit;
    float p;
};

struct rg_sampler {
    struct rg_sample_params p;
    int32_t n_vocab;
    uint64_t rng[2];
    int32_t *recent; /* ring of the last penalty_last_n tokens */
    int32_t n_recent, head;
    struct cand *c;
    int32_t *counts;
};

struct rg_sample_params rg_sample_default_params(void)
{
    return (struct rg_sample_params){.temperature = 0.8f,
                                     .top_k = 40,
                                     .top_p = 0.95f,
                                     .min_p = 0.05f,
                                     .repeat_penalty = 1.0f,
                                     .penalty_last_n = 64,
                                     .seed = 0};
}

/* xorshift128+, seeded through splitmix64 */
static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double next_unit(struct rg_sampler *s)
{
    uint64_t a = s->rng[0], b = s->rng[1];
    s->rng[0] = b;
    a ^= a << 23;
    s->rng[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
    return (double)((s->rng[1] + b) >> 11) * (1.0 / 9007199254740992.0);
}

struct rg_sampler *rg_sampler_new(const struct rg_sample_params *p, int32_t n_vocab)
{
    if (n_vocab <= 0) return NULL;
    struct rg_sampler *s = rg_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    uint64_t seed = p->seed;
    s->rng[0] = splitmix(&seed);
    s->rng[1] = splitmix(&seed);
    int32_t n = p->penalty_last_n > 0 ? p->penalty_last_n : 1;
    s->recent = rg_calloc((size_t)n, sizeof *s->recent);
    s->c = rg_calloc((size_t)n_vocab, sizeof *s->c);
    s->counts = rg_calloc((size_t)n_vocab, sizeof *s->counts);
    if (!s->recent || !s->c || !s->counts) {
        rg_sampler_free(s);
        return NULL;
    }
    return s;
}

void rg_sampler_free(struct rg_sampler *s)
{
    if (!s) return;
    rg_free(s->recent);
    rg_free(s->c);
    rg_free(s->counts);
    rg_free(s);
}

void rg_sampler_accept(struct rg_sampler *s, int32_t id)
{
    int32_t cap = s->p.penalty_last_n > 0 ? s->p.penalty_last_n : 1;
    s->recent[s->head] = id;
    s->head = (s->head + 1) % cap;
    if (s->n_recent < cap) s->n_recent++;
}

static int by_logit_desc(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int32_t rg_sampler_sample(struct rg_sampler *s, float *logits)
{
    const struct rg_sample_params *p = &s->p;
    int32_t n = s->n_vocab;
    for (size_t i = 0; i < p->n_bias; i++)
        if (p->bias[i].id >= 0 && p->bias[i].id < n) logits[p->bias[i].id] += p->bias[i].bias;
    bool penalties =
        p->repeat_penalty != 1.0f || p->frequency_penalty != 0 || p->presence_penalty != 0;
    if (penalties && s->n_recent > 0) {
        for (int32_t i = 0; i < s->n_recent; i++)
            s->counts[s->recent[i]]++;
        for (int32_t i = 0; i < s->n_recent; i++) {
            int32_t id = s->recent[i];
            int32_t cnt = s->counts[id];
            if (!cnt) continue; /* already applied */
            if (p->repeat_penalty != 1.0f)
                logits[id] = logits[id] > 0 ? logits[id] / p->repeat_penalty
                                            : logits[id] * p->repeat_penalty;
            logits[id] -= (float)cnt * p->frequency_penalty + (cnt > 0 ? p->presence_penalty : 0);
            s->counts[id] = 0;
        }
    }
    if (p->temperature <= 0) {
        int32_t best = 0;
        for (int32_t i = 1; i < n; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++)
        if (logits[i] > -INFINITY) s->c[k++] = (struct cand){i, logits[i] / p->temperature, 0};
    if (k == 0) return 0;
    qsort(s->c, (size_t)k, sizeof *s->c, by_logit_desc);
    if (p->top_k > 0 && p->top_k < k) k = p->top_k;
    double sum = 0, max = s->c[0].logit;
    for (int32_t i = 0; i < k; i++) {
        s->c[i].p = (float)exp(s->c[i].logit - max);
        sum += s->c[i].p;
    }
    for (int32_t i = 0; i < k; i++)
        s->c[i].p = (float)(s->c[i].p / sum);
    if (p->min_p > 0) {
        float floor = s->c[0].p * p->min_p;
        int32_t keep = 1;
        while (keep < k && s->c[keep].p >= floor)
            keep++;
        k = keep;
    }
    if (p->top_p < 1.0f) {
        double cum = 0;
        int32_t keep = 0;
        while (keep < k) {
            cum += s->c[keep++].p;
            if (cum >= p->top_p) break;
        }
        k = keep;
    }
    double total = 0;
    for (int32_t i = 0; i < k; i++)
        total += s->c[i].p;
    double r = next_unit(s) * total, acc = 0;
    for (int32_t i = 0; i < k; i++) {
        acc += s->c[i].p;
        if (r < acc) return s->c[i].id;
    }
    return s->c[k - 1].id;
}
