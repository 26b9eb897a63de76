/*
 * Variants of a test model for the client suites (test_clients_*.c): the
 * same weights with another chat template (one that speaks the <tool_call>
 * protocol, so the server offers tools) or with some tokens renamed (to
 * give a model fill-in-the-middle tokens).
 */
#ifndef RG_TESTS_HARNESS_MODELS_H
#define RG_TESTS_HARNESS_MODELS_H

#include <stddef.h>
#include <stdint.h>

/* A ChatML template that mentions <tool_call>, as tool-calling models' do. */
#define RG_TEST_TOOL_TEMPLATE                                                                      \
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>{% endfor %}"       \
    "{# tools: <tool_call> #}"

/*
 * Writes a copy of the GGUF file src to dst with tokenizer.chat_template
 * set to tmpl (NULL: as it is) and token ids[i] renamed texts[i] (n of
 * them). 0, or -1 with the reason on stderr.
 */
int rg_test_model_variant(const char *src, const char *dst, const char *tmpl, const int32_t *ids,
                          const char *const *texts, size_t n);

#endif
