/*
 * Chat template families (see template.h), rendered in C. One renderer writes
 * the prompt piece by piece, each piece marked as the template's own text or a
 * message's content, so that rg_chat_tokenize can read special tokens in the
 * first and never in the second.
 */
#include "engine/template/template.h"

#include <string.h>

#include "common/err.h"
#include "engine/tokenizer/tokenizer.h"

enum rg_chat_format rg_chat_detect(const char *t)
{
    if (!t) return RG_CHAT_CHATML;
    if (strstr(t, "<|im_start|>")) return RG_CHAT_CHATML;
    if (strstr(t, "<|start_header_id|>")) return RG_CHAT_LLAMA3;
    if (strstr(t, "<start_of_turn>")) return RG_CHAT_GEMMA;
    if (strstr(t, "<|assistant|>") && strstr(t, "<|end|>")) return RG_CHAT_PHI3;
    if (strstr(t, "<|assistant|>") && strstr(t, "<|user|>")) return RG_CHAT_ZEPHYR;
    if (strstr(t, "<<SYS>>")) return RG_CHAT_LLAMA2;
    if (strstr(t, "[INST]")) return RG_CHAT_MISTRAL;
    return RG_CHAT_CHATML;
}

const char *rg_chat_format_name(enum rg_chat_format f)
{
    static const char *const names[] = {"chatml", "llama3", "llama2", "mistral",
                                        "phi3",   "gemma",  "zephyr"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "?";
}

static bool role_ok(const char *r)
{
    return r && (!strcmp(r, "system") || !strcmp(r, "user") || !strcmp(r, "assistant") ||
                 !strcmp(r, "tool"));
}

/*
 * Where the rendered text goes: the buffer, and optionally a mask with one
 * byte per byte of text, 1 where the template wrote it and 0 where a message's
 * content did (rg_chat_tokenize recognises control tokens only at 1s).
 */
struct sink {
    struct rg_buf *out;
    struct rg_buf *mask; /* NULL: plain rendering */
    int rc;
};

static void put(struct sink *s, const char *text, bool is_content)
{
    size_t n = strlen(text);
    if (s->rc != RG_OK || n == 0) return;
    if (s->mask) {
        s->rc = rg_buf_reserve(s->mask, n);
        if (s->rc != RG_OK) return;
    }
    s->rc = rg_buf_append(s->out, text, n);
    if (s->rc != RG_OK || !s->mask) return;
    memset(s->mask->data + s->mask->len, is_content ? 0 : 1, n);
    s->mask->len += n;
    s->mask->data[s->mask->len] = '\0';
}

/* T: template text; C: a message's content (never read as special tokens) */
#define T(x) put(s, (x), false)
#define C(x) put(s, (x), true)

static int render(enum rg_chat_format f, const struct rg_chat_msg *m, size_t n, bool add_assistant,
                  struct sink *s)
{
    for (size_t i = 0; i < n; i++)
        if (!role_ok(m[i].role) || !m[i].content) return RG_EINVAL;
    switch (f) {
    case RG_CHAT_CHATML:
        for (size_t i = 0; i < n; i++) {
            T("<|im_start|>"), T(m[i].role), T("\n"), C(m[i].content), T("<|im_end|>\n");
        }
        if (add_assistant) T("<|im_start|>assistant\n");
        break;
    case RG_CHAT_LLAMA3:
        for (size_t i = 0; i < n; i++) {
            T("<|start_header_id|>"), T(m[i].role), T("<|end_header_id|>\n\n");
            C(m[i].content), T("<|eot_id|>");
        }
        if (add_assistant) T("<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case RG_CHAT_LLAMA2:
    case RG_CHAT_MISTRAL: {
        /* the system prompt goes into the first user turn */
        const char *sys = NULL;
        bool first_user = true;
        for (size_t i = 0; i < n; i++) {
            if (!strcmp(m[i].role, "system")) {
                sys = m[i].content;
            } else if (!strcmp(m[i].role, "user")) {
                if (f == RG_CHAT_LLAMA2 && sys && first_user)
                    T("[INST] <<SYS>>\n"), C(sys), T("\n<</SYS>>\n\n");
                else if (sys && first_user)
                    T("[INST] "), C(sys), T("\n\n");
                else
                    T("[INST] ");
                C(m[i].content), T(" [/INST]");
                first_user = false;
            } else {
                T(" "), C(m[i].content), T("</s>");
            }
        }
        break;
    }
    case RG_CHAT_PHI3:
        for (size_t i = 0; i < n; i++) {
            T("<|"), T(m[i].role), T("|>\n"), C(m[i].content), T("<|end|>\n");
        }
        if (add_assistant) T("<|assistant|>\n");
        break;
    case RG_CHAT_GEMMA: {
        const char *sys = NULL;
        for (size_t i = 0; i < n; i++) {
            if (!strcmp(m[i].role, "system")) {
                sys = m[i].content;
                continue;
            }
            const char *role = !strcmp(m[i].role, "assistant") ? "model" : "user";
            if (sys && !strcmp(role, "user")) {
                T("<start_of_turn>user\n"), C(sys), T("\n\n");
                sys = NULL;
            } else {
                T("<start_of_turn>"), T(role), T("\n");
            }
            C(m[i].content), T("<end_of_turn>\n");
        }
        if (add_assistant) T("<start_of_turn>model\n");
        break;
    }
    case RG_CHAT_ZEPHYR:
        for (size_t i = 0; i < n; i++) {
            T("<|"), T(m[i].role), T("|>\n"), C(m[i].content), T("</s>\n");
        }
        if (add_assistant) T("<|assistant|>\n");
        break;
    default: return RG_EINVAL;
    }
    return s->rc;
}

#undef T
#undef C

int rg_chat_render(enum rg_chat_format f, const struct rg_chat_msg *m, size_t n, bool add_assistant,
                   struct rg_buf *o)
{
    struct sink s = {o, NULL, RG_OK};
    return render(f, m, n, add_assistant, &s);
}

/* Template text per message and per conversation is a few dozen bytes; this
 * bound leaves room for the longest role and system-prompt placement. */
enum { PER_MSG_OVERHEAD = 128, PER_CHAT_OVERHEAD = 128 };

int rg_chat_tokenize(const struct rg_vocab *v, enum rg_chat_format f,
                     const struct rg_chat_msg *msgs, size_t n, bool add_generation_prompt,
                     bool add_bos, int32_t **out, size_t *n_out, char *err)
{
    if (out) *out = NULL;
    if (n_out) *n_out = 0;
    if (!v || !out || !n_out || (n && !msgs))
        return rg_err_set(err, RG_EINVAL, "rg_chat_tokenize: missing argument");
    /* the rendered text is bounded by the contents plus the template's own */
    size_t max = PER_CHAT_OVERHEAD;
    for (size_t i = 0; i < n; i++) {
        if (!role_ok(msgs[i].role) || !msgs[i].content)
            return rg_err_set(err, RG_EINVAL, "message %zu: unknown role or no content", i);
        if (__builtin_add_overflow(max, strlen(msgs[i].content), &max) ||
            __builtin_add_overflow(max, (size_t)PER_MSG_OVERHEAD, &max))
            return rg_err_set(err, RG_ETOOBIG, "conversation too long");
    }
    struct rg_buf text, mask;
    rg_buf_init(&text, max);
    rg_buf_init(&mask, max);
    struct sink s = {&text, &mask, RG_OK};
    int rc = render(f, msgs, n, add_generation_prompt, &s);
    if (rc == RG_OK)
        rc = rg_tokenize_alloc_masked(v, text.data ? text.data : "", text.len,
                                      (const uint8_t *)mask.data, add_bos, out, n_out);
    rg_buf_free(&text);
    rg_buf_free(&mask);
    if (rc == RG_OK) return RG_OK;
    if (rc == RG_ENOMEM) return rg_err_set(err, rc, "out of memory");
    if (rc == RG_EUNSUPPORTED)
        return rg_err_set(err, rc, "this vocabulary's tokenizer is not implemented");
    return rg_err_set(err, rc, "cannot render the chat: %s", rg_strerror(rc));
}
