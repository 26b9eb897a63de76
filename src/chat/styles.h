/*
 * The built-in thinking styles (docs/memory.md "Styles"): each is a
 * documented Markdown file in src/chat/styles/, built into the binary
 * (src/chat/CMakeLists.txt turns them into C arrays). A file is
 *
 *   # Name
 *
 *   One paragraph: the description.
 *
 *   ... more about the style, for a reader ...
 *
 *   ## Instructions
 *
 *   The exact instructions added to the prompt (to the end of the file).
 */
#ifndef RG_CHAT_STYLES_H
#define RG_CHAT_STYLES_H

#include <stddef.h>

struct rg_chat_style {
    const char *id; /* "plain", "socratic", "devils-advocate", "chain-of-thought" */
    char name[64];
    char description[512];
    const char *prompt; /* the instructions, trimmed; "" for plain */
    size_t prompt_len;
};

/* The built-in styles in their documented order (plain first); *n gets
 * their number. Parsed once, on first use (thread-safe). */
const struct rg_chat_style *rg_chat_styles(size_t *n);

/* The built-in style id, or NULL. */
const struct rg_chat_style *rg_chat_style_get(const char *id);

/* The whole Markdown file of a built-in style (NULL for an unknown id). */
const char *rg_chat_style_source(const char *id);

#endif
