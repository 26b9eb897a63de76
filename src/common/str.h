/*
 * String helpers that replace the banned unsafe calls (strcpy, sprintf, atoi,
 * strtok): bounded copies and number parsing that reports every failure.
 */
#ifndef RG_COMMON_STR_H
#define RG_COMMON_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copies at most size-1 bytes and always terminates (size > 0). Returns
 * strlen(src), so a result >= size means the copy was cut. */
size_t rg_strlcpy(char *dst, const char *src, size_t size);

/* Whole-string parses: the full string must be a number in [min, max].
 * Return RG_OK, RG_EINVAL (not a number) or RG_ERANGE. *out untouched on error. */
int rg_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
int rg_parse_double(const char *s, double min, double max, double *out);
/* "1", "true", "yes", "on" / "0", "false", "no", "off" (any case). */
int rg_parse_bool(const char *s, bool *out);

bool rg_str_starts_with(const char *s, const char *prefix);
bool rg_str_ends_with(const char *s, const char *suffix);
/* Constant-time comparison of two byte strings (time depends on lengths only). */
bool rg_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Length of the valid UTF-8 prefix of s[0..n): stops before an incomplete or
 * invalid sequence. Used to stream text piece by piece without cutting a
 * character in two. */
size_t rg_utf8_valid_prefix(const char *s, size_t n);
/* true when s[0..n) is entirely valid UTF-8. */
bool rg_utf8_valid(const char *s, size_t n);

#endif
