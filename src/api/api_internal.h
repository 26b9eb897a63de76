/*
 * What the model handlers share: one parser of generation settings for the
 * OpenAI and Ollama bodies, one reply for a request error, the model hold,
 * and the stream stage (stream.c) that turns engine events into OpenAI
 * chunks or Ollama NDJSON on its own thread.
 */
#ifndef RG_API_INTERNAL_H
#define RG_API_INTERNAL_H

#include <math.h>

#include "api/api.h"
#include "chat/chat.h"
#include "engine/engine.h"

/* The wire format of a generation's reply. */
enum rg_api_mode {
    RG_API_OPENAI_CHAT,     /* chat.completion(.chunk) */
    RG_API_OPENAI_TEXT,     /* text_completion */
    RG_API_OLLAMA_CHAT,     /* {"message": ...} NDJSON */
    RG_API_OLLAMA_GENERATE, /* {"response": ...} NDJSON */
    RG_API_KEPT,            /* a kept conversation's answer (docs/chat.md): start,
                             * delta and end events, saved by the caller's hooks */
};

#define RG_API_MAX_CHOICES 16

/* A generation as a body asks for it: the engine request's settings and
 * what the reply needs. */
struct rg_api_gen {
    struct rg_engine_request er;
    char **stops; /* er.n_stops strings (er.stops points here) */
    struct rg_logit_bias *bias;
    bool stream, include_usage;
    double keep_alive; /* Ollama's, seconds; NAN: none */
    json_t *extra;     /* the reply's "rustygpt" object (first chunk, or the body); NULL none */
};
void rg_api_gen_free(struct rg_api_gen *g);

/*
 * Reads sampling and output settings. opts: the object holding the sampling
 * fields (the body for OpenAI, "options" for Ollama, may be NULL); body: the
 * top level (stream, response_format / format, logprobs). RG_OK, or an
 * error in e (400 naming the field).
 */
int rg_api_gen_parse(const json_t *body, const json_t *opts, enum rg_api_mode mode, int32_t n_vocab,
                     struct rg_api_gen *g, struct rg_req_err *e);

/* Fits max_tokens to the work one request may cost (answers x tokens x
 * (1 + top_logprobs) <= work); RG_EINVAL with e when a given max_tokens
 * exceeds it. _default fits an unset one to dflt too (--default-max-tokens;
 * 0: the context). */
int rg_api_gen_fit(struct rg_api_gen *g, int answers, long n_ctx, long work, struct rg_req_err *e);
int rg_api_gen_fit_default(struct rg_api_gen *g, int answers, long n_ctx, long work, long dflt,
                           struct rg_req_err *e);

/* A prompt of n tokens fits the context (with room for an answer); else
 * 400 context_length_exceeded naming param. */
int rg_api_prompt_fits(size_t n, long n_ctx, const char *param, struct rg_req_err *e);

/* The request body and its "model"; NULL when either is missing (replied:
 * 400). */
const char *rg_api_body_model(struct rg_http_req *r, json_t **body);

/* Replies with e in the request's error shape (OpenAI's, or Ollama's plain one). */
void rg_api_reply_err(struct rg_http_req *r, const struct rg_req_err *e);
/* Holds model id, replying 404/503/500 when it cannot (then NULL). */
struct rg_engine_model *rg_api_model_hold(struct rg_http_req *r, struct rg_api_state *st,
                                          const char *id);

/* The model's chat template speaks a tool protocol our parser reads:
 * <tool_call> (ChatML family), Llama 3's <|python_tag|>, Mistral's
 * [TOOL_CALLS] (/api/show and /v1/models say "tools"). */
struct rg_gguf;
bool rg_api_gguf_has_tools(const struct rg_gguf *g);

/* ---- the stream stage (stream.c) ---- */
struct rg_api_streams;
struct rg_api_streams *rg_api_streams_new(char *err);
/* After the HTTP server stopped (every connection is closed). */
void rg_api_streams_free(struct rg_api_streams *ss);

/*
 * Submits a generation of prompts (n_prompts token arrays) on held model m
 * and answers the request from its events. Takes m (released when the
 * reply ends), g's grammar, and chat's tools; replies with an error itself
 * when the engine refuses the request (429 when the queue is full).
 */
void rg_api_generate(struct rg_http_req *r, struct rg_api_state *st, struct rg_engine_model *m,
                     enum rg_api_mode mode, struct rg_api_gen *g, const int32_t *const *prompts,
                     const int32_t *n_prompt, int n_prompts, struct rg_chat_prompt *chat);

/*
 * The end of every one-prompt handler: with rc RG_OK, checks that cp's
 * prompt fits the context and g the work limit, then generates; otherwise
 * (or when a check fails) replies with e. Takes m; frees g and cp.
 */
