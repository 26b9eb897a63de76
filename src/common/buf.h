/*
 * Growable byte buffer with a hard maximum (curl's dynbuf idea): every buffer
 * fed from outside is created with the largest size it may reach, and an
 * append past that fails with RG_ETOOBIG instead of growing without bound.
 * The data is always NUL-terminated (the terminator is not counted in len).
 */
#ifndef RG_COMMON_BUF_H
#define RG_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct rg_buf {
    char *data; /* NULL until the first append; NUL-terminated after */
    size_t len; /* bytes used, not counting the terminator */
    size_t cap; /* bytes allocated */
    size_t max; /* len never exceeds this */
};

/* An empty buffer that may grow to max bytes. Allocates nothing. */
void rg_buf_init(struct rg_buf *b, size_t max);
/* Frees the data and leaves an empty buffer with the same max. */
void rg_buf_free(struct rg_buf *b);
/* Empties the buffer, keeping its memory. */
void rg_buf_reset(struct rg_buf *b);
/* Returns RG_OK, RG_ETOOBIG (past max; buffer unchanged) or RG_ENOMEM. */
int rg_buf_append(struct rg_buf *b, const void *data, size_t n);
int rg_buf_append_str(struct rg_buf *b, const char *s);
int rg_buf_append_char(struct rg_buf *b, char c);
int rg_buf_printf(struct rg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rg_buf_vprintf(struct rg_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Makes room for n more bytes without changing len. Same returns. */
int rg_buf_reserve(struct rg_buf *b, size_t n);
/* Hands the data to the caller (free with rg_free) and empties the buffer;
 * returns an empty string, not NULL, for an empty buffer (NULL on ENOMEM). */
char *rg_buf_steal(struct rg_buf *b);

#endif
