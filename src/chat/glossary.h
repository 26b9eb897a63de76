/*
 * Glossary terms found in text (docs/memory.md "Glossary"): a term matches
 * where it appears without case (ASCII, Latin-1, Latin Extended-A, Greek and
 * Cyrillic letters fold to lower case) and on word boundaries: the
 * characters just before and after it are not word characters (Unicode
 * letters and digits: ASCII letters and digits, '_' and every character at
 * or above U+0080 but the general punctuation and symbol blocks).
 */
#ifndef RG_CHAT_GLOSSARY_H
#define RG_CHAT_GLOSSARY_H

#include <stdbool.h>
#include <stddef.h>

/* s folded to lower case (as the matcher compares) into out (size bytes,
 * always NUL-ended; a character that does not fit is left out). Invalid
 * UTF-8 bytes are copied as they are. The length written. */
size_t rg_chat_gloss_fold(const char *s, char *out, size_t size);

/*
 * The byte offset in text of the first place where term appears on word
 * boundaries without case, or -1 (also for an empty term or one of spaces
 * only). Both are UTF-8; text may be long (a linear scan of its folded
 * form, folded once per call).
 */
long rg_chat_gloss_find(const char *text, const char *term);

/*
 * For many terms: text folded once (rg_chat_gloss_text_new), then each term
 * looked up. NULL on ENOMEM.
 */
struct rg_chat_gloss_text;
struct rg_chat_gloss_text *rg_chat_gloss_text_new(const char *text);
/* The offset in the folded text of term's first match, or -1. */
long rg_chat_gloss_text_find(const struct rg_chat_gloss_text *t, const char *term);
void rg_chat_gloss_text_free(struct rg_chat_gloss_text *t);

#endif
