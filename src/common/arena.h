/*
 * Arena: a bump allocator for memory whose lifetime is one request or one
 * forward pass. Everything is freed at once by rg_arena_free/reset.
 * Not thread-safe: one owner at a time.
 */
#ifndef RG_COMMON_ARENA_H
#define RG_COMMON_ARENA_H

#include <stddef.h>

struct rg_arena_block;
struct rg_arena {
    struct rg_arena_block *head; /* newest block first */
    size_t block_size;           /* default size of a new block */
    size_t used;                 /* bytes handed out since the last reset */
    size_t max;                  /* rg_arena_alloc fails past this many bytes */
};

/* block_size 0 means 64 KiB; max 0 means no limit. Allocates nothing. */
void rg_arena_init(struct rg_arena *a, size_t block_size, size_t max);
/* size bytes aligned to 64 (cache line / AVX-512), or NULL (ENOMEM or max). */
void *rg_arena_alloc(struct rg_arena *a, size_t size);
void *rg_arena_calloc(struct rg_arena *a, size_t count, size_t size);
char *rg_arena_strdup(struct rg_arena *a, const char *s);
/* Frees all but the first block and rewinds it. */
void rg_arena_reset(struct rg_arena *a);
void rg_arena_free(struct rg_arena *a);

#endif
