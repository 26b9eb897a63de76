/* Chat template families (see template.h). */
#include "engine/template/template.h"

#include <string.h>

#include "common/err.h"

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

int rg_chat_render(enum rg_chat_format f, const struct rg_chat_msg *m, size_t n, bool add_assistant,
                   struct rg_buf *o)
{
    int rc = RG_OK;
#define P(...)                                                                                     \
    do {                                                                                           \
        if (rc == RG_OK) rc = rg_buf_printf(o, __VA_ARGS__);                                       \
    } while (0)
    for (size_t i = 0; i < n; i++)
        if (!role_ok(m[i].role) || !m[i].content) return RG_EINVAL;
    switch (f) {
    case RG_CHAT_CHATML:
        for (size_t i = 0; i < n; i++)
            P("<|im_start|>%s\n%s<|im_end|>\n", m[i].role, m[i].content);
        if (add_assistant) P("<|im_start|>assistant\n");
        break;
    case RG_CHAT_LLAMA3:
        for (size_t i = 0; i < n; i++)
            P("<|start_header_id|>%s<|end_header_id|>\n\n%s<|eot_id|>", m[i].role, m[i].content);
        if (add_assistant) P("<|start_header_id|>assistant<|end_header_id|>\n\n");
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
                    P("[INST] <<SYS>>\n%s\n<</SYS>>\n\n%s [/INST]", sys, m[i].content);
                else if (sys && first_user)
                    P("[INST] %s\n\n%s [/INST]", sys, m[i].content);
                else
                    P("[INST] %s [/INST]", m[i].content);
                first_user = false;
            } else {
                P(" %s</s>", m[i].content);
            }
        }
        break;
    }
    case RG_CHAT_PHI3:
        for (size_t i = 0; i < n; i++)
            P("<|%s|>\n%s<|end|>\n", m[i].role, m[i].content);
        if (add_assistant) P("<|assistant|>\n");
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
                P("<start_of_turn>user\n%s\n\n%s<end_of_turn>\n", sys, m[i].content);
                sys = NULL;
            } else {
                P("<start_of_turn>%s\n%s<end_of_turn>\n", role, m[i].content);
            }
        }
        if (add_assistant) P("<start_of_turn>model\n");
        break;
    }
    case RG_CHAT_ZEPHYR:
        for (size_t i = 0; i < n; i++)
            P("<|%s|>\n%s</s>\n", m[i].role, m[i].content);
        if (add_assistant) P("<|assistant|>\n");
        break;
    default: return RG_EINVAL;
    }
#undef P
    return rc;
}
