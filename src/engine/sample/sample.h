/*
 * Token sampling: penalties, logit bias, then greedy or temperature with
 * top-k, top-p and min-p, from a seeded generator (same seed and settings,
 * same tokens).
 */
#ifndef RG_ENGINE_SAMPLE_H
#define RG_ENGINE_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

struct rg_logit_bias {
    int32_t id;
    float bias; /* -INFINITY bans the token */
};

struct rg_sample_params {
    float temperature;       /* <= 0: greedy (argmax, lowest id on ties) */
    int32_t top_k;           /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off (llama.cpp semantics: divide positive, multiply negative) */
    float frequency_penalty; /* OpenAI semantics */
    float presence_penalty;
    int32_t penalty_last_n; /* how many recent tokens the penalties look at */
    uint64_t seed;
    const struct rg_logit_bias *bias;
    size_t n_bias;
};
struct rg_sample_params rg_sample_default_params(void);

struct rg_sampler;
/* NULL on ENOMEM. */
struct rg_sampler *rg_sampler_new(const struct rg_sample_params *p, int32_t n_vocab);
void rg_sampler_free(struct rg_sampler *s);
/* Tells the sampler a token was added (prompt or generated), for penalties. */
void rg_sampler_accept(struct rg_sampler *s, int32_t id);
/* Picks the next token from logits (n_vocab floats; modified in place). */
int32_t rg_sampler_sample(struct rg_sampler *s, float *logits);

#endif
