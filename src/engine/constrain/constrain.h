/*
 * Constrained sampling over a whole vocabulary: which tokens may come next
 * under a response_format automaton (grammar.h).
 *
 * Every token's bytes are indexed once per model as a trie, laid out in
 * depth-first order with the end of each subtree, so tokens that share a
 * prefix share the feeding of that prefix: rg_jg_mask walks the trie from the
 * current state and skips a whole subtree as soon as its prefix is rejected.
 * The walk costs one automaton step per trie node it visits (at most
 * RG_JG_STEPS each), and checks a cancel flag every few hundred nodes, so a
 * client that leaves or a server that shuts down stops it.
 *
 * A scheduler uses it so (one rg_jg_vocab per model, shared by its slots):
 *     t = sample(logits copy);
 *     if (!rg_jg_allows(g, st, tv, t, NULL)) {       the common case skips this
 *         rc = rg_jg_mask(g, st, tv, logits, &cancel);
 *         RG_ECANCELED: stop the request; 0: no token can continue; else
 *         t = sample(logits);
 *     }
 *     if (!eog(t)) rg_jg_allows(g, st, tv, t, st);    advance the state
 */
#ifndef RG_ENGINE_CONSTRAIN_CONSTRAIN_H
#define RG_ENGINE_CONSTRAIN_CONSTRAIN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/constrain/grammar.h"
#include "engine/tokenizer/tokenizer.h"

/* Longest token piece indexed; a longer token is never allowed. */
#define RG_JG_MAX_PIECE 1024
/* rg_jg_mask reads the cancel flag once per this many trie nodes. */
#define RG_JG_CANCEL_EVERY 256

/* every token's bytes as a trie, built once per model; immutable, shareable */
struct rg_jg_vocab;

/* Indexes every token of v (its bytes as rg_token_to_piece gives them, not
 * special). NULL with err on ENOMEM. Control/empty tokens are never allowed
 * except end-of-generation ones. v must outlive the index. */
struct rg_jg_vocab *rg_jg_vocab_new(const struct rg_vocab *v, char err[RG_ERR_SIZE]);
void rg_jg_vocab_free(struct rg_jg_vocab *tv); /* accepts NULL */
/* Tokens indexed (the vocabulary's size: the length of a logits row). */
int32_t rg_jg_vocab_size(const struct rg_jg_vocab *tv);
/* Trie nodes (for benchmarks). */
int32_t rg_jg_vocab_nodes(const struct rg_jg_vocab *tv);

/* Whether token t may come next from state st; the state after it into
 * *next when next != NULL (next may equal st; when t is refused *next is
 * left as it was). End-of-generation tokens: only where rg_jg_can_end (the
 * state after them is st). An id out of range is refused. */
bool rg_jg_allows(const struct rg_jg *g, const struct rg_jg_state *st, const struct rg_jg_vocab *tv,
                  int32_t t, struct rg_jg_state *next);

/* Sets logits[i] = -INFINITY for every token that may not come next from st
 * (logits holds rg_jg_vocab_size entries). Returns the number of tokens left
 * with a logit above -INFINITY (0: none can continue; a token the caller
 * masked already, e.g. for ignore_eos, is not counted), RG_ENOMEM (logits
 * untouched), or RG_ECANCELED when *cancel became
 * true during the walk (read every RG_JG_CANCEL_EVERY nodes; cancel may be
 * NULL): then logits are left as they were. */
int32_t rg_jg_mask(const struct rg_jg *g, const struct rg_jg_state *st,
                   const struct rg_jg_vocab *tv, float *logits, const atomic_bool *cancel);

#endif