void rg_api_generate_one(struct rg_http_req *r, struct rg_api_state *st, struct rg_engine_model *m,
                         enum rg_api_mode mode, struct rg_api_gen *g, struct rg_chat_prompt *cp,
                         int rc, struct rg_req_err *e);

/* The reply of an embedding request. */
enum rg_api_embed_shape {
    RG_API_EMBED_FLOAT,      /* OpenAI's list, vectors as numbers */
    RG_API_EMBED_BASE64,     /* OpenAI's list, vectors as base64 of float32 */
    RG_API_EMBED_OLLAMA,     /* Ollama's /api/embed: {"embeddings": [[...], ...]} */
    RG_API_EMBED_OLLAMA_ONE, /* Ollama's older /api/embeddings: {"embedding": [...]} */
};

/*
 * An answer that is kept (chat_answer.c): the stream stage calls begin once
 * the engine took the request, before anything is sent (it saves the
 * messages: a refusal before it saves nothing), and end once the request
 * ended, however it ended (the client left, an error), with the whole text.
 * Both run off the engine's threads and may use the database.
 */
struct rg_api_kept_end {
    const char *text; /* the answer's content, len bytes */
    size_t len;
    const char *finish; /* "stop", "length", "cancelled", "error" */
    int rc;             /* the request's: RG_OK, RG_ECANCELED, ... */
    const char *err;    /* its reason when rc is not RG_OK */
    bool client_gone;
    long prompt_tokens, completion_tokens;
    double total_ms;
};
struct rg_api_keep {
    /* The "start" event's data into *start (taken); RG_OK, or an error with
     * its reply status in *status and reason in err (the request is
     * cancelled and that error replied). On the HTTP thread. */
    int (*begin)(void *user, json_t **start, int *status, char *err);
    /* The "end" (or "error": *event) event's data, which is also the whole
     * reply body when the answer is not streamed. NULL: nothing to send. On
     * the stream thread. */
    json_t *(*end)(void *user, const struct rg_api_kept_end *k, const char **event);
    void (*free)(void *user); /* once, when the reply is done (may be NULL) */
    void *user;
};
/* Generates the answer of prompt (n tokens, copied) on held m (taken) with
 * g's settings, kept by keep (whose free runs in every case, a refusal
 * included). */
void rg_api_generate_kept(struct rg_http_req *r, struct rg_api_state *st,
                          struct rg_engine_model *m, struct rg_api_gen *g, const int32_t *prompt,
                          int32_t n, const struct rg_api_keep *keep);

/* Embeddings of inputs (token arrays) on m; takes m. */
void rg_api_embed(struct rg_http_req *r, struct rg_api_state *st, struct rg_engine_model *m,
                  const int32_t *const *inputs, const int32_t *n_input, int n_inputs,
                  enum rg_api_embed_shape shape);
/* The whole of an embedding request: in (a string or an array of them,
 * named param in errors) tokenized and checked, then embedded on model id;
 * replies itself. */
void rg_api_embed_inputs(struct rg_http_req *r, struct rg_api_state *st, const char *id,
                         const json_t *in, const char *param, enum rg_api_embed_shape shape);

/* A JSON string of generated text; bytes that are not UTF-8 become U+FFFD. */
json_t *rg_api_json_text(const char *p, size_t n);
/* The context a model is served with, for clients that size their prompts. */
int32_t rg_api_served_ctx(const struct rg_api_state *st, int64_t n_ctx_train);

/* ---- route tables of the model areas ---- */
size_t rg_api_chat_routes(struct rg_route *out, size_t max, struct rg_api_state *st);
size_t rg_api_completions_routes(struct rg_route *out, size_t max, struct rg_api_state *st);
size_t rg_api_embeddings_routes(struct rg_route *out, size_t max, struct rg_api_state *st);
size_t rg_api_models_routes(struct rg_route *out, size_t max, struct rg_api_state *st);
/* Ollama's routes, with those of ollama_manage.c after them. */
size_t rg_api_ollama_routes(struct rg_route *out, size_t max, struct rg_api_state *st);
/* Issue 17's modules, each in its own file: memory.c (glossary, ratings,
 * custom styles, conversation type, memory settings), survival.c (the
 * survival library) and net.c (offline mode, the outbound switch). */
size_t rg_api_memory_routes(struct rg_route *out, size_t max, struct rg_api_state *st);
size_t rg_api_survival_routes(struct rg_route *out, size_t max, struct rg_api_state *st);
size_t rg_api_net_routes(struct rg_route *out, size_t max, struct rg_api_state *st);
size_t rg_api_ollama_manage_routes(struct rg_route *out, size_t max, struct rg_api_state *st);

#endif
