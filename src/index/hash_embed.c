/*
 * A deterministic embedder for tests (library.h): each word (a run of ASCII
 * letters and digits, lower-cased; other bytes >= 0x80 are word bytes too)
 * adds +-1 at a bucket chosen by its FNV-1a hash, and the sum is
 * L2-normalised. Texts that share words are near, texts that share none are
 * orthogonal (up to hash collisions), which is what topic-shift and
 * classification tests need without a model.
 */
#include <ctype.h>
#include <math.h>
#include <string.h>

#include "index/chunk.h"
#include "index/library.h"

static int h_hold(void *user, void **session, int *dim, size_t *max_tokens, char *err)
{
    (void)err;
    *session = user;
    *dim = RG_HASH_EMBED_DIM;
    *max_tokens = 512;
    return RG_OK;
}

static size_t h_count(const char *text, size_t len, void *session)
{
    (void)session;
    return rg_chunk_count_words(text, len, NULL);
}

static bool word_byte(unsigned char c)
{
    return isalnum(c) || c >= 0x80;
}

void rg_hash_embed_text(const char *text, size_t len, float *out)
{
    memset(out, 0, RG_HASH_EMBED_DIM * sizeof *out);
    size_t i = 0;
    while (i < len) {
        while (i < len && !word_byte((unsigned char)text[i]))
            i++;
        if (i >= len) break;
        uint64_t h = 1469598103934665603ULL;
        while (i < len && word_byte((unsigned char)text[i])) {
            h = (h ^ (unsigned char)tolower((unsigned char)text[i])) * 1099511628211ULL;
            i++;
        }
        out[h % RG_HASH_EMBED_DIM] += (h >> 63) ? -1.0f : 1.0f;
    }
    double ss = 0;
    for (int k = 0; k < RG_HASH_EMBED_DIM; k++)
        ss += (double)out[k] * out[k];
    if (ss > 0) {
        float inv = (float)(1.0 / sqrt(ss));
        for (int k = 0; k < RG_HASH_EMBED_DIM; k++)
            out[k] *= inv;
    } else {
        out[0] = 1.0f; /* a text without words: one fixed direction */
    }
}

static int h_embed(void *session, const char *const *texts, const size_t *lens, size_t n,
                   float *out, char *err)
{
    (void)session;
    (void)err;
    for (size_t i = 0; i < n; i++)
        rg_hash_embed_text(texts[i], lens[i], out + i * RG_HASH_EMBED_DIM);
    return RG_OK;
}

static void h_release(void *session)
{
    (void)session;
}

void rg_hash_embedder(struct rg_library_embedder *out)
{
    *out = (struct rg_library_embedder){.model = RG_HASH_EMBED_MODEL,
                                        .hold = h_hold,
                                        .count = h_count,
                                        .embed = h_embed,
                                        .release = h_release,
                                        .user = NULL};
}
