/* Bump allocator (see arena.h). */
#include "common/arena.h"

#include <stdalign.h>
#include <string.h>

#include "common/alloc.h"

#define ARENA_ALIGN 64

struct rg_arena_block {
    struct rg_arena_block *next;
    size_t size; /* usable bytes in data */
    size_t off;  /* next free byte */
    alignas(ARENA_ALIGN) unsigned char data[];
};

void rg_arena_init(struct rg_arena *a, size_t block_size, size_t max)
{
    a->head = NULL;
    a->block_size = block_size ? block_size : 64 * 1024;
    a->used = 0;
    a->max = max;
}

void *rg_arena_alloc(struct rg_arena *a, size_t size)
{
    size_t need;
    if (!rg_add_size(size, ARENA_ALIGN - 1, &need)) return NULL;
    need &= ~(size_t)(ARENA_ALIGN - 1);
    if (a->max && (need > a->max || a->used > a->max - need)) return NULL;
    struct rg_arena_block *b = a->head;
    if (!b || b->size - b->off < need) {
        size_t bs = need > a->block_size ? need : a->block_size, total;
        if (!rg_add_size(sizeof(*b), bs, &total)) return NULL;
        b = rg_aligned_alloc(ARENA_ALIGN, total);
        if (!b) return NULL;
        b->size = bs;
        b->off = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->off;
    b->off += need;
    a->used += need;
    return p;
}

void *rg_arena_calloc(struct rg_arena *a, size_t count, size_t size)
{
    size_t n;
    if (!rg_mul_size(count, size, &n)) return NULL;
    void *p = rg_arena_alloc(a, n);
    if (p) memset(p, 0, n);
    return p;
}

char *rg_arena_strdup(struct rg_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = rg_arena_alloc(a, n);
    if (p) memcpy(p, s, n);
    return p;
}

void rg_arena_reset(struct rg_arena *a)
{
    struct rg_arena_block *b = a->head;
    if (!b) return;
    /* keep the oldest block: it is the one sized for the common case */
    while (b->next) {
        struct rg_arena_block *n = b->next;
        rg_free(b);
        b = n;
    }
    b->off = 0;
    a->head = b;
    a->used = 0;
}

void rg_arena_free(struct rg_arena *a)
{
    struct rg_arena_block *b = a->head;
    while (b) {
        struct rg_arena_block *n = b->next;
        rg_free(b);
        b = n;
    }
    rg_arena_init(a, a->block_size, a->max);
}
