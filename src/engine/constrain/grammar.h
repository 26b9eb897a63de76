/*
 * Constrained JSON output (response_format): a JSON Schema, or "any JSON
 * object", compiled to a pushdown automaton that reads the model's output a
 * byte at a time. The scheduler asks it whether a token's bytes keep the
 * text a valid prefix of a document the schema accepts, masks the tokens
 * that do not, and stops when the document is complete.
 *
 * Why an automaton of our own and not a general grammar engine: the schemas
 * clients send (OpenAI structured outputs, Ollama's "format") use a small
 * set of keywords, and a direct automaton over them is small, fast enough to
 * walk a trie of the whole vocabulary when the sampled token is rejected
 * (constrain.h), and easy to bound (nesting depth, alternatives expanded at
 * compile time, steps per byte, whitespace runs, digits).
 *
 * Supported keywords: type (string or list), properties, required,
 * additionalProperties (for objects without properties), items,
 * minItems/maxItems, minLength/maxLength, enum, const, anyOf/oneOf (oneOf is
 * treated as anyOf), allOf with one schema, $ref to "#", "#/$defs/..." or
 * "#/definitions/...", nullable. Annotations (title, description, default,
 * examples, format, $schema, $id, strict, deprecated) are ignored.
 * Keywords that constrain values in ways the automaton cannot enforce
 * (pattern, minimum, multipleOf, ...) are refused with a clear message
 * rather than silently ignored. Properties come out in the schema's order,
 * each optional one may be left out (as OpenAI's structured outputs do).
 */
#ifndef RG_ENGINE_CONSTRAIN_GRAMMAR_H
#define RG_ENGINE_CONSTRAIN_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Bounds (docs/security.md, "Constrained output"). A hostile schema is
 * refused at compile time with RG_EINVAL and a message naming the limit; a
 * hostile text costs at most RG_JG_STEPS steps per byte fed.
 */
#define RG_JG_DEPTH 24   /* nesting limit of a generated document */
#define RG_JG_ALTS 8     /* live readings at once (more are dropped) */
#define RG_JG_EXPAND 64  /* leaves one value's anyOf/oneOf/$ref expand to (compile) */
#define RG_JG_CHAIN 1024 /* anyOf/oneOf/$ref nodes one value's expansion crosses (compile) */
#define RG_JG_STEPS 4096 /* automaton steps per byte fed, all readings together */

struct rg_jg_frame {
    uint8_t kind, phase;
    uint16_t node;
    uint32_t a, b;
    uint64_t mask;
};

struct rg_jg_stack {
    uint8_t depth; /* 0 with done: the document is complete */
    uint8_t ws;    /* whitespace bytes in a row */
    bool done;
    struct rg_jg_frame f[RG_JG_DEPTH];
};

/* The parser's state: every live reading of the text so far. Copy it freely
 * (rg_jg_copy copies only the used part). */
struct rg_jg_state {
    int n;
    struct rg_jg_stack s[RG_JG_ALTS];
};

struct rg_jg;

/* Compiles a JSON Schema. NULL schema: any JSON object (json_object mode).
 * RG_EINVAL with a message naming the problem (a JSON-pointer-like path, or
 * the limit exceeded): also for a schema that can produce no finite document
 * within RG_JG_DEPTH ({"$ref":"#"}, a required property of its own type). */
int rg_jg_compile(const json_t *schema, struct rg_jg **out, char *err, size_t errsize);
/* The same, with literal text before and after the document (NULL: none),
 * whitespace allowed around it: "<tool_call>" {...} "</tool_call>". lenient:
 * keywords the automaton cannot enforce are ignored instead of refused (for
 * tool parameters, which clients write for the model, not for validation). */
int rg_jg_compile_wrapped(const json_t *schema, const char *prefix, const char *suffix,
                          bool lenient, struct rg_jg **out, char *err, size_t errsize);
void rg_jg_free(struct rg_jg *g);

void rg_jg_start(const struct rg_jg *g, struct rg_jg_state *st);
void rg_jg_copy(struct rg_jg_state *dst, const struct rg_jg_state *src);
/* Feeds bytes; false (and st unusable) when no reading survives. At most
 * RG_JG_STEPS steps per byte. Every reading that survives can still be
 * finished into a document (it never enters a schema too deep to finish). */
bool rg_jg_feed(const struct rg_jg *g, struct rg_jg_state *st, const char *p, size_t n);
/* The same from src into dst (dst != src; src is left as it was). */
bool rg_jg_feed_from(const struct rg_jg *g, const struct rg_jg_state *src, const char *p, size_t n,
                     struct rg_jg_state *dst);
/* Automaton steps taken by this thread so far (for tests and benchmarks of
 * the per-byte bound). */
uint64_t rg_jg_steps(void);
/* The document is complete: nothing more may follow but the end. */
bool rg_jg_complete(const struct rg_jg_state *st);
/* The text could end here (complete, or a number at the top level). */
bool rg_jg_can_end(const struct rg_jg *g, const struct rg_jg_state *st);

#endif
