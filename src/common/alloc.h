/*
 * All allocation goes through rg_malloc and friends so that tests can make the
 * Nth allocation fail (rg_alloc_fail_after) and check that every caller
 * returns RG_ENOMEM cleanly and leaks nothing, as SQLite and curl do.
 * Size arithmetic for allocations uses rg_mul_size / rg_add_size (overflow
 * checked) before the call.
 */
#ifndef RG_COMMON_ALLOC_H
#define RG_COMMON_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *rg_malloc(size_t n);
void *rg_calloc(size_t count, size_t size);
void *rg_realloc(void *p, size_t n);
void rg_free(void *p);
char *rg_strdup(const char *s);
char *rg_strndup(const char *s, size_t n);
/* n bytes aligned to align (a power of two >= sizeof(void *)); free with rg_free. */
void *rg_aligned_alloc(size_t align, size_t n);
/* Allocates count*size bytes, or NULL when that product overflows. */
void *rg_malloc_array(size_t count, size_t size);

/*
 * Test hook: after `n` more successful allocations, every allocation fails
 * (n < 0 turns the hook off). Process-wide; counts across threads.
 */
void rg_alloc_fail_after(long n);
/* Allocations made since the process started (for fail-after loops). */
unsigned long rg_alloc_count(void);

/* true and *out = a*b (or a+b) when it fits in size_t; false on overflow. */
static inline bool rg_mul_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool rg_add_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

#endif
