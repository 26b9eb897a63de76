/* Bounded growable buffer (see buf.h). */
#include "common/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

void rg_buf_init(struct rg_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void rg_buf_free(struct rg_buf *b)
{
    rg_free(b->data);
    rg_buf_init(b, b->max);
}

void rg_buf_reset(struct rg_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

int rg_buf_reserve(struct rg_buf *b, size_t n)
{
    size_t need;
    if (!rg_add_size(b->len, n, &need) || need > b->max) return RG_ETOOBIG;
    if (need + 1 <= b->cap) return RG_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need + 1) {
        if (cap > SIZE_MAX / 2) {
            cap = need + 1;
            break;
        }
        cap *= 2;
    }
    if (b->max < SIZE_MAX && cap > b->max + 1) cap = b->max + 1;
    char *p = rg_realloc(b->data, cap);
    if (!p) return RG_ENOMEM;
    b->data = p;
    b->cap = cap;
    return RG_OK;
}

int rg_buf_append(struct rg_buf *b, const void *data, size_t n)
{
    int rc = rg_buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return RG_OK;
}

int rg_buf_append_str(struct rg_buf *b, const char *s)
{
    return rg_buf_append(b, s, strlen(s));
}
int rg_buf_append_char(struct rg_buf *b, char c)
{
    return rg_buf_append(b, &c, 1);
}

int rg_buf_vprintf(struct rg_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0) return RG_EINVAL;
    int rc = rg_buf_reserve(b, (size_t)n);
    if (rc) return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return RG_OK;
}

int rg_buf_printf(struct rg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = rg_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *rg_buf_steal(struct rg_buf *b)
{
    char *p = b->data;
    if (!p) p = rg_strdup("");
    rg_buf_init(b, b->max);
    return p;
}
