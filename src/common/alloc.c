/* Allocation wrappers with failure injection for tests (see alloc.h). */
#include "common/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static atomic_long fail_after = -1;
static atomic_ulong n_allocs;

static bool should_fail(void)
{
    atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
    long left = atomic_load_explicit(&fail_after, memory_order_relaxed);
    if (left < 0) return false;
    if (left == 0) return true;
    atomic_fetch_sub_explicit(&fail_after, 1, memory_order_relaxed);
    return false;
}

void rg_alloc_fail_after(long n)
{
    atomic_store(&fail_after, n);
}
unsigned long rg_alloc_count(void)
{
    return atomic_load(&n_allocs);
}

void *rg_malloc(size_t n)
{
    if (should_fail()) return NULL;
    return malloc(n ? n : 1);
}

void *rg_calloc(size_t count, size_t size)
{
    if (should_fail()) return NULL;
    if (count == 0 || size == 0) count = size = 1;
    return calloc(count, size);
}

void *rg_realloc(void *p, size_t n)
{
    if (should_fail()) return NULL;
    return realloc(p, n ? n : 1);
}

void *rg_aligned_alloc(size_t align, size_t n)
{
    if (should_fail()) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align, n ? n : 1) != 0) return NULL;
    return p;
}

void rg_free(void *p)
{
    free(p);
}

void *rg_malloc_array(size_t count, size_t size)
{
    size_t total;
    if (!rg_mul_size(count, size, &total)) return NULL;
    return rg_malloc(total);
}

char *rg_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = rg_malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *rg_strdup(const char *s)
{
    return rg_strndup(s, strlen(s));
}

/* jansson allocates through rg_malloc/rg_free as well, in every program that
 * links common/: the allocation-failure tests then reach the JSON paths, and
 * a json_dumps result may be freed with rg_free or free alike. */
__attribute__((constructor)) static void route_jansson(void)
{
    json_set_alloc_funcs(rg_malloc, rg_free);
}
