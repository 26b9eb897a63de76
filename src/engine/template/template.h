/*
 * Chat templates. A GGUF carries its chat template as Jinja text
 * (tokenizer.chat_template). We recognize the known families by their
 * markers and render them in C, with ChatML as the fallback, rather than
 * interpreting Jinja: the families below cover the models people run, the
 * output is exact for them, and there is no template language to secure.
 * A Jinja interpreter (for templates with tools and unusual logic) is the
 * planned next step; the renderer interface will not change.
 */
#ifndef RG_ENGINE_TEMPLATE_H
#define RG_ENGINE_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct rg_vocab;

enum rg_chat_format {
    RG_CHAT_CHATML,  /* <|im_start|>role\n...<|im_end|> (Qwen, SmolLM, many fine-tunes) */
    RG_CHAT_LLAMA3,  /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
    RG_CHAT_LLAMA2,  /* <s>[INST] <<SYS>>...<</SYS>> ... [/INST] */
    RG_CHAT_MISTRAL, /* [INST] ... [/INST] without a system block */
    RG_CHAT_PHI3,    /* <|user|>\n...<|end|>\n<|assistant|>\n */
    RG_CHAT_GEMMA,   /* <start_of_turn>user\n...<end_of_turn>\n<start_of_turn>model\n */
    RG_CHAT_ZEPHYR,  /* <|user|>\n...</s>\n<|assistant|>\n */
};

struct rg_chat_msg {
    const char *role; /* system, user, assistant */
    const char *content;
};

/* The family of a Jinja template (NULL or unknown: ChatML). */
enum rg_chat_format rg_chat_detect(const char *jinja);
const char *rg_chat_format_name(enum rg_chat_format f);
/*
 * Renders messages as the model expects them; with add_assistant, ends with
 * the opening of the assistant's turn. bos is the BOS text for formats that
 * spell it in the template (NULL: none; the tokenizer adds BOS itself).
 * RG_OK, RG_EINVAL (an unknown role), RG_ENOMEM / RG_ETOOBIG.
 */
int rg_chat_render(enum rg_chat_format f, const struct rg_chat_msg *msgs, size_t n,
                   bool add_assistant, struct rg_buf *out);

/*
 * Renders msgs with format f (as rg_chat_render) and tokenizes the result so that special
 * (control) tokens are recognised only in the template's own text; message contents are
 * tokenized with parse_special = false, so "<|im_start|>" typed by a user or returned by a tool
 * is ordinary text and cannot forge a turn (user-defined added tokens are still matched in
 * contents, as llama.cpp does). add_bos as rg_tokenize's add_special does for BOS (EOS is never
 * added). For a conversation with no special-token text in its contents the result equals
 * rg_tokenize_alloc(rendered text, add_special = add_bos, parse_special = true).
 * RG_OK with *out (rg_free) and *n_out; RG_ENOMEM; RG_EUNSUPPORTED when the vocab's
 * tokenizer is not implemented; RG_EINVAL for bad arguments (NULL vocab or outputs, an unknown
 * role, a NULL content); RG_ETOOBIG when the rendered text would not fit in memory.
 * err (RG_ERR_SIZE bytes, may be NULL) gets the detail. On failure *out is NULL.
 */
int rg_chat_tokenize(const struct rg_vocab *v, enum rg_chat_format f,
                     const struct rg_chat_msg *msgs, size_t n, bool add_generation_prompt,
                     bool add_bos, int32_t **out, size_t *n_out, char *err);

#endif
